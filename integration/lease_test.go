//go:build integration

package integration

// Lease regression tests of issue 6 (items 1 and 2), FAULTS.md F22/F23: the
// holder trusts exactly the ttl of its last committed renewal when the ttl
// changes; the lease is renewed while PostgreSQL runs a long crash
// recovery; a Raft leader election does not fence a healthy primary.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// patchConfig sends PATCH /config with body to n's REST API.
func patchConfig(t testing.TB, n *node, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, n.apiURL()+"/config", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.hostHTTP().Do(req)
	if err != nil {
		t.Fatalf("PATCH /config on %s: %v", n.name, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH /config on %s: %d %s", n.name, resp.StatusCode, out)
	}
	t.Logf("PATCH /config %s on %s: %d", body, n.name, resp.StatusCode)
}

// cutFromPeers cuts node i off from the other nodes, in both directions,
// with blackhole routes in each side's namespace (no nftables needed): no
// packet between them gets through, while the client namespace still
// reaches node i (FAULTS.md F22: the application still writes to the old
// primary).
func (tb *testbed) cutFromPeers(i int) {
	tb.t.Helper()
	tb.peerRoutes(i, "add")
	tb.t.Logf("cut %s from its peers (the client still reaches it)", tb.nodes[i-1])
}

func (tb *testbed) healPeers(i int) {
	tb.t.Helper()
	tb.peerRoutes(i, "del")
	tb.t.Logf("healed %s's peer traffic", tb.nodes[i-1])
}

func (tb *testbed) peerRoutes(i int, op string) {
	tb.t.Helper()
	for j := range tb.nodes {
		if j+1 == i {
			continue
		}
		tb.ip("-n", tb.nodes[i-1], "route", op, "blackhole", tb.addr(j+1)+"/32")
		tb.ip("-n", tb.nodes[j], "route", op, "blackhole", tb.addr(i)+"/32")
	}
}

// ttlChangeThenCut runs F22: start with timings from, PATCH to timings to,
// let the change settle, cut the primary from its peers, and check that
// never two nodes are writable and the majority takes over within bound.
func ttlChangeThenCut(t *testing.T, from, to string, settle, bound time.Duration) {
	tb := newTestbed(t, 3)
	b := setUp(t, clusterOptions{dcs: from}, tb)
	old := b.leader
	patchConfig(t, old, to)
	// The scenario's wait (the change has to reach a renewal); checked as
	// "nothing changes meanwhile", not slept.
	holdsFor(t, settle, old.name+" stays the only writable node after the timing change", func() error {
		for _, n := range b.others(old) {
			if at, ok := b.p.firstSuccessAfter(n.name, b.p.t0); ok {
				return fmt.Errorf("%s became writable at %v", n.name, at.Sub(b.p.t0))
			}
		}
		return nil
	})
	idx := b.c.nodeIndex(old)
	t0 := time.Now()
	tb.cutFromPeers(idx)
	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, bound+30*time.Second)
	took := time.Since(t0)
	t.Logf("%s took over %v after the cut", newLeader.name, took.Round(time.Millisecond))
	b.assertHandedOver(old, newLeader, t0, "the cut")
	if took > bound {
		t.Errorf("the majority took over %v after the cut; want within %v (the new ttl plus a few seconds)", took.Round(time.Millisecond), bound)
	}
	tb.healPeers(idx)
	leader := waitConverged(b.c, 120*time.Second)
	if leader == old {
		t.Errorf("the cut-off node %s leads again after heal", old.name)
	}
	b.finish(asyncMode)
}

// F22 exactly: the tutorial's slow timings lowered to 3/1/1 at run time,
// then the primary is cut off. Before the fix the old primary kept trusting
// its 30 s lease while the others counted 3 s: ~11 s of two writable nodes.
func TestLease_TTLLoweredThenPrimaryCut_NeverTwoWritable(t *testing.T) {
	ttlChangeThenCut(t, "    ttl: 30\n    loop_wait: 10\n    retry_timeout: 10",
		`{"ttl":3,"loop_wait":1,"retry_timeout":1}`, 12*time.Second, 3*time.Second+scaled(7*time.Second))
}

// The reverse: ttl raised from 3 to 30; the others now count 30 s, the
// holder trusts 30 s too, and the majority takes over only after that.
func TestLease_TTLRaisedThenPrimaryCut_NeverTwoWritable(t *testing.T) {
	ttlChangeThenCut(t, "", `{"ttl":30,"loop_wait":10,"retry_timeout":10}`, 5*time.Second, 30*time.Second+scaled(10*time.Second))
}

// writeWAL inserts rows until at least mb megabytes of WAL were written.
func writeWAL(t testing.TB, n *node, mb int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := n.sql(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE bulk (id bigint, pad text)"); err != nil {
		t.Fatal(err)
	}
	var start string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&start); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := conn.Exec(ctx, "INSERT INTO bulk SELECT g, repeat('x', 200) FROM generate_series(1, 200000) g"); err != nil {
			t.Fatal(err)
		}
		var written int64
		if err := conn.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint", start).Scan(&written); err != nil {
			t.Fatal(err)
		}
		if written >= int64(mb)<<20 {
			t.Logf("%s: wrote %d MB of WAL", n.name, written>>20)
			return
		}
	}
}

// F23: the primary's postmaster is killed with far more WAL to replay than
// the lease lasts. The agent restarts it in place, renewing the lease
// throughout the crash recovery: same node, same timeline, no promotion
// elsewhere, no fence. The ttl is 10 s, not the suite's 3 s: the replay's
// I/O can hold Raft's commits up for a second on a loaded machine, and a
// renewal missing a 3 s lease then fences, rightly, which is not what this
// test is about.
func TestLease_CrashRecoveryLongerThanTTL_RestartedInPlace(t *testing.T) {
	const recoveryTTL = 10 * time.Second
	b := setUp(t, clusterOptions{dcs: "        max_wal_size: 8GB\n        checkpoint_timeout: 1h\n        min_wal_size: 1GB\n" +
		"    ttl: 10\n    loop_wait: 2\n    retry_timeout: 3"}, nil)
	old := b.leader
	_, _, tlBefore, err := old.member(old.name)
	if err != nil {
		t.Fatal(err)
	}
	histBefore, _ := old.historyLen()
	writeWAL(t, old, 1000)
	t0 := time.Now()
	pid := killPostmaster(t, old)
	t.Logf("killed %s's postmaster (pid %d)", old.name, pid)
	rto := writesResumeAfterNewPostmaster(t, b.w, old, pid, t0, 2*time.Minute)
	t.Logf("writes resumed on %s %v after the crash", old.name, rto.Round(time.Millisecond))
	if rto < recoveryTTL {
		t.Errorf("writes resumed %v after the crash, within the ttl (%v): the test did not exercise a crash recovery longer than the lease (write more WAL before the kill)", rto, recoveryTTL)
	}
	leader := b.finish(noLoss)
	if leader != old {
		t.Errorf("leader changed from %s to %s; want PostgreSQL restarted in place", old.name, leader.name)
	}
	_, _, tlAfter, _ := leader.member(leader.name)
	if tlAfter != tlBefore {
		t.Errorf("timeline %d -> %d; want unchanged", tlBefore, tlAfter)
	}
	if h, _ := leader.historyLen(); h != histBefore {
		t.Errorf("/history grew from %d to %d entries; want no promotion", histBefore, h)
	}
	for _, msg := range []string{"lease not renewed in time", "fencing PostgreSQL", "lease no longer trusted"} {
		if old.logs.contains(msg) {
			t.Errorf("%s's log says %q: the restart in place was fenced", old.name, msg)
		}
	}
}

// raftLeader returns the node whose /patroni says it is the Raft leader.
func (c *cluster) raftLeader() (*node, error) {
	for _, n := range c.nodes {
		var p struct {
			Raft struct {
				State string `json:"state"`
			} `json:"raft"`
		}
		if _, err := getJSONWith(n.http(), n.apiURL()+"/patroni", &p); err != nil {
			continue
		}
		if strings.EqualFold(p.Raft.State, "leader") {
			return n, nil
		}
	}
	return nil, errors.New("no node reports itself Raft leader")
}

// The Raft leader's agent is killed while it is not the primary's node: a
// Raft election follows, within the primary's trust. The primary stays
// primary: no fence, same timeline, writes continue.
func TestLease_RaftLeaderKilledOnAReplica_PrimaryStays(t *testing.T) {
	b := setUp(t, clusterOptions{serial: true}, nil) // a write every second
	var rl *node
	waitFor(t, 10*time.Second, "a Raft leader", func() (err error) {
		rl, err = b.c.raftLeader()
		return err
	})
	// Move Raft leadership off the primary's node: its agent crashes and
	// comes straight back, adopting the running PostgreSQL. Leadership may
	// land on the primary's node again (its restarted agent can win the
	// election), so try a few times rather than skip.
	for attempt := 1; rl == b.leader; attempt++ {
		if attempt > 3 {
			t.Fatalf("the Raft leader stayed on the primary's node %s after %d agent restarts", rl.name, attempt-1)
		}
		// Restarted at once, the killed node's fresh election timer often
		// wins again; so it comes back once the others elected a leader.
		killed := rl
		killAgent(t, killed)
		waitFor(t, 10*time.Second, "a Raft leader on another node", func() error {
			l, err := b.c.raftLeader()
			if err == nil && l == killed {
				err = errors.New("still " + killed.name)
			}
			return err
		})
		killed.start()
		b.leader = waitConverged(b.c, 60*time.Second)
		waitFor(t, 30*time.Second, "a Raft leader after the restart", func() (err error) {
			rl, err = b.c.raftLeader()
			return err
		})
	}
	primary := b.leader
	_, _, tlBefore, err := primary.member(primary.name)
	if err != nil {
		t.Fatal(err)
	}
	histBefore, _ := primary.historyLen()
	logsBefore := primary.logs.count("fencing PostgreSQL")
	t.Logf("Raft leader %s, primary %s", rl.name, primary.name)
	t0 := time.Now()
	pid := rl.agentPID()
	syscall.Kill(pid, syscall.SIGKILL)
	rl.wait(10 * time.Second)
	t.Logf("killed the Raft leader's agent on %s (pid %d)", rl.name, pid)
	holdsFor(t, 4*ttl, primary.name+" keeps accepting writes", func() error {
		last, ok := b.p.lastSuccess(primary.name)
		if !ok || time.Since(last) > time.Second {
			return fmt.Errorf("%s: no probe write for %v", primary.name, time.Since(last).Round(time.Millisecond))
		}
		return nil
	})
	if n := primary.logs.count("fencing PostgreSQL"); n != logsBefore {
		t.Errorf("%s fenced PostgreSQL during the Raft election", primary.name)
	}
	rl.start()
	leader := b.finish(noLoss)
	if leader != primary {
		t.Errorf("primary moved from %s to %s; want it unchanged", primary.name, leader.name)
	}
	_, _, tlAfter, _ := leader.member(leader.name)
	if tlAfter != tlBefore {
		t.Errorf("timeline %d -> %d; want unchanged", tlBefore, tlAfter)
	}
	if h, _ := leader.historyLen(); h != histBefore {
		t.Errorf("/history grew from %d to %d entries; want no promotion", histBefore, h)
	}
	t.Logf("primary %s kept its role %v through the Raft leader's crash", primary.name, time.Since(t0).Round(time.Millisecond))
}

// count returns how many lines contain sub.
func (b *lineBuffer) count(sub string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}
