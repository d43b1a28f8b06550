//go:build integration

package integration

// Maintenance mode (PATCH /config {"pause": true}), DESIGN.md rule 5: while
// paused the agents take no action on PostgreSQL; the one exception is a
// paused primary that cannot renew its lease, which is still fenced
// (rule 1 outranks rule 5).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// patchConfigRetrying sends PATCH /config with body to n, retrying while the
// agent's API is not up yet, and fails on a non-200 answer.
func patchConfigRetrying(t testing.TB, n *node, body string) {
	t.Helper()
	waitFor(t, 30*time.Second, "PATCH /config "+body+" on "+n.name, func() error {
		req, err := http.NewRequest(http.MethodPatch, n.apiURL()+"/config", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := n.hostHTTP().Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("PATCH /config %s on %s: HTTP %d: %s", body, n.name, resp.StatusCode, out)
		}
		return nil
	})
}

// pauseCluster sets pause and waits until every agent's loop says it is
// paused.
func pauseCluster(t testing.TB, c *cluster) {
	t.Helper()
	patchConfigRetrying(t, c.nodes[0], `{"pause": true}`)
	for _, n := range c.nodes {
		n := n
		waitFor(t, 15*time.Second, n.name+" paused", func() error {
			if !n.logs.contains("paused: ") {
				return errors.New("no 'paused' plan in its log yet")
			}
			return nil
		})
	}
}

// noNewWritableNode fails if any node of among accepted a probe write that
// began after t0.
func (b *bed) noNewWritableNode(among []*node, t0 time.Time) error {
	for _, n := range among {
		if at, ok := b.p.firstSuccessAfter(n.name, t0); ok {
			return fmt.Errorf("%s became writable %v after %v", n.name, at.Sub(t0).Round(time.Millisecond), "the fault")
		}
	}
	return nil
}

// Paused: the primary's postmaster is killed; nobody restarts it and
// nobody fails over, for several leases. Resuming brings back one writable
// primary with every replica streaming.
func TestMaintenance_PausedKilledPostmasterStaysDown_ResumeRestoresService(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	old := b.leader
	pauseCluster(t, b.c)
	t0 := time.Now()
	pid := killPostmaster(t, old)
	t.Logf("paused; killed %s's postmaster (pid %d)", old.name, pid)
	// A backend of the killed postmaster (the probe's own connection) can
	// finish a write in the moment before it notices the death (seen once:
	// 24 ms after the kill). For old, hands off counts from the moment it
	// refuses a new connection; a restart shows as a new postmaster pid.
	waitFor(t, 10*time.Second, old.name+" refusing connections after the kill", func() error {
		if _, err := old.queryString("SELECT 1"); err == nil {
			return errors.New("still answers")
		}
		return nil
	})
	gone := time.Now()
	holdsFor(t, 3*ttl, "hands off while paused", func() error {
		// The killed pid may linger as a zombie until it is reaped.
		if p := old.postmasterPID(); p != 0 && p != pid {
			return fmt.Errorf("%s's PostgreSQL was started again (pid %d) while paused", old.name, p)
		}
		if err := b.noNewWritableNode(b.others(old), t0); err != nil {
			return err
		}
		if err := b.noNewWritableNode([]*node{old}, gone); err != nil {
			return err
		}
		for _, n := range b.others(old) {
			if rec, err := n.queryString("SELECT pg_is_in_recovery()::text"); err != nil || rec != "true" {
				return fmt.Errorf("%s: pg_is_in_recovery() = %q, %v while paused; want a replica untouched", n.name, rec, err)
			}
		}
		return nil
	})
	t.Logf("after %v paused: %s still down, no node promoted", time.Since(t0).Round(time.Millisecond), old.name)

	// Resumed with the CLI, as an operator would, from a node whose agent runs.
	t1 := time.Now()
	if out, err := b.others(old)[0].conclave("resume", "--wait"); err != nil ||
		!strings.Contains(out, "'resume' request sent, waiting until it is recognized by all nodes\nSuccess: cluster management is resumed") {
		t.Fatalf("conclave resume --wait: %v\n%s", err, out)
	}
	if out, err := old.conclave("resume"); err == nil || strings.TrimSpace(out) != "conclave: Cluster is not paused" {
		t.Errorf("resume of a resumed cluster: %v, output %q", err, out)
	}
	leader := waitConverged(b.c, 60*time.Second)
	rto := b.w.waitWritesOn(t, leader, t1, 30*time.Second)
	t.Logf("resumed: %s leads, first acknowledged write %v after resume", leader.name, rto.Round(time.Millisecond))
	b.finish(asyncMode)
}

// Paused, then both replicas' agents die (their PostgreSQL keeps running):
// the paused primary cannot renew and is fenced within its trust deadline
// anyway, by the lease guard; nothing becomes writable while quorum is
// lost. Once the agents are back and the cluster resumed, one primary.
func TestMaintenance_PausedPrimaryWithoutQuorum_IsFenced(t *testing.T) {
	b := setUp(t, clusterOptions{serial: true}, nil) // fencing deadline
	primary := b.leader
	reps := b.others(primary)
	pauseCluster(t, b.c)
	t0 := time.Now()
	for _, n := range reps {
		killAgent(t, n)
	}
	t.Logf("paused; killed the agents of %s and %s", reps[0].name, reps[1].name)
	// Last renewal sent at most loop_wait (1 s) before t0; trust ends
	// 2.25 s after it; one probe attempt and a margin on top.
	deadline := t0.Add(ttl - 750*time.Millisecond + scaled(1200*time.Millisecond))
	waitFor(t, 15*time.Second, primary.name+" fenced", func() error {
		if last, ok := b.p.lastSuccess(primary.name); ok && time.Since(last) < 600*time.Millisecond {
			return fmt.Errorf("still writable %v ago", time.Since(last).Round(time.Millisecond))
		}
		return nil
	})
	last, _ := b.p.lastSuccess(primary.name)
	t.Logf("%s's last successful write ended %v after quorum loss", primary.name, last.Sub(t0).Round(time.Millisecond))
	if last.After(deadline) {
		t.Errorf("paused %s accepted writes until %v after losing quorum; want none after %v", primary.name, last.Sub(t0), deadline.Sub(t0))
	}
	if !primary.logs.contains("fencing PostgreSQL") {
		t.Errorf("%s's log does not say it fenced", primary.name)
	}
	holdsFor(t, 2*ttl, "nothing writable without quorum", func() error {
		return b.noNewWritableNode(b.c.nodes, deadline)
	})
	for _, n := range reps {
		assertReplica(t, n)
	}
	for _, n := range reps {
		n.start()
	}
	patchConfigRetrying(t, reps[0], `{"pause": false}`)
	leader := waitConverged(b.c, 90*time.Second)
	t.Logf("agents back and resumed: %s leads", leader.name)
	b.finish(asyncMode)
}
