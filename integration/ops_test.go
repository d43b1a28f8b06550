//go:build integration

package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// send makes one request to n's REST API and returns the status and body.
func send(t testing.TB, n *node, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.apiURL()+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	cl := n.http()
	if n.dial == nil {
		cl = &http.Client{Timeout: 20 * time.Second}
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, n.name, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// memberView is a member of GET /cluster with the fields these tests read.
type memberView struct {
	Name             string         `json:"name"`
	Role             string         `json:"role"`
	State            string         `json:"state"`
	Timeline         int            `json:"timeline"`
	PendingRestart   bool           `json:"pending_restart"`
	ScheduledRestart map[string]any `json:"scheduled_restart"`
	Lag              any            `json:"lag"` // bytes, or "unknown"
}

func members(t testing.TB, n *node) map[string]memberView {
	t.Helper()
	var v struct {
		Members []memberView `json:"members"`
	}
	// Tried three times: one slow answer on a loaded machine is no failure
	// (callers poll it inside waitFor), three in a row are.
	var code int
	var err error
	for try := 0; try < 3; try++ {
		if code, err = getJSONWith(n.http(), n.apiURL()+"/cluster", &v); err == nil && code == 200 {
			break
		}
		time.Sleep(200 * time.Millisecond) // between tries, not a wait for a condition
	}
	if err != nil || code != 200 {
		t.Fatalf("GET /cluster on %s: %d %v", n.name, code, err)
	}
	out := map[string]memberView{}
	for _, m := range v.Members {
		out[m.Name] = m
	}
	return out
}

// Issue 9: the dynamic configuration reaches PostgreSQL on every node, a
// restart-level parameter shows pending (member record, /patroni, metrics)
// and `restart --pending` clears it with the primary restarted in place
// (same leader, same timeline, never two writable nodes, no acknowledged
// write lost); a scheduled restart fires at its time and a flushed one does
// not; refusals change nothing.
func TestOps_DynamicParametersPendingRestartInPlaceAndScheduled(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	leader := b.leader
	tl := members(t, leader)[leader.name].Timeline
	_, cfgBefore := send(t, leader, http.MethodGet, "/config", "")

	// Refusals: 400 naming the key, nothing stored.
	for body, key := range map[string]string{
		`{"postgresql":{"parameters":{"max_connections":0}}}`:           "postgresql.parameters.max_connections",
		`{"postgresql":{"parameters":{"shared_buffers":"lots"}}}`:       "postgresql.parameters.shared_buffers",
		`{"postgresql":{"parameters":{"wal_level":"minimal"}}}`:         "postgresql.parameters.wal_level",
		`{"postgresql":{"parameters":{"max_connections":"2"}}}`:         "postgresql.parameters.superuser_reserved_connections",
		`{"postgresql":{"parameters":{"work_mem":"7 elephants"}}}`:      "postgresql.parameters.work_mem",
		`{"postgresql":{"parameters":{"max_wal_senders":-1}}}`:          "postgresql.parameters.max_wal_senders",
		`{"postgresql":{"parameters":{"max_locks_per_transaction":1}}}`: "postgresql.parameters.max_locks_per_transaction",
	} {
		code, out := send(t, leader, http.MethodPatch, "/config", body)
		if code != http.StatusBadRequest || !strings.Contains(out, key) {
			t.Errorf("PATCH %s: %d %s; want 400 naming %s", body, code, out, key)
		}
	}
	if _, now := send(t, leader, http.MethodGet, "/config", ""); now != cfgBefore {
		t.Fatalf("a refused PATCH changed the configuration:\n%s\n->\n%s", cfgBefore, now)
	}

	// A reload-level parameter reaches every node without a restart.
	pids := map[string]int{}
	for _, n := range b.c.nodes {
		pids[n.name] = n.postmasterPID()
	}
	start := time.Now()
	patchConfig(t, leader, `{"postgresql":{"parameters":{"work_mem":"7MB"}}}`)
	for _, n := range b.c.nodes {
		waitFor(t, 10*time.Second, "work_mem 7MB on "+n.name, func() error {
			if v, err := n.queryString("SHOW work_mem"); err != nil || v != "7MB" {
				return fmt.Errorf("work_mem %q, %v", v, err)
			}
			return nil
		})
		if p := n.postmasterPID(); p != pids[n.name] {
			t.Errorf("%s: postmaster %d -> %d: a reload-level parameter restarted PostgreSQL", n.name, pids[n.name], p)
		}
	}
	t.Logf("work_mem reached every node in %v", time.Since(start).Round(time.Millisecond))

	// A restart-level parameter: pending on every node, everywhere it is shown.
	patchConfig(t, leader, `{"postgresql":{"parameters":{"max_connections":45}}}`)
	for _, n := range b.c.nodes {
		waitFor(t, 15*time.Second, "pending restart shown for "+n.name, func() error {
			if !members(t, leader)[n.name].PendingRestart {
				return fmt.Errorf("/cluster: no pending_restart for %s", n.name)
			}
			var st struct {
				PendingRestart bool `json:"pending_restart"`
			}
			if code, err := getJSONWith(n.http(), n.apiURL()+"/patroni", &st); err != nil || code != 200 || !st.PendingRestart {
				return fmt.Errorf("/patroni on %s: pending_restart %v (%d %v)", n.name, st.PendingRestart, code, err)
			}
			_, metrics := send(t, n, http.MethodGet, "/metrics", "")
			if !strings.Contains(metrics, "patroni_pending_restart{") || !metricIs(metrics, "patroni_pending_restart", "1") {
				return fmt.Errorf("/metrics on %s: patroni_pending_restart not 1", n.name)
			}
			return nil
		})
	}
	if v, _ := leader.queryString("SHOW max_connections"); v != "40" {
		t.Fatalf("max_connections %s before the restart, want the old 40", v)
	}

	// restart --pending: every member, the primary in place.
	out, err := leader.conclave("restart", b.c.scope, "--pending", "--force")
	t.Logf("conclave restart --pending:\n%s", out)
	if err != nil {
		t.Fatalf("restart --pending: %v", err)
	}
	// list -e right after shows no pending restart (the answer waits for it).
	ms := members(t, leader)
	for _, n := range b.c.nodes {
		if ms[n.name].PendingRestart {
			t.Errorf("right after restart --pending, /cluster still shows %s pending", n.name)
		}
		if !strings.Contains(out, "Success: restart on member "+n.name) {
			t.Errorf("no success line for %s", n.name)
		}
		if p := n.postmasterPID(); p == pids[n.name] {
			t.Errorf("%s: postmaster not restarted (pid %d)", n.name, p)
		}
	}
	for _, n := range b.c.nodes {
		waitFor(t, 15*time.Second, "max_connections 45 and no pending restart on "+n.name, func() error {
			if v, err := n.queryString("SHOW max_connections"); err != nil || v != "45" {
				return fmt.Errorf("max_connections %q, %v", v, err)
			}
			if members(t, leader)[n.name].PendingRestart {
				return fmt.Errorf("still pending")
			}
			return nil
		})
	}
	m := members(t, leader)[leader.name]
	if m.Role != "leader" || m.Timeline != tl {
		t.Fatalf("after the restart %s is %s on timeline %d (was leader on %d): the primary must restart in place", leader.name, m.Role, m.Timeline, tl)
	}
	if out, err := leader.conclave("restart", leader.name, "--pending", "--force"); err == nil || !strings.Contains(out,
		"Failed: restart for member "+leader.name+", status code=503, (restart conditions are not satisfied: pending restart flag is not set)") {
		t.Errorf("restart --pending with nothing pending: %v\n%s", err, out)
	}

	// A scheduled restart fires at its time; a flushed one does not.
	r2, r3 := b.c.nodes[1], b.c.nodes[2]
	if r2 == leader {
		r2 = b.c.nodes[0]
	}
	if r3 == leader {
		r3 = b.c.nodes[0]
	}
	pid2, pid3 := r2.postmasterPID(), r3.postmasterPID()
	// Far enough ahead that the CLI calls below (scheduling, the --force
	// replacement, the flush) finish before the first time on a loaded machine.
	at := time.Now().Add(10 * time.Second).UTC().Truncate(time.Second)
	later := at.Add(3 * time.Second)
	for _, x := range []struct {
		n  *node
		at time.Time
	}{{r2, at}, {r3, later}} {
		out, err := leader.conclave("restart", x.n.name, "--scheduled", x.at.Format(time.RFC3339), "--force")
		if err != nil || !strings.Contains(out, "Success: restart scheduled on member "+x.n.name) {
			t.Fatalf("scheduling a restart on %s: %v\n%s", x.n.name, err, out)
		}
	}
	if out, _ := leader.conclave("restart", r2.name, "--scheduled", later.Format(time.RFC3339), "--force"); !strings.Contains(out, "Success: restart scheduled on member "+r2.name) {
		t.Errorf("--force replaces a scheduled restart as patronictl does:\n%s", out)
	}
	if code, out := send(t, r2, http.MethodPost, "/restart", `{"schedule":"`+later.Format(time.RFC3339)+`"}`); code != http.StatusConflict {
		t.Errorf("second schedule without flush: %d %s, want 409", code, out)
	}
	// Shown at once, as a user runs list -e or flush right after: a flush
	// that read a view without it said "No scheduled restart" and let it fire.
	if ms := members(t, leader); ms[r2.name].ScheduledRestart == nil || ms[r3.name].ScheduledRestart == nil {
		t.Errorf("right after scheduling, /cluster scheduled_restart: %v / %v", ms[r2.name].ScheduledRestart, ms[r3.name].ScheduledRestart)
	} else if got, want := ms[r3.name].ScheduledRestart["schedule"], later.Format("2006-01-02T15:04:05")+"+00:00"; got != want {
		t.Errorf("scheduled_restart.schedule %v, want Patroni's isoformat %s", got, want)
	}
	out, err = leader.conclave("flush", b.c.scope, "restart", r3.name, "--force")
	if err != nil || !strings.Contains(out, "Success: flush scheduled restart for member "+r3.name) {
		t.Fatalf("flush: %v\n%s", err, out)
	}
	if ms := members(t, leader); ms[r3.name].ScheduledRestart != nil {
		t.Errorf("right after the flush, /cluster still shows %s's restart: %v", r3.name, ms[r3.name].ScheduledRestart)
	}
	waitFor(t, 25*time.Second, "the scheduled restart of "+r2.name+" fires", func() error {
		if p := r2.postmasterPID(); p == pid2 || p == 0 {
			return fmt.Errorf("postmaster pid %d", p)
		}
		return nil
	})
	if fired := time.Now(); fired.Before(later) {
		t.Errorf("%s restarted at %v, before its time %v", r2.name, fired, later)
	}
	holdsFor(t, time.Until(later.Add(2*time.Second)), "the flushed restart of "+r3.name+" does not fire", func() error {
		if p := r3.postmasterPID(); p != pid3 {
			return fmt.Errorf("postmaster pid %d -> %d", pid3, p)
		}
		return nil
	})
	if ms := members(t, leader); ms[r2.name].ScheduledRestart != nil || ms[r3.name].ScheduledRestart != nil {
		t.Errorf("scheduled restarts still shown: %v / %v", ms[r2.name].ScheduledRestart, ms[r3.name].ScheduledRestart)
	}
	if out, _ := leader.conclave("flush", "restart", r3.name, "--force"); !strings.Contains(out, "No scheduled restart for member "+r3.name) {
		t.Errorf("flush with nothing scheduled:\n%s", out)
	}

	// A scheduled restart overtaken by an operator's restart is cancelled,
	// as Patroni's (its postmaster_start_time changed): no second restart
	// in a row.
	at = time.Now().Add(11 * time.Second).UTC().Truncate(time.Second)
	if out, err := leader.conclave("restart", r3.name, "--scheduled", at.Format(time.RFC3339), "--force"); err != nil ||
		!strings.Contains(out, "Success: restart scheduled on member "+r3.name) {
		t.Fatalf("scheduling a restart on %s: %v\n%s", r3.name, err, out)
	}
	if out, err := leader.conclave("restart", r3.name, "--force"); err != nil || !strings.Contains(out, "Success: restart on member "+r3.name) {
		t.Fatalf("restarting %s now: %v\n%s", r3.name, err, out)
	}
	pid3 = r3.postmasterPID()
	// r3's earlier scheduled restart was flushed: no "is due" line so far.
	waitFor(t, 10*time.Second, "the overtaken scheduled restart of "+r3.name+" cancelled", func() error {
		if !r3.logs.contains("scheduled restart cancelled: PostgreSQL was restarted since it was scheduled") {
			return errors.New("no cancellation logged")
		}
		if r := members(t, leader)[r3.name].ScheduledRestart; r != nil {
			return fmt.Errorf("still shown: %v", r)
		}
		return nil
	})
	holdsFor(t, max(time.Until(at), 0)+3*time.Second, "the overtaken restart of "+r3.name+" does not fire", func() error {
		if p := r3.postmasterPID(); p != pid3 || r3.logs.contains("scheduled restart is due") {
			return fmt.Errorf("postmaster pid %d -> %d, or the restart logged as due", pid3, p)
		}
		return nil
	})

	// Reinitialize: refused on the leader (data untouched), done on a replica
	// whose old data directory is moved aside.
	if out, err := leader.conclave("reinit", leader.name, "--force"); err == nil || strings.TrimSpace(out) != "conclave: No replica among provided members" {
		t.Errorf("reinit of the leader (refused by the CLI, as patronictl): %v\n%s", err, out)
	}
	if code, out := send(t, leader, http.MethodPost, "/reinitialize", `{"force":true}`); code != http.StatusServiceUnavailable || !strings.Contains(out, "I am the leader, can not reinitialize") {
		t.Errorf("POST /reinitialize on the leader: %d %s", code, out)
	}
	out, err = leader.conclave("reinit", b.c.scope, r3.name, "--force", "--wait")
	t.Logf("conclave reinit:\n%s", out)
	if err != nil || !strings.Contains(out, "Success: reinitialize for member "+r3.name) || !strings.Contains(out, "Reinitialize is completed on: "+r3.name) {
		t.Fatalf("reinit %s: %v", r3.name, err)
	}
	if aside, _ := filepath.Glob(r3.dataDir() + ".*"); len(aside) == 0 {
		t.Errorf("no moved-aside data directory next to %s", r3.dataDir())
	}
	if got := b.finish(noLoss); got != leader {
		t.Fatalf("leader %s after the operations, want %s throughout", got.name, leader.name)
	}
}

// metricIs reports whether every sample of metric in the exposition text has value.
func metricIs(text, metric, value string) bool {
	found := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, metric+"{") {
			found = true
			if f := strings.Fields(line); f[len(f)-1] != value {
				return false
			}
		}
	}
	return found
}
