package api

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// keyedSource counts Status calls and derives its key from the node, as
// the agent does.
type keyedSource struct {
	fakeSource
	mu2   sync.Mutex
	reads int
}

func (k *keyedSource) Status(ctx context.Context) NodeStatus {
	k.mu2.Lock()
	k.reads++
	k.mu2.Unlock()
	return k.fakeSource.Status(ctx)
}

func (k *keyedSource) StatusKey() StatusKey {
	n := k.fakeSource.Status(context.Background())
	return StatusKey{Role: n.Role, State: n.State, HoldsLeaderKey: n.HoldsLeaderKey, LoopLastRun: n.LoopLastRun}
}

func (k *keyedSource) count() int {
	k.mu2.Lock()
	defer k.mu2.Unlock()
	return k.reads
}

func TestHealthCache_OneReadPerChange_LeaseLossIsImmediate(t *testing.T) {
	src := &keyedSource{fakeSource: fakeSource{node: leaderNode(), state: compatCluster(t)}}
	srv, err := New(Config{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) int {
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodGet, path, nil)
		srv.Handler().ServeHTTP(rec, req)
		return rec.code
	}
	for i := 0; i < 50; i++ {
		if code := get("/primary"); code != 200 {
			t.Fatalf("/primary = %d", code)
		}
	}
	if n := src.count(); n > 2 { // one, or two if viewMaxAge passed on a slow machine
		t.Fatalf("50 requests read the status %d times", n)
	}
	// Trust runs out: the very next request answers 503.
	src.mu.Lock()
	src.node.HoldsLeaderKey = false
	src.mu.Unlock()
	if code := get("/primary"); code != 503 {
		t.Fatalf("/primary after the lease ran out = %d, want 503", code)
	}
	if code := get("/"); code != 503 {
		t.Fatalf("/ after the lease ran out = %d, want 503", code)
	}
}

func TestHealthCache_DisplayedValuesAtMostMaxAgeOld(t *testing.T) {
	src := &keyedSource{fakeSource: fakeSource{node: leaderNode(), state: fsm.State{}}}
	srv, err := New(Config{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	first := srv.current(context.Background())
	src.mu.Lock()
	src.node.XLogLocation++ // moves without a key change
	src.mu.Unlock()
	deadline := time.Now().Add(10 * viewMaxAge)
	for srv.current(context.Background()) == first {
		if time.Now().After(deadline) {
			t.Fatal("the view was not computed again after viewMaxAge")
		}
		time.Sleep(viewMaxAge / 10) // polling a clock-driven expiry
	}
}

// recorder is a minimal ResponseWriter (httptest's would do; this one keeps
// the benchmark below free of its allocations).
type recorder struct {
	header http.Header
	code   int
	n      int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(p []byte) (int, error) { r.n += len(p); return len(p), nil }

func BenchmarkPrimary_Cached(b *testing.B) {
	src := &keyedSource{fakeSource: fakeSource{node: leaderNode(), state: fsm.State{}}}
	srv, _ := New(Config{Source: src})
	h := srv.Handler()
	req, _ := http.NewRequest(http.MethodGet, "/primary", nil)
	rec := &recorder{header: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(rec, req)
	}
}
