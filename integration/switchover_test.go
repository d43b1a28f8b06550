//go:build integration

package integration

// Planned switchover, scheduled switchover, flush, manual failover without
// a leader, and the refusals, through the CLI a user types (issue 9).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postText sends a JSON body to n's REST API and returns code and text.
func postText(t testing.TB, n *node, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.apiURL()+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := *n.http()
	client.Timeout = 20 * time.Second
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, n.name, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// leaderAndPending reads n's /cluster: the leader's name and whether a
// switchover is scheduled.
func leaderAndPending(n *node) (string, bool, error) {
	var cl struct {
		Members []struct {
			Name, Role string
		} `json:"members"`
		Scheduled any `json:"scheduled_switchover"`
	}
	if _, err := getJSONWith(n.http(), n.apiURL()+"/cluster", &cl); err != nil {
		return "", false, err
	}
	leader := ""
	for _, m := range cl.Members {
		if m.Role == "leader" {
			leader = m.Name
		}
	}
	return leader, cl.Scheduled != nil, nil
}

// writeGap is how long the writer saw no acknowledged write across a
// switchover from old to newLeader after t0: from the last acknowledged
// write on old to the first on newLeader.
func writeGap(w *writer, old, newLeader *node, t0 time.Time) time.Duration {
	oldAddr, newAddr := fmt.Sprintf("%s:%d", old.host, old.pgPort), fmt.Sprintf("%s:%d", newLeader.host, newLeader.pgPort)
	var lastOld, firstNew time.Time
	for _, op := range w.snapshot() {
		if op.result != opOK || op.start.Before(t0.Add(-time.Second)) {
			continue
		}
		if op.server == oldAddr && op.end.After(lastOld) {
			lastOld = op.end
		}
		if op.server == newAddr && op.start.After(t0) && (firstNew.IsZero() || op.end.Before(firstNew)) {
			firstNew = op.end
		}
	}
	return firstNew.Sub(lastOld)
}

// assertStreamsWithoutRewind checks that n is a replica streaming from the
// primary and was neither rewound nor cloned again.
func assertStreamsWithoutRewind(t testing.TB, n *node) {
	t.Helper()
	waitFor(t, 20*time.Second, n.name+" streams", func() error {
		v, err := n.queryString("SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')")
		if err != nil || v != "streaming" {
			return fmt.Errorf("%s: wal receiver %q, %v", n.name, v, err)
		}
		return nil
	})
	assertReplica(t, n)
	if rewound(n) || movedAside(n) {
		t.Errorf("%s was rewound or cloned again after a planned switchover", n.name)
	}
}

func TestSwitchover_NamedCandidateUnderWrites_Scheduled_Flushed_Refused(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	old := b.leader
	cand := b.others(old)[0]
	scope := b.c.scope

	// Refusals: one clear line, a non-zero exit, nothing written.
	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"switchover", "--leader", cand.name, "--candidate", old.name, "--force"}, "Member " + cand.name + " is not the leader of cluster " + scope},
		{[]string{"switchover", scope, "--leader", old.name, "--candidate", "nosuch", "--force"}, "Member nosuch does not exist in cluster " + scope},
		{[]string{"failover", "--force"}, "Failover could be performed only to a specific candidate"},
		{[]string{"switchover", "--leader", old.name, "--candidate", old.name, "--force"}, "Switchover target and source are the same."},
	}
	for _, r := range refusals {
		out, err := old.conclave(r.args...)
		if err == nil || !strings.Contains(out, r.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("conclave %v: %v, output %q; want a failure saying %q in one line", r.args, err, out, r.want)
		}
	}
	// patronictl: nothing scheduled is said, not an error.
	if out, err := old.conclave("flush", scope, "switchover"); err != nil || strings.TrimSpace(out) != "No pending scheduled switchover" {
		t.Errorf("flush with nothing scheduled: %v, output %q; want patronictl's line and exit 0", err, out)
	}
	if code, text := postText(t, cand, http.MethodPost, "/switchover", `{"leader":"`+old.name+`","candidate":"nosuch"}`); code != 412 || text != "candidate does not exists" {
		t.Errorf("POST /switchover to an unknown candidate: %d %q", code, text)
	}
	if leader, pending, err := leaderAndPending(cand); err != nil || leader != old.name || pending {
		t.Fatalf("after the refusals: leader %q, scheduled %v, %v; want %s and nothing scheduled", leader, pending, err, old.name)
	}

	// Planned switchover under the writer, once list shows the candidate
	// within maximum_lag_on_failover, as an operator checks first: a
	// replica's report can predate its catching up with the leader's last
	// one (a WAL segment switch during setup showed as a lag of 16 MB and the
	// API refused with 412).
	waitReportedWithin1MB(t, cand)
	t0 := time.Now()
	out, err := old.conclave("switchover", scope, "--leader", old.name, "--candidate", cand.name, "--force")
	if err != nil || !strings.Contains(out, `Successfully switched over to "`+cand.name+`"`) {
		t.Fatalf("switchover: %v\n%s", err, out)
	}
	took := time.Since(t0)
	// The table printed after the answer shows the new leader as it is:
	// running as the leader (not its last report as a streaming replica).
	after := out[strings.Index(out, "Successfully switched over"):]
	for _, line := range strings.Split(after, "\n") {
		if strings.HasPrefix(line, "| "+cand.name+" ") && !strings.Contains(line, "| Leader  | running ") {
			t.Errorf("the table after the switchover shows the new leader as %q, want Leader running", line)
		}
	}
	b.w.waitWritesOn(t, cand, t0, 15*time.Second)
	t.Logf("switchover %s -> %s: CLI returned after %v; writes unavailable for %v", old.name, cand.name,
		took.Round(time.Millisecond), writeGap(b.w, old, cand, t0).Round(time.Millisecond))
	if leader := waitConverged(b.c, 30*time.Second); leader != cand {
		t.Fatalf("leader after the switchover: %s, want %s", leader.name, cand.name)
	}
	assertStreamsWithoutRewind(t, old)

	// A scheduled switchover that is flushed does not fire. Far enough ahead
	// that the two CLI runs before it finish first on a loaded machine.
	at := time.Now().Add(scaled(3 * time.Second)).UTC()
	out, err = cand.conclave("switchover", "--leader", cand.name, "--candidate", old.name, "--scheduled", at.Format(time.RFC3339Nano), "--force")
	if err != nil || !strings.Contains(out, "Switchover scheduled") {
		t.Fatalf("scheduled switchover: %v\n%s", err, out)
	}
	waitFor(t, 5*time.Second, "scheduled_switchover in "+old.name+"'s /cluster", func() error {
		if _, pending, err := leaderAndPending(old); err != nil || !pending {
			return fmt.Errorf("not shown (%v)", err)
		}
		return nil
	})
	if out, err := cand.conclave("flush", scope, "switchover"); err != nil || !strings.Contains(out, "Success: scheduled switchover deleted") {
		t.Fatalf("flush: %v\n%s", err, out)
	}
	holdsFor(t, time.Until(at.Add(time.Second)), "the flushed switchover does not fire", func() error {
		if leader, pending, err := leaderAndPending(cand); err == nil && (leader != cand.name || pending) {
			return fmt.Errorf("leader %s, scheduled %v", leader, pending)
		}
		return nil
	})

	// A scheduled switchover fires at its time, not before.
	at = time.Now().Add(scaled(3 * time.Second)).UTC()
	if out, err := cand.conclave("switchover", "--leader", cand.name, "--candidate", old.name, "--scheduled", at.Format(time.RFC3339Nano), "--force"); err != nil {
		t.Fatalf("scheduled switchover: %v\n%s", err, out)
	}
	holdsFor(t, time.Until(at)-100*time.Millisecond, "nothing happens before the scheduled time", func() error {
		if leader, _, err := leaderAndPending(cand); err == nil && leader != cand.name {
			return fmt.Errorf("leader already %s", leader)
		}
		return nil
	})
	waitFor(t, 10*time.Second, "the scheduled switchover to "+old.name, func() error {
		if leader, _, err := leaderAndPending(cand); err != nil || leader != old.name {
			return fmt.Errorf("leader %q, %v", leader, err)
		}
		return nil
	})
	t.Logf("scheduled switchover fired %v after its time", time.Since(at).Round(time.Millisecond))
	if leader := waitConverged(b.c, 30*time.Second); leader != old {
		t.Fatalf("leader after the scheduled switchover: %s, want %s", leader.name, old.name)
	}
	assertStreamsWithoutRewind(t, cand)

	// The candidate's WAL receiver is cut off when the request becomes due,
	// while its record may still say streaming (as right after a restart of
	// the primary): the old primary waits until the candidate streams again
	// rather than stopping with nobody to receive its shutdown checkpoint,
	// which failed the switchover and, a ttl later, put the old primary back
	// on a new timeline. The request is scheduled while the candidate
	// streams (the API refuses one whose record says otherwise, a race an
	// immediate request loses on a loaded machine); the replication role may
	// not log in until the old primary is seen waiting.
	// The WAL receiver retries every wal_retrieve_retry_interval: at 1 s it
	// reconnects well within the holder's wait once the role may log in.
	patchConfig(t, old, `{"postgresql":{"parameters":{"wal_retrieve_retry_interval":"1s"}}}`)
	waitFor(t, 10*time.Second, "wal_retrieve_retry_interval 1s on "+cand.name, func() error {
		if v, err := cand.queryString("SHOW wal_retrieve_retry_interval"); err != nil || v != "1s" {
			return fmt.Errorf("%q, %v", v, err)
		}
		return nil
	})
	waitReportedWithin1MB(t, cand)
	tl, err := old.queryString(currentTimelineSQL)
	if err != nil {
		t.Fatal(err)
	}
	// The open replication connection outlives NOLOGIN: the API still sees
	// the candidate streaming when the request is made.
	old.exec(t, "ALTER ROLE replicator NOLOGIN")
	at = time.Now().Add(scaled(4 * time.Second)).UTC()
	if out, err := old.conclave("switchover", "--leader", old.name, "--candidate", cand.name, "--scheduled", at.Format(time.RFC3339Nano), "--force"); err != nil ||
		!strings.Contains(out, "Switchover scheduled") {
		t.Fatalf("scheduled switchover to %s: %v\n%s", cand.name, err, out)
	}
	walsender := fmt.Sprintf("FROM pg_stat_replication WHERE application_name = '%s'", cand.name)
	if n, err := old.queryString("SELECT count(pg_terminate_backend(pid))::text " + walsender); err != nil || n != "1" {
		t.Fatalf("terminating %s's walsender: %s terminated, %v", cand.name, n, err)
	}
	if late := time.Since(at); late >= 0 {
		t.Fatalf("cutting %s's WAL receiver off ended %v after the scheduled time: the request may have been carried out before", cand.name, late)
	}
	waitFor(t, 15*time.Second, old.name+" waits for "+cand.name+" to stream", func() error {
		if !old.logs.containsAll("switchover to "+cand.name+": not streaming from this primary", "waiting") {
			return errors.New("no waiting decision logged")
		}
		return nil
	})
	old.exec(t, "ALTER ROLE replicator LOGIN")
	waitFor(t, 20*time.Second, "the switchover to "+cand.name+" once it streams again", func() error {
		if leader, pending, err := leaderAndPending(old); err != nil || leader != cand.name || pending {
			return fmt.Errorf("leader %q, pending %v, %v", leader, pending, err)
		}
		return nil
	})
	want, _ := strconv.Atoi(tl)
	waitFor(t, 10*time.Second, cand.name+" on the next timeline", func() error {
		got, err := cand.queryString(currentTimelineSQL)
		if err != nil || got != strconv.Itoa(want+1) {
			return fmt.Errorf("timeline %s (%v), want %d", got, err, want+1)
		}
		return nil
	})
	if leader := waitConverged(b.c, 30*time.Second); leader != cand {
		t.Fatalf("leader after the switchover to a reconnecting candidate: %s, want %s", leader.name, cand.name)
	}
	assertStreamsWithoutRewind(t, old)
	b.finish(asyncMode)
}

// waitReportedWithin1MB waits until cand's report is within 1 MB of the
// leader's, as an operator checks `list` before a switchover.
func waitReportedWithin1MB(t *testing.T, cand *node) {
	t.Helper()
	waitFor(t, 10*time.Second, cand.name+" reported within 1 MB of the leader", func() error {
		if lag, ok := members(t, cand)[cand.name].Lag.(float64); !ok || lag > 1<<20 {
			return fmt.Errorf("lag %v", members(t, cand)[cand.name].Lag)
		}
		return nil
	})
}

// currentTimelineSQL is a primary's current timeline, from its WAL file
// name (pg_control_checkpoint() lags a promotion until its checkpoint).
const currentTimelineSQL = "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int::text"

// Manual failover without a leader: paused, the primary's PostgreSQL is
// stopped by hand (nobody fails over while paused), then `failover
// --candidate` promotes the named replica once the old lease ran out.
func TestFailover_PausedPrimaryStopped_NamedCandidateTakesOver(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	old := b.leader
	cand := b.others(old)[1]
	if out, err := old.conclave("pause", "--wait"); err != nil || !strings.Contains(out, "Success: cluster management is paused") {
		t.Fatalf("pause: %v\n%s", err, out)
	}
	if out, err := old.conclave("switchover", "--leader", old.name, "--candidate", cand.name, "--force"); err == nil ||
		!strings.Contains(out, "Switchover is not possible in the paused state") {
		t.Errorf("switchover while paused: %v\n%s", err, out)
	}
	stop := asPostgres(pgBin+"/pg_ctl", "stop", "-D", old.dataDir(), "-m", "fast", "-w")
	if out, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	t0 := time.Now()
	// A candidate must stream while the leader reports a running primary:
	// wait, as an operator would in `list`, until the stop is reported.
	waitFor(t, 15*time.Second, old.name+" reported stopped", func() error {
		if _, state, _, err := cand.member(old.name); err != nil || state == "running" {
			return fmt.Errorf("%s: %q %v", old.name, state, err)
		}
		return nil
	})
	out, err := cand.conclave("failover", "--candidate", cand.name, "--force")
	if err != nil || !strings.Contains(out, `Successfully failed over to "`+cand.name+`"`) {
		t.Fatalf("failover: %v\n%s", err, out)
	}
	t.Logf("failover to %s answered after %v", cand.name, time.Since(t0).Round(time.Millisecond))
	b.w.waitWritesOn(t, cand, t0, 15*time.Second)
	if v, err := cand.queryString("SELECT pg_is_in_recovery()::text"); err != nil || v != "false" {
		t.Fatalf("%s after the failover: pg_is_in_recovery() = %q, %v", cand.name, v, err)
	}
	if out, err := cand.conclave("resume", "--wait"); err != nil || !strings.Contains(out, "Success: cluster management is resumed") {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if leader := waitConverged(b.c, 60*time.Second); leader != cand {
		t.Fatalf("leader after resume: %s, want %s", leader.name, cand.name)
	}
	b.finish(asyncMode)
}
