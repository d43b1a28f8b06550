package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-ha/conclave/fsm"
)

// compatDir holds what Patroni 3.0.2 printed: copies of the captures in
// shared/compat/patroni-3.0.2 (see its README.md), kept here so the tests
// never depend on a folder outside the repository.
const compatDir = "testdata/patroni-3.0.2"

// fakeSource is a Source with fixed answers.
type fakeSource struct {
	mu    sync.Mutex
	node  NodeStatus
	state fsm.State
}

func (f *fakeSource) Status(context.Context) NodeStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.node
}

func (f *fakeSource) Cluster() fsm.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state.Clone()
}

// fakeWriter records SetConfig calls and returns err.
type fakeWriter struct {
	calls       int
	cfg         map[string]any
	expectIndex uint64
	err         error
}

func (w *fakeWriter) SetConfig(_ context.Context, cfg map[string]any, expectIndex uint64) error {
	w.calls++
	w.cfg, w.expectIndex = cfg, expectIndex
	return w.err
}

// testNow is the clock of every test server.
var testNow = time.Date(2026, 11, 26, 21, 27, 0, 0, time.UTC)

func ts(s string) *time.Time {
	t, err := time.Parse("2006-01-02 15:04:05.999999-07:00", s)
	if err != nil {
		panic(err)
	}
	return &t
}

// compatConfig is the dynamic configuration of the Patroni capture.
func compatConfig(t *testing.T) map[string]any {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal([]byte(compatBody(t, "rest_leader_config.txt")), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// compatCluster mirrors the capture: node2 leads, node1 and node3 stream.
func compatCluster(t *testing.T) fsm.State {
	member := func(n int, role string) fsm.Member {
		name := "node" + string(rune('0'+n))
		return fsm.Member{
			Name: name, Role: role, State: "running",
			APIURL: "http://127.0.0.1:2580" + string(rune('0'+n)) + "/patroni",
			Host:   "127.0.0.1", Port: 25430 + n, Timeline: 1,
			WALPosition: 67108864,
		}
	}
	return fsm.State{
		Index:       40,
		Initialize:  &fsm.Initialize{Member: "node2", SystemID: "7712594815253989143"},
		Leader:      &fsm.Leader{Member: "node2", Epoch: 12, TTL: 30},
		LeaderIndex: 39,
		Members: map[string]fsm.Member{
			"node1": member(1, fsm.RoleReplica),
			"node2": member(2, fsm.RolePrimary),
			"node3": member(3, fsm.RoleReplica),
		},
		Config:      compatConfig(t),
		ConfigIndex: 7,
	}
}

// leaderNode is node2 of the capture.
func leaderNode() NodeStatus {
	return NodeStatus{
		Name: "node2", Scope: "anchor", Version: "3.0.2",
		State: "running", Role: fsm.RolePrimary, HoldsLeaderKey: true,
		PostmasterStartTime: ts("2026-11-26 21:26:55.871533+00:00"),
		ServerVersion:       150018, Timeline: 1, XLogLocation: 67108864,
		Replication: []Replication{
			{Usename: "replicator", ApplicationName: "node3", ClientAddr: "127.0.0.1", State: "streaming", SyncState: "async"},
			{Usename: "replicator", ApplicationName: "node1", ClientAddr: "127.0.0.1", State: "streaming", SyncState: "async"},
		},
		SystemID:     "7712594815253989143",
		DCSLastSeen:  time.Unix(1795728418, 0),
		LoopLastRun:  testNow.Add(-time.Second),
		LoopInterval: time.Second,
	}
}

// replicaNode is node1 of the capture, streaming from node2.
func replicaNode() NodeStatus {
	return NodeStatus{
		Name: "node1", Scope: "anchor", Version: "3.0.2",
		State: "running", Role: fsm.RoleReplica,
		PostmasterStartTime: ts("2026-11-26 21:26:57.209148+00:00"),
		ServerVersion:       150018, Timeline: 1,
		ReceivedLocation: 67108864, ReplayedLocation: 67108864,
		WALReceiverStreaming: true,
		SystemID:             "7712594815253989143",
		DCSLastSeen:          time.Unix(1795728418, 0),
		LoopLastRun:          testNow.Add(-time.Second),
		LoopInterval:         time.Second,
	}
}

type testServer struct {
	t      *testing.T
	src    *fakeSource
	writer *fakeWriter
	srv    *Server
	reg    *prometheus.Registry
}

func newTestServer(t *testing.T, node NodeStatus, state fsm.State) *testServer {
	t.Helper()
	ts := &testServer{t: t, src: &fakeSource{node: node, state: state}, writer: &fakeWriter{}, reg: prometheus.NewRegistry()}
	srv, err := New(Config{Source: ts.src, Config: ts.writer, Registry: ts.reg})
	if err != nil {
		t.Fatal(err)
	}
	srv.now = func() time.Time { return testNow }
	ts.srv = srv
	return ts
}

// do sends one request through the handler.
func (ts *testServer) do(method, target, body string) *httptest.ResponseRecorder {
	ts.t.Helper()
	return ts.doWithHeader(method, target, body, "", "")
}

// doWithHeader is do with one request header (none when key is empty).
func (ts *testServer) doWithHeader(method, target, body, key, value string) *httptest.ResponseRecorder {
	ts.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if key != "" {
		req.Header.Set(key, value)
	}
	req.RemoteAddr = "127.0.0.1:40000" // the default guard lets writes in from loopback only
	rec := httptest.NewRecorder()
	ts.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// getJSON sends GET and decodes the JSON body.
func (ts *testServer) getJSON(target string) (int, any) {
	ts.t.Helper()
	rec := ts.do(http.MethodGet, target, "")
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		ts.t.Fatalf("GET %s: content type %q", target, ct)
	}
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		ts.t.Fatalf("GET %s: %v: %s", target, err, rec.Body)
	}
	return rec.Code, v
}

// compatBody returns the body line of a capture file: after "# GET ..." and
// "HTTP <code> content-type=...".
func compatBody(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(compatDir, file))
	if err != nil {
		t.Fatalf("compat capture missing: %v", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 3 {
		t.Fatalf("%s: too short", file)
	}
	return strings.Join(lines[2:], "\n")
}

func compatJSON(t *testing.T, file string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(compatBody(t, file)), &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return v
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return f
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }
