package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/fsm"
)

var checkPaths = []string{
	"/", "/primary", "/master", "/leader", "/read-write",
	"/replica", "/read-only", "/standby-leader", "/standby_leader",
	"/synchronous", "/sync", "/asynchronous", "/async",
	"/health", "/liveness", "/readiness",
	"/patroni", "/cluster", "/history", "/config", "/metrics",
}

// expectCodes builds the expected table: everything 200 except the listed 503s.
func expectCodes(unavailable ...string) map[string]int {
	out := map[string]int{}
	for _, p := range checkPaths {
		out[p] = http.StatusOK
	}
	for _, p := range unavailable {
		out[p] = http.StatusServiceUnavailable
	}
	return out
}

var primaryPaths = []string{"/", "/primary", "/master", "/leader", "/read-write"}

func TestEndpoints_StatusCodesPerScenario(t *testing.T) {
	syncCluster := func(t *testing.T) fsm.State {
		st := compatCluster(t)
		st.Config["synchronous_mode"] = true
		st.Sync = fsm.Sync{Leader: "node2", Members: []string{"node1"}}
		return st
	}
	pausedCluster := func(t *testing.T) fsm.State {
		st := compatCluster(t)
		st.Config["pause"] = true
		return st
	}
	stopped := replicaNode()
	stopped.State = "stopped"
	stopped.WALReceiverStreaming = false
	noLB := replicaNode()
	noLB.Tags = map[string]any{"noloadbalance": true}
	notHolding := leaderNode()
	notHolding.HoldsLeaderKey = false
	witness := NodeStatus{Name: "witness", Scope: "anchor", State: "running", Role: fsm.RoleWitness,
		LoopLastRun: testNow.Add(-time.Second), LoopInterval: time.Second}

	standby := []string{"/standby-leader", "/standby_leader"}
	cases := []struct {
		name  string
		node  NodeStatus
		state func(*testing.T) fsm.State
		want  map[string]int
	}{
		{"leader", leaderNode(), compatCluster,
			expectCodes(append(standby, "/replica", "/synchronous", "/sync", "/asynchronous", "/async")...)},
		{"streaming replica", replicaNode(), compatCluster,
			expectCodes(append(append(standby, primaryPaths...), "/synchronous", "/sync")...)},
		{"stopped replica", stopped, compatCluster,
			expectCodes(append(append(standby, primaryPaths...), "/replica", "/read-only", "/synchronous", "/sync",
				"/asynchronous", "/async", "/health", "/readiness")...)},
		{"noloadbalance replica", noLB, compatCluster,
			expectCodes(append(append(standby, primaryPaths...), "/replica", "/read-only", "/synchronous", "/sync",
				"/asynchronous", "/async")...)},
		{"sync standby", replicaNode(), syncCluster,
			expectCodes(append(append(standby, primaryPaths...), "/asynchronous", "/async")...)},
		{"paused cluster leader", leaderNode(), pausedCluster,
			expectCodes(append(standby, "/replica", "/synchronous", "/sync", "/asynchronous", "/async")...)},
		{"paused cluster replica", replicaNode(), pausedCluster,
			expectCodes(append(append(standby, primaryPaths...), "/synchronous", "/sync")...)},
		{"primary without trusted leader key", notHolding, compatCluster,
			expectCodes(append(append(standby, primaryPaths...), "/replica", "/read-only", "/synchronous", "/sync",
				"/asynchronous", "/async", "/readiness")...)},
		// No PostgreSQL: no database check and no /health, but alive.
		{"witness", witness, compatCluster,
			expectCodes(append(append(standby, primaryPaths...), "/replica", "/read-only", "/synchronous", "/sync",
				"/asynchronous", "/async", "/health", "/readiness")...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.node, tc.state(t))
			for _, p := range checkPaths {
				for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
					if p == "/metrics" && m == http.MethodOptions {
						continue
					}
					rec := ts.do(m, p, "")
					if rec.Code != tc.want[p] {
						t.Errorf("%s %s = %d, want %d", m, p, rec.Code, tc.want[p])
					}
					if m != http.MethodGet && rec.Body.Len() != 0 {
						t.Errorf("%s %s wrote a body: %q", m, p, rec.Body)
					}
				}
			}
		})
	}
}

func TestHealthChecks_AnswerWithThePatroniBody(t *testing.T) {
	ts := newTestServer(t, replicaNode(), compatCluster(t))
	_, want := ts.getJSON("/patroni")
	for _, p := range []string{"/", "/primary", "/replica", "/health", "/read-only", "/async", "/standby-leader"} {
		_, got := ts.getJSON(p)
		if !jsonEqual(got, want) {
			t.Errorf("GET %s body = %v, want the /patroni body %v", p, got, want)
		}
	}
}

func TestReplica_LagQuery(t *testing.T) {
	node := replicaNode()
	node.ReceivedLocation = 67108864 - 20<<20 // 20 MiB behind node2
	node.ReplayedLocation = node.ReceivedLocation - 1000
	ts := newTestServer(t, node, compatCluster(t))
	cases := map[string]int{
		"/replica":                    200,
		"/replica?lag=1000":           503,
		"/replica?lag=16MB":           503,
		"/replica?lag=20MB":           200, // lag uses max(received, replayed)
		"/replica?lag=32MB":           200,
		"/replica?lag=1GB":            200,
		"/replica?lag=20971520":       200,
		"/replica?lag=20971519":       503,
		"/replica?lag=16mb":           503, // units are case-insensitive
		"/replica?lag=bogus":          200, // Patroni ignores an unparsable lag
		"/read-only?lag=16MB":         503,
		"/asynchronous?lag=16MB":      503,
		"/asynchronous?lag=1GB":       200,
		"/readiness":                  200, // streaming
		"/readiness?lag=16MB":         200, // streaming wins
		"/primary?lag=1GB":            503,
		"/replica?lag=16MB&lag=100MB": 503, // first value
	}
	for target, want := range cases {
		if rec := ts.do(http.MethodGet, target, ""); rec.Code != want {
			t.Errorf("GET %s = %d, want %d", target, rec.Code, want)
		}
	}

	ts.src.node.WALReceiverStreaming = false
	for target, want := range map[string]int{
		"/readiness":         503, // 20 MiB > maximum_lag_on_failover (1 MiB)
		"/readiness?lag=1GB": 200,
	} {
		if rec := ts.do(http.MethodGet, target, ""); rec.Code != want {
			t.Errorf("not streaming: GET %s = %d, want %d", target, rec.Code, want)
		}
	}
}

func TestReplica_LagWithoutLeaderCountsAsZero(t *testing.T) {
	node := replicaNode()
	node.ReceivedLocation, node.ReplayedLocation = 1, 1
	st := compatCluster(t)
	st.Leader = nil
	ts := newTestServer(t, node, st)
	if rec := ts.do(http.MethodGet, "/replica?lag=0", ""); rec.Code != 200 {
		t.Fatalf("GET /replica?lag=0 without a leader = %d, want 200", rec.Code)
	}
}

func TestReplica_ReplicationStateQuery(t *testing.T) {
	ts := newTestServer(t, replicaNode(), compatCluster(t))
	if rec := ts.do(http.MethodGet, "/replica?replication_state=streaming", ""); rec.Code != 200 {
		t.Errorf("streaming replica: %d, want 200", rec.Code)
	}
	ts.src.node.WALReceiverStreaming = false
	if rec := ts.do(http.MethodGet, "/replica?replication_state=streaming", ""); rec.Code != 503 {
		t.Errorf("replica not streaming: %d, want 503", rec.Code)
	}
	if rec := ts.do(http.MethodGet, "/replica", ""); rec.Code != 200 {
		t.Errorf("replica not streaming without filter: %d, want 200", rec.Code)
	}
}

func TestReplica_TagFilters(t *testing.T) {
	node := replicaNode()
	node.Tags = map[string]any{"nofailover": true, "zone": "EU", "failover_priority": float64(2)}
	ts := newTestServer(t, node, compatCluster(t))
	cases := map[string]int{
		"/replica?nofailover=true":                 200,
		"/replica?nofailover=True":                 200,
		"/replica?nofailover=false":                503,
		"/replica?nosync=false":                    200, // missing boolean tag is false
		"/replica?nosync=true":                     503,
		"/replica?zone=eu":                         200,
		"/replica?zone=us":                         503,
		"/replica?failover_priority=2":             200,
		"/replica?failover_priority=1":             503,
		"/replica?nofailover=true&zone=eu&lag=1GB": 200,
		"/read-only?zone=us":                       503,
		"/async?zone=eu":                           200,
	}
	for target, want := range cases {
		if rec := ts.do(http.MethodGet, target, ""); rec.Code != want {
			t.Errorf("GET %s = %d, want %d", target, rec.Code, want)
		}
	}
}

func TestLiveness_FollowsTheHALoop(t *testing.T) {
	cases := []struct {
		name     string
		ago      time.Duration
		interval time.Duration
		zero     bool
		aliveAgo time.Duration // a report during a long step (0: none)
		want     int
	}{
		{"recent run", 5 * time.Second, time.Second, false, 0, 200},
		{"ten second floor", 11 * time.Second, time.Second, false, 0, 503},
		{"three intervals", 14 * time.Second, 5 * time.Second, false, 0, 200},
		{"beyond three intervals", 16 * time.Second, 5 * time.Second, false, 0, 503},
		{"never ran", 0, time.Second, true, 0, 503},
		{"long clone reporting", 120 * time.Second, time.Second, false, 2 * time.Second, 200},
		{"long clone silent too", 120 * time.Second, time.Second, false, 30 * time.Second, 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			node := leaderNode()
			node.LoopInterval = tc.interval
			node.LoopLastRun = testNow.Add(-tc.ago)
			if tc.zero {
				node.LoopLastRun = time.Time{}
			}
			if tc.aliveAgo > 0 {
				node.LoopAliveAt = testNow.Add(-tc.aliveAgo)
			}
			ts := newTestServer(t, node, compatCluster(t))
			rec := ts.do(http.MethodGet, "/liveness", "")
			if rec.Code != tc.want {
				t.Fatalf("GET /liveness = %d, want %d", rec.Code, tc.want)
			}
		})
	}
}

func TestParseLag_AcceptsBytesAndUnits(t *testing.T) {
	cases := map[string]struct {
		n  uint64
		ok bool
	}{
		"0": {0, true}, "1048576": {1 << 20, true}, "16kB": {16 << 10, true}, "16MB": {16 << 20, true},
		"1GB": {1 << 30, true}, "1TB": {1 << 40, true}, "10B": {10, true}, "1.5MB": {3 << 19, true},
		" 64 MB ": {64 << 20, true}, "": {0, false}, "abc": {0, false}, "16XB": {0, false}, "-5": {0, true},
	}
	for in, want := range cases {
		n, ok := parseLag(in)
		if n != want.n || ok != want.ok {
			t.Errorf("parseLag(%q) = %d, %v; want %d, %v", in, n, ok, want.n, want.ok)
		}
	}
}

type fakeFailsafe struct {
	leaders []string
	states  []fsm.State // the state each heartbeat was decided on
	err     error
}

func (f *fakeFailsafe) FailsafeHeartbeat(leader string, st fsm.State) error {
	f.leaders = append(f.leaders, leader)
	f.states = append(f.states, st)
	return f.err
}

func TestFailsafe_AnswersAsPatroni(t *testing.T) {
	src := &fakeSource{node: NodeStatus{Name: "node2", Scope: "anchor", State: "running", Role: "replica"},
		state: fsm.State{Config: map[string]any{"failsafe_mode": true}}}
	rec := &fakeFailsafe{}
	s, err := New(Config{Source: src, Failsafe: rec})
	if err != nil {
		t.Fatal(err)
	}
	post := func(s *Server, body string) (int, string) {
		r := httptest.NewRequest(http.MethodPost, "/failsafe", strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:40000"
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := post(s, `{"name": "node1", "api_url": "http://127.0.0.1:8008/patroni"}`); code != 200 || body != "Accepted" {
		t.Fatalf("heartbeat: %d %q, want 200 Accepted", code, body)
	}
	if len(rec.leaders) != 1 || rec.leaders[0] != "node1" {
		t.Fatalf("receiver got %v", rec.leaders)
	}
	for _, bad := range []string{``, `{}`, `[1]`, `{"name": 3}`} {
		if code, _ := post(s, bad); code != 400 {
			t.Errorf("body %q: %d, want 400", bad, code)
		}
	}
	// Patroni's do_POST_failsafe: a refusal is 500 with the reason as text.
	rec.err = errors.New("this member holds the leader key")
	if code, body := post(s, `{"name": "node1"}`); code != 500 || body != "this member holds the leader key" {
		t.Errorf("refused heartbeat: %d %q, want 500 with the reason", code, body)
	}
	// failsafe_mode off, or no receiver: 502 as Patroni.
	src.mu.Lock()
	src.state.Config = map[string]any{"failsafe_mode": false}
	src.mu.Unlock()
	rec.err = nil
	if code, _ := post(s, `{"name": "node1"}`); code != 502 || len(rec.leaders) != 2 {
		t.Errorf("failsafe_mode off: %d (receiver called %d times), want 502 without asking the receiver", code, len(rec.leaders))
	}
	src.mu.Lock()
	src.state.Config = map[string]any{"failsafe_mode": true}
	src.mu.Unlock()
	s2, _ := New(Config{Source: src})
	if code, _ := post(s2, `{"name":"node1"}`); code != 502 {
		t.Errorf("without a receiver: %d, want 502", code)
	}
}

// A leader retries while Raft is down: a member logs its refusal once per
// leader and reason, and once when it accepts again.
func TestFailsafe_RefusalLoggedOncePerReason(t *testing.T) {
	var buf strings.Builder
	src := &fakeSource{node: NodeStatus{Name: "node2", Scope: "anchor", State: "running", Role: "replica"},
		state: fsm.State{Config: map[string]any{"failsafe_mode": true}}}
	rec := &fakeFailsafe{err: errors.New("this member is taking over the leader key")}
	s, err := New(Config{Source: src, Failsafe: rec, Logger: hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})})
	if err != nil {
		t.Fatal(err)
	}
	post := func() {
		r := httptest.NewRequest(http.MethodPost, "/failsafe", strings.NewReader(`{"name":"node1"}`))
		r.RemoteAddr = "127.0.0.1:40000"
		s.Handler().ServeHTTP(httptest.NewRecorder(), r)
	}
	for i := 0; i < 3; i++ {
		post()
	}
	rec.err = nil
	post()
	post()
	if got := buf.String(); strings.Count(got, "failsafe heartbeat refused") != 1 || strings.Count(got, "failsafe heartbeat accepted again") != 1 ||
		strings.Count(got, "\n") != 2 {
		t.Fatalf("log:\n%s", got)
	}
}
