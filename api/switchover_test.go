package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// fakePending records requests; onSet runs after a SetPending (the cluster
// reacting), with the source's lock not held.
type fakePending struct {
	src     *fakeSource
	set     []fsm.Pending
	cleared int
	err     error
	onSet   func(st *fsm.State)
}

func (f *fakePending) SetPending(_ context.Context, p fsm.Pending) (uint64, error) {
	if f.err != nil {
		return 0, f.err
	}
	f.set = append(f.set, p)
	f.src.mu.Lock()
	defer f.src.mu.Unlock()
	f.src.state.Index++
	index := f.src.state.Index
	f.src.state.Pending = &p
	if f.onSet != nil {
		f.onSet(&f.src.state)
	}
	return index, nil
}

func (f *fakePending) ClearPending(context.Context) (uint64, error) {
	if f.err != nil {
		return 0, f.err
	}
	f.cleared++
	f.src.mu.Lock()
	defer f.src.mu.Unlock()
	f.src.state.Index++
	f.src.state.Pending = nil
	return f.src.state.Index, nil
}

// switchoverServer is node2 (leader) of the capture cluster with every
// member at the current protocol level, reporting, and node1/node3 streaming.
func switchoverServer(t *testing.T) (*testServer, *fakePending) {
	t.Helper()
	st := compatCluster(t)
	for n, m := range st.Members {
		m.Protocol = fsm.Protocol
		if m.Role == fsm.RoleReplica {
			m.State = "streaming"
		}
		st.Members[n] = m
	}
	node := leaderNode()
	node.MemberSilence = map[string]time.Duration{"node1": time.Second, "node2": 0, "node3": time.Second}
	ts := newTestServer(t, node, st)
	fp := &fakePending{src: ts.src}
	ts.srv.cfg.Pending = fp
	// The fake cluster's new leader never reports itself primary unless a
	// test says so: answer 100 ms after it took the key.
	ts.srv.reportWait = 100 * time.Millisecond
	return ts, fp
}

func TestSwitchover_Refusals_ChangeNothing(t *testing.T) {
	cases := []struct {
		name, path, body string
		edit             func(st *fsm.State, n *NodeStatus)
		code             int
		msg              string
	}{
		{"failover without a candidate", "/failover", `{"leader":"node2"}`, nil, 400, "Failover could be performed only to a specific candidate"},
		{"switchover without a leader", "/switchover", `{"candidate":"node1"}`, nil, 400, "Switchover could be performed only from a specific leader"},
		{"wrong leader", "/switchover", `{"leader":"node1","candidate":"node3"}`, nil, 412, "leader name does not match"},
		{"unknown candidate", "/switchover", `{"leader":"node2","candidate":"node9"}`, nil, 412, "candidate does not exists"},
		{"candidate is the leader", "/switchover", `{"leader":"node2","candidate":"node2"}`, nil, 412, "switchover is not possible: candidate node2 is the leader"},
		{"candidate not streaming", "/switchover", `{"leader":"node2","candidate":"node1"}`, func(st *fsm.State, _ *NodeStatus) {
			m := st.Members["node1"]
			m.State = "running"
			st.Members["node1"] = m
		}, 412, "switchover is not possible: candidate node1 is not streaming (state running)"},
		{"candidate silent", "/switchover", `{"leader":"node2","candidate":"node1"}`, func(_ *fsm.State, n *NodeStatus) {
			n.MemberSilence["node1"] = time.Minute
		}, 412, "switchover is not possible: candidate node1 does not report"},
		{"candidate lags", "/switchover", `{"leader":"node2","candidate":"node1"}`, func(st *fsm.State, _ *NodeStatus) {
			m := st.Members["node1"]
			m.WALPosition = 1 << 20
			st.Members["node1"] = m
		}, 412, "switchover is not possible: candidate node1 lags 66060288 bytes, more than maximum_lag_on_failover 1048576"},
		{"candidate nofailover", "/failover", `{"candidate":"node1"}`, func(st *fsm.State, _ *NodeStatus) {
			m := st.Members["node1"]
			m.Tags = map[string]any{"nofailover": true}
			st.Members["node1"] = m
		}, 412, "failover is not possible: candidate node1 has tag nofailover"},
		{"synchronous mode, switchover to an asynchronous standby", "/switchover", `{"leader":"node2","candidate":"node1"}`, func(st *fsm.State, _ *NodeStatus) {
			st.Config["synchronous_mode"] = true
			st.Sync = fsm.Sync{Leader: "node2", Members: []string{"node3"}}
		}, 412, "candidate name does not match with sync_standby"},
		{"synchronous mode, failover to an asynchronous standby", "/failover", `{"candidate":"node1"}`, func(st *fsm.State, _ *NodeStatus) {
			st.Config["synchronous_mode"] = true
			st.Sync = fsm.Sync{Leader: "node2", Members: []string{"node3"}}
		}, 412, "failover is not possible: candidate node1 is not a recorded synchronous standby (synchronous_mode)"},
		{"no good candidate", "/switchover", `{"leader":"node2"}`, func(st *fsm.State, _ *NodeStatus) {
			for _, n := range []string{"node1", "node3"} {
				m := st.Members[n]
				m.State = "stopped"
				st.Members[n] = m
			}
		}, 412, "switchover is not possible: no good candidates have been found"},
		{"paused switchover", "/switchover", `{"leader":"node2","candidate":"node1"}`, func(st *fsm.State, _ *NodeStatus) {
			st.Config["pause"] = true
		}, 412, "Switchover is not possible in the paused state (maintenance mode): resume first, or use failover with a candidate"},
		{"paused scheduled", "/switchover", `{"leader":"node2","scheduled_at":"2030-01-01T00:00:00+00:00"}`, func(st *fsm.State, _ *NodeStatus) {
			st.Config["pause"] = true
		}, 400, "Can't schedule switchover in the paused state"},
		{"scheduled without a zone", "/switchover", `{"leader":"node2","scheduled_at":"2030-01-01T00:00:00"}`, nil, 400, "Timezone information is mandatory for the scheduled switchover"},
		{"scheduled in the past", "/switchover", `{"leader":"node2","scheduled_at":"2020-01-01T00:00:00+00:00"}`, nil, 422, "Cannot schedule switchover in the past"},
		{"scheduled unparsable", "/switchover", `{"leader":"node2","scheduled_at":"tomorrow"}`, nil, 422, "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601"},
		{"nobody took the key yet (takeover)", "/failover", `{"candidate":"node1"}`, func(st *fsm.State, _ *NodeStatus) {
			st.Leader, st.LeaderIndex = nil, 0
		}, 412, "failover is not possible: no member has taken the leader key yet (the cluster is being initialized or taken over)"},
		{"older agent listed", "/switchover", `{"leader":"node2","candidate":"node1"}`, func(st *fsm.State, _ *NodeStatus) {
			m := st.Members["node3"]
			m.Protocol = 0
			st.Members["node3"] = m
		}, 412, "switchover is not possible: a member's agent is older than the hand-over (protocol level 5); upgrade every member first"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, fp := switchoverServer(t)
			if tc.edit != nil {
				tc.edit(&ts.src.state, &ts.src.node)
			}
			rec := ts.do(http.MethodPost, tc.path, tc.body)
			if rec.Code != tc.code || rec.Body.String() != tc.msg {
				t.Fatalf("HTTP %d %q, want %d %q", rec.Code, rec.Body.String(), tc.code, tc.msg)
			}
			if len(fp.set) != 0 {
				t.Fatalf("a refused request was written: %+v", fp.set)
			}
		})
	}
}

func TestSwitchover_BadBody_400(t *testing.T) {
	ts, fp := switchoverServer(t)
	for _, body := range []string{"", "[]", `{"leader": 3}`, "{"} {
		if rec := ts.do(http.MethodPost, "/switchover", body); rec.Code != 400 {
			t.Errorf("body %q: HTTP %d %s", body, rec.Code, rec.Body)
		}
	}
	if len(fp.set) != 0 {
		t.Fatal("written")
	}
}

func TestSwitchover_WaitsForTheNewLeader(t *testing.T) {
	ts, fp := switchoverServer(t)
	fp.onSet = func(st *fsm.State) { st.Leader = &fsm.Leader{Member: "node1", Epoch: 50} }
	rec := ts.do(http.MethodPost, "/switchover", `{"master":"node2","candidate":"node1"}`)
	if rec.Code != 200 || rec.Body.String() != `Successfully switched over to "node1"` {
		t.Fatalf("HTTP %d %q", rec.Code, rec.Body)
	}
	if p := fp.set[0]; p.Kind != "switchover" || p.Leader != "node2" || p.Candidate != "node1" || p.ScheduledAt != nil {
		t.Fatalf("written %+v", p)
	}
}

// The answer waits for the new leader's own report (role primary), so the
// table `conclave switchover` prints next shows it as the running leader.
func TestSwitchover_AnswersOnceTheNewLeaderReportsItselfPrimary(t *testing.T) {
	ts, fp := switchoverServer(t)
	ts.srv.reportWait = 10 * time.Second
	fp.onSet = func(st *fsm.State) {
		st.Leader = &fsm.Leader{Member: "node1", Epoch: 50}
		go func() {
			time.Sleep(3 * pollEvery)
			ts.src.mu.Lock()
			m := ts.src.state.Members["node1"]
			m.Role, m.State, m.Timeline = fsm.RolePrimary, "running", 2
			ts.src.state.Members["node1"] = m
			ts.src.mu.Unlock()
		}()
	}
	start := time.Now()
	rec := ts.do(http.MethodPost, "/switchover", `{"leader":"node2","candidate":"node1"}`)
	if rec.Code != 200 || rec.Body.String() != `Successfully switched over to "node1"` {
		t.Fatalf("HTTP %d %q", rec.Code, rec.Body)
	}
	if m := ts.src.Cluster().Members["node1"]; m.Role != fsm.RolePrimary {
		t.Errorf("answered while node1's record still says %s/%s", m.Role, m.State)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %v: the report came after %v", took, 3*pollEvery)
	}
}

func TestFailover_AnotherMemberTookOver(t *testing.T) {
	ts, fp := switchoverServer(t)
	fp.onSet = func(st *fsm.State) { st.Leader = &fsm.Leader{Member: "node3", Epoch: 50} }
	rec := ts.do(http.MethodPost, "/failover", `{"candidate":"node1"}`)
	if rec.Code != 200 || rec.Body.String() != `Failed over to "node3" instead of "node1"` {
		t.Fatalf("HTTP %d %q", rec.Code, rec.Body)
	}
}

func TestSwitchover_RequestCancelled_503Failed(t *testing.T) {
	ts, fp := switchoverServer(t)
	fp.onSet = func(st *fsm.State) { st.Pending = nil }
	rec := ts.do(http.MethodPost, "/switchover", `{"leader":"node2"}`)
	if rec.Code != 503 || rec.Body.String() != "Switchover failed" {
		t.Fatalf("HTTP %d %q", rec.Code, rec.Body)
	}
}

func TestSwitchover_CannotWrite_503(t *testing.T) {
	ts, fp := switchoverServer(t)
	fp.err = errors.New("no leader")
	rec := ts.do(http.MethodPost, "/switchover", `{"leader":"node2"}`)
	if rec.Code != 503 || !strings.HasPrefix(rec.Body.String(), "failed to write switchover key into DCS") {
		t.Fatalf("HTTP %d %q", rec.Code, rec.Body)
	}
}

func TestSwitchover_Scheduled_202AndDelete(t *testing.T) {
	ts, fp := switchoverServer(t)
	rec := ts.do(http.MethodPost, "/switchover", `{"leader":"node2","candidate":"node1","scheduled_at":"2026-11-26 21:37:00.5+00:00"}`)
	if rec.Code != 202 || rec.Body.String() != "Switchover scheduled" {
		t.Fatalf("HTTP %d %q", rec.Code, rec.Body)
	}
	want := time.Date(2026, 11, 26, 21, 37, 0, 500000000, time.UTC)
	if p := fp.set[0]; p.ScheduledAt == nil || !p.ScheduledAt.Equal(want) {
		t.Fatalf("written %+v", p)
	}
	if rec := ts.do(http.MethodDelete, "/switchover", ""); rec.Code != 200 || rec.Body.String() != "scheduled switchover deleted" {
		t.Fatalf("DELETE: HTTP %d %q", rec.Code, rec.Body)
	}
	if rec := ts.do(http.MethodDelete, "/switchover", ""); rec.Code != 404 || rec.Body.String() != "no switchover is scheduled" {
		t.Fatalf("second DELETE: HTTP %d %q", rec.Code, rec.Body)
	}
	if fp.cleared != 1 {
		t.Fatalf("cleared %d times", fp.cleared)
	}
}

func TestFailover_LeaderPostgreSQLStopped_RunningCandidateAccepted(t *testing.T) {
	ts, fp := switchoverServer(t)
	ts.src.state.Config["pause"] = true
	for name, state := range map[string]string{"node2": "stopped", "node1": "running"} {
		m := ts.src.state.Members[name]
		m.State = state
		ts.src.state.Members[name] = m
	}
	fp.onSet = func(st *fsm.State) { st.Leader = &fsm.Leader{Member: "node1", Epoch: 50} }
	if rec := ts.do(http.MethodPost, "/failover", `{"candidate":"node1"}`); rec.Code != 200 {
		t.Fatalf("HTTP %d %q", rec.Code, rec.Body)
	}
}

func TestFailover_NoLeader_Paused_Accepted(t *testing.T) {
	ts, fp := switchoverServer(t)
	ts.src.state.Config["pause"] = true
	ts.src.state.Leader = nil
	m := ts.src.state.Members["node1"]
	m.State = "running" // nothing to stream from
	ts.src.state.Members["node1"] = m
	fp.onSet = func(st *fsm.State) { st.Leader = &fsm.Leader{Member: "node1", Epoch: 50} }
	rec := ts.do(http.MethodPost, "/failover", `{"candidate":"node1"}`)
	if rec.Code != 200 || rec.Body.String() != `Successfully failed over to "node1"` {
		t.Fatalf("HTTP %d %q", rec.Code, rec.Body)
	}
}

func TestSwitchover_RequestNotYetAppliedHere_IsNotAFailure(t *testing.T) {
	ts, fp := switchoverServer(t)
	// The request committed at an index this node has not applied yet, and
	// then the leader changes: the absence of the request at first says
	// nothing.
	fp.onSet = func(st *fsm.State) {
		st.Pending = nil
		st.Index--
		go func() {
			time.Sleep(2 * pollEvery)
			ts.src.mu.Lock()
			ts.src.state.Index += 2
			ts.src.state.Leader = &fsm.Leader{Member: "node1", Epoch: 60}
			ts.src.mu.Unlock()
		}()
	}
	rec := ts.do(http.MethodPost, "/switchover", `{"leader":"node2","candidate":"node1"}`)
	if rec.Code != 200 || rec.Body.String() != `Successfully switched over to "node1"` {
		t.Fatalf("HTTP %d %q", rec.Code, rec.Body)
	}
}
