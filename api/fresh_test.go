package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-ha/conclave/fsm"
)

// freshSource is a fakeSource whose local copy lags behind: FreshCluster
// answers the state the Raft leader has (or err).
type freshSource struct {
	*fakeSource
	fresh fsm.State
	err   error
	calls int
}

func (f *freshSource) FreshCluster(context.Context) (fsm.State, error) {
	f.calls++
	return f.fresh.Clone(), f.err
}

// newLaggingServer serves a local state that has not applied the last
// write yet: pause set and the configuration at index 9 on the leader, not
// here.
func newLaggingServer(t *testing.T, freshErr error) (*testServer, *freshSource) {
	t.Helper()
	ts := newTestServer(t, replicaNode(), compatCluster(t))
	fresh := compatCluster(t)
	fresh.Config["pause"] = true
	fresh.ConfigIndex = 9
	fresh.History = []fsm.HistoryEntry{{Timeline: 1, LSN: 67109200, Reason: "no recovery target specified", NewLeader: "node2"}}
	src := &freshSource{fakeSource: ts.src, fresh: fresh, err: freshErr}
	srv, err := New(Config{Source: src, Config: ts.writer, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	srv.now = ts.srv.now
	ts.srv = srv
	return ts, src
}

func TestFreshRead_ClusterConfigHistory_ShowAWriteTheLocalCopyHasNotApplied(t *testing.T) {
	ts, src := newLaggingServer(t, nil)
	_, body := ts.getJSON("/cluster")
	if pause, _ := body.(map[string]any)["pause"].(bool); !pause {
		t.Errorf("/cluster pause = %v, want true (the fresh state's)", body.(map[string]any)["pause"])
	}
	rec := ts.do(http.MethodGet, "/config", "")
	if got := rec.Header().Get("ETag"); got != `"9"` {
		t.Errorf("/config ETag = %s, want \"9\" (the fresh state's)", got)
	}
	if !strings.Contains(rec.Body.String(), `"pause":true`) {
		t.Errorf("/config body = %s, want pause true", rec.Body)
	}
	if _, h := ts.getJSON("/history"); len(h.([]any)) != 1 {
		t.Errorf("/history = %v, want the fresh state's one entry", h)
	}
	// edit-config sends the ETag it read; the check must use the same state.
	rec = ts.doWithHeader(http.MethodPatch, "/config", `{"ttl": 40}`, "If-Match", `"9"`)
	if rec.Code != http.StatusOK {
		t.Errorf("PATCH /config with If-Match of the fresh read: %d %s, want 200", rec.Code, rec.Body)
	}
	if ts.writer.expectIndex != 9 {
		t.Errorf("SetConfig expectIndex = %d, want 9", ts.writer.expectIndex)
	}
	if src.calls != 4 {
		t.Errorf("FreshCluster called %d times, want 4", src.calls)
	}
}

func TestFreshRead_WithoutRaftLeader_AnswersFromTheLocalState(t *testing.T) {
	ts, _ := newLaggingServer(t, errors.New("no raft leader"))
	code, body := ts.getJSON("/cluster")
	if code != http.StatusOK {
		t.Fatalf("/cluster: %d", code)
	}
	if pause, _ := body.(map[string]any)["pause"].(bool); pause {
		t.Errorf("/cluster pause = true, want the local state's false")
	}
	if got := ts.do(http.MethodGet, "/config", "").Header().Get("ETag"); got != `"7"` {
		t.Errorf("/config ETag = %s, want the local \"7\"", got)
	}
}
