package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

// raftSource is a Source that answers FailsafeState: fresh stands for the
// Raft read-index (or, with no Raft leader known, the local state the agent
// returns instead), err for a read that failed.
type raftSource struct {
	*fakeSource
	fresh fsm.State
	err   error
}

func (r *raftSource) FailsafeState(context.Context) (fsm.State, error) {
	return r.fresh.Clone(), r.err
}

// failsafeState is a state with the key held by node1 and one record per name.
func failsafeState(names ...string) fsm.State {
	st := fsm.State{Config: map[string]any{"failsafe_mode": true},
		Leader: &fsm.Leader{Member: "node1", Epoch: 5, TTL: 30}, LeaderIndex: 5, Members: map[string]fsm.Member{}}
	for _, n := range names {
		st.Members[n] = fsm.Member{Name: n}
	}
	return st
}

func postFailsafe(t *testing.T, s *Server, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/failsafe", strings.NewReader(body))
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func newFailsafeServer(t *testing.T, src Source) (*Server, *fakeFailsafe) {
	t.Helper()
	rec := &fakeFailsafe{}
	s, err := New(Config{Source: src, Failsafe: rec})
	if err != nil {
		t.Fatal(err)
	}
	return s, rec
}

// The hole: node1 was cut off from Raft before node4 joined. node2's local
// state may not have node4 yet, but its read-index does: a heartbeat that
// did not ask node4 is refused (node4 never heard it and does not hold off),
// one that did is accepted and decided on the fresh state.
func TestFailsafe_FreshStateNamesAMemberTheSenderDidNotAsk_Refused(t *testing.T) {
	src := &raftSource{
		fakeSource: &fakeSource{node: NodeStatus{Name: "node2"}, state: failsafeState("node1", "node2", "node3")},
		fresh:      failsafeState("node1", "node2", "node3", "node4"),
	}
	s, rec := newFailsafeServer(t, src)
	code, body := postFailsafe(t, s, `{"name": "node1", "members": ["node2", "node3"]}`)
	if code != http.StatusInternalServerError || !strings.Contains(body, "node4") {
		t.Fatalf("heartbeat that did not ask node4: %d %q, want 500 naming node4", code, body)
	}
	if len(rec.leaders) != 0 {
		t.Fatalf("the loop was asked although the heartbeat is refused: %v", rec.leaders)
	}
	if code, body := postFailsafe(t, s, `{"name": "node1", "members": ["node2", "node3", "node4"]}`); code != http.StatusOK {
		t.Fatalf("heartbeat that asked every member: %d %q, want 200", code, body)
	}
	if len(rec.states) != 1 || rec.states[0].Members["node4"].Name != "node4" {
		t.Fatalf("the loop did not decide on the fresh state: %+v", rec.states)
	}
}

// Knowing a Raft leader but getting no fresh read within the bound: the
// answer could miss a member added since, so it is a refusal.
func TestFailsafe_FreshReadFails_Refused(t *testing.T) {
	src := &raftSource{
		fakeSource: &fakeSource{node: NodeStatus{Name: "node2"}, state: failsafeState("node1", "node2")},
		err:        context.DeadlineExceeded,
	}
	s, rec := newFailsafeServer(t, src)
	code, body := postFailsafe(t, s, `{"name": "node1", "members": ["node2"]}`)
	if code != http.StatusInternalServerError || !strings.Contains(body, "no fresh read") || len(rec.leaders) != 0 {
		t.Fatalf("heartbeat without a fresh read: %d %q (loop asked %d times), want 500", code, body, len(rec.leaders))
	}
}

// A Source that cannot read through Raft (or an agent cut off from it)
// answers from its local state, under the same member rule.
func TestFailsafe_NoFreshReader_LocalStateChecked(t *testing.T) {
	src := &fakeSource{node: NodeStatus{Name: "node2"}, state: failsafeState("node1", "node2", "node3")}
	s, _ := newFailsafeServer(t, src)
	if code, body := postFailsafe(t, s, `{"name": "node1", "members": ["node2", "node3"]}`); code != http.StatusOK {
		t.Fatalf("heartbeat that asked every local member: %d %q, want 200", code, body)
	}
	if code, body := postFailsafe(t, s, `{"name": "node1", "members": ["node2"]}`); code != http.StatusInternalServerError || !strings.Contains(body, "node3") {
		t.Fatalf("heartbeat that did not ask node3: %d %q, want 500 naming node3", code, body)
	}
}

// Rolling upgrade: an older agent sends no member list, which counts as
// none: refused (this member, at least, has a record), and the holder
// fences as with failsafe_mode off.
func TestFailsafe_HeartbeatWithoutMembers_Refused(t *testing.T) {
	src := &fakeSource{node: NodeStatus{Name: "node2"}, state: failsafeState("node1", "node2")}
	s, rec := newFailsafeServer(t, src)
	code, body := postFailsafe(t, s, `{"name": "node1", "api_url": "http://10.0.0.1:8008/patroni"}`)
	if code != http.StatusInternalServerError || !strings.Contains(body, "node2") || len(rec.leaders) != 0 {
		t.Fatalf("heartbeat without a member list: %d %q, want 500 naming node2", code, body)
	}
}

// failsafe_mode switched off in the fresh state (not yet applied locally):
// refused, as a member whose local state says off refuses.
func TestFailsafe_FreshStateSaysFailsafeOff_Refused(t *testing.T) {
	off := failsafeState("node1", "node2")
	off.Config = map[string]any{"failsafe_mode": false}
	src := &raftSource{fakeSource: &fakeSource{node: NodeStatus{Name: "node2"}, state: failsafeState("node1", "node2")}, fresh: off}
	s, rec := newFailsafeServer(t, src)
	if code, body := postFailsafe(t, s, `{"name": "node1", "members": ["node2"]}`); code == http.StatusOK || len(rec.leaders) != 0 {
		t.Fatalf("heartbeat with failsafe_mode off in the fresh state: %d %q, want a refusal", code, body)
	}
}

// The loop's own refusal still comes through as 500 with its reason.
func TestFailsafe_LoopRefuses_ReasonAnswered(t *testing.T) {
	src := &fakeSource{node: NodeStatus{Name: "node2"}, state: failsafeState("node1", "node2")}
	s, rec := newFailsafeServer(t, src)
	rec.err = errors.New("this member is taking over the leader key")
	if code, body := postFailsafe(t, s, `{"name": "node1", "members": ["node2"]}`); code != 500 || body != rec.err.Error() {
		t.Fatalf("loop refusal: %d %q", code, body)
	}
}
