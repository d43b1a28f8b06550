package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// lagAfterSwitchServer: node2 (leader) reported last, a WAL segment ahead of
// node1's older report; loop_wait 1 s, so a lag-only refusal waits 2 s.
func lagAfterSwitchServer(t *testing.T) (*testServer, *fakePending) {
	t.Helper()
	ts, fp := switchoverServer(t)
	st := &ts.src.state
	st.Config["loop_wait"] = 1
	setMember(st, "node1", func(m *fsm.Member) { m.WALPosition, m.UpdatedIndex = 67108864, 30 })
	setMember(st, "node2", func(m *fsm.Member) { m.WALPosition, m.UpdatedIndex = 67108864+16<<20, 38 })
	fp.onSet = func(st *fsm.State) { st.Leader = &fsm.Leader{Member: "node1", Epoch: 50} }
	return ts, fp
}

func setMember(st *fsm.State, name string, edit func(m *fsm.Member)) {
	m := st.Members[name]
	edit(&m)
	st.Members[name] = m
}

// reportLater publishes node1's next report after d, at position pos.
func reportLater(ts *testServer, d time.Duration, pos uint64) {
	go func() {
		time.Sleep(d)
		ts.src.mu.Lock()
		defer ts.src.mu.Unlock()
		ts.src.state.Index++
		setMember(&ts.src.state, "node1", func(m *fsm.Member) { m.WALPosition, m.UpdatedIndex = pos, ts.src.state.Index })
	}()
}

func TestSwitchover_LagOnlyAgainstANewerLeaderReport_WaitsForTheCandidatesNextReport(t *testing.T) {
	ts, fp := lagAfterSwitchServer(t)
	reportLater(ts, 300*time.Millisecond, 67108864+16<<20)
	rec := ts.do(http.MethodPost, "/switchover", `{"leader":"node2","candidate":"node1"}`)
	if rec.Code != 200 || rec.Body.String() != `Successfully switched over to "node1"` {
		t.Fatalf("HTTP %d %q; want the switchover carried out once node1 reported it caught up", rec.Code, rec.Body)
	}
	if len(fp.set) != 1 {
		t.Fatalf("requests written: %+v", fp.set)
	}
}

func TestSwitchover_LagPersistsInTheCandidatesNextReport_Refused(t *testing.T) {
	ts, fp := lagAfterSwitchServer(t)
	reportLater(ts, 300*time.Millisecond, 67108864+1<<20) // still 15 MB behind node2's report
	start := time.Now()
	rec := ts.do(http.MethodPost, "/switchover", `{"leader":"node2","candidate":"node1"}`)
	want := "switchover is not possible: candidate node1 lags 15728640 bytes, more than maximum_lag_on_failover 1048576"
	if rec.Code != 412 || rec.Body.String() != want {
		t.Fatalf("HTTP %d %q, want 412 %q", rec.Code, rec.Body, want)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("refused after %v: a fresh report that still lags should decide at once", d)
	}
	if len(fp.set) != 0 {
		t.Fatalf("a refused request was written: %+v", fp.set)
	}
}

func TestSwitchover_LagOnlyAndNoFreshReport_RefusedAfterTheBound(t *testing.T) {
	ts, fp := lagAfterSwitchServer(t)
	start := time.Now()
	rec := ts.do(http.MethodPost, "/failover", `{"candidate":"node1"}`)
	if rec.Code != 412 {
		t.Fatalf("HTTP %d %q, want 412", rec.Code, rec.Body)
	}
	if d := time.Since(start); d < lagReportWaitMin || d > lagReportWaitMin+time.Second {
		t.Errorf("refused after %v, want after about %v", d, lagReportWaitMin)
	}
	if len(fp.set) != 0 {
		t.Fatalf("a refused request was written: %+v", fp.set)
	}
}

// Another obstacle besides the lag: no wait.
func TestSwitchover_LagAndNotStreaming_RefusedAtOnce(t *testing.T) {
	ts, _ := lagAfterSwitchServer(t)
	setMember(&ts.src.state, "node1", func(m *fsm.Member) { m.State = "running" })
	start := time.Now()
	if rec := ts.do(http.MethodPost, "/switchover", `{"leader":"node2","candidate":"node1"}`); rec.Code != 412 {
		t.Fatalf("HTTP %d %q, want 412", rec.Code, rec.Body)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refused after %v; want at once", d)
	}
}
