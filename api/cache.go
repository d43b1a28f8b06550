package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// StatusKeyer is implemented by a Source whose Status is costly (the agent's
// reads Raft's configuration and copies the replicated state). StatusKey must
// be cheap, never touch Raft writes or PostgreSQL, and change whenever
// Status or Cluster would change anything a health check decides on.
//
// With it, the health checks, /patroni, /liveness and /readiness answer from
// a view computed once per change: the key is read on every request, and the
// view is computed again when the key differs or the view is older than
// viewMaxAge. So a decision field (role, state, whether this node holds the
// leader key with a lease it still trusts, checked against the clock at
// every request) is never stale; only displayed values that move without a
// key change (raft commit index, dcs_last_seen) may be up to viewMaxAge old.
type StatusKeyer interface {
	StatusKey() StatusKey
}

// StatusKey summarises what the health checks decide on.
type StatusKey struct {
	Role, State string
	// HoldsLeaderKey must be checked against the lease's trust deadline at
	// the call, as NodeStatus.HoldsLeaderKey is.
	HoldsLeaderKey bool
	FailsafeActive bool
	// AppliedIndex is the last Raft index applied to the local state: every
	// change of the replicated state (leader, members' positions, sync,
	// dynamic configuration) moves it.
	AppliedIndex uint64
	// LoopLastRun moves at every HA loop turn, which is when PostgreSQL's
	// positions, timeline and replication rows are observed.
	LoopLastRun time.Time
}

// viewMaxAge bounds how old a cached view's displayed values may be.
const viewMaxAge = 100 * time.Millisecond

// cachedView is one view with its encoded /patroni body.
type cachedView struct {
	key  StatusKey
	at   time.Time // monotonic
	v    view
	body []byte // JSON of v.patroni(), with the trailing newline
}

// viewCache holds the last cachedView; compute serialises recomputations so
// a burst of requests after a change computes the view once, and a request
// arriving while an aged (same key) view is refreshed is answered from it.
type viewCache struct {
	cur     atomic.Pointer[cachedView]
	compute sync.Mutex
}

// current returns a view and its body that are true now: from the cache
// when the Source's key has not changed, else freshly computed.
func (s *Server) current(ctx context.Context) *cachedView {
	keyer, ok := s.cfg.Source.(StatusKeyer)
	if !ok {
		return s.computeView(ctx, StatusKey{})
	}
	key := keyer.StatusKey()
	c := s.views.cur.Load()
	if c != nil && c.key == key {
		if time.Since(c.at) < viewMaxAge {
			return c
		}
		// Same key, only displayed values aged: one request refreshes,
		// the others keep answering from the view (its decisions still hold).
		if !s.views.compute.TryLock() {
			return c
		}
		defer s.views.compute.Unlock()
		c = s.computeView(ctx, key)
		s.views.cur.Store(c)
		return c
	}
	s.views.compute.Lock()
	defer s.views.compute.Unlock()
	if c := s.views.cur.Load(); c != nil && c.key == key && time.Since(c.at) < viewMaxAge {
		return c // computed while we waited
	}
	c = s.computeView(ctx, key)
	// Stored under the key read before the view: if something changed in
	// between, the next request reads another key and computes again.
	s.views.cur.Store(c)
	return c
}

func (s *Server) computeView(ctx context.Context, key StatusKey) *cachedView {
	v := s.read(ctx)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v.patroni()); err != nil {
		buf.Reset()
		buf.WriteString(`{"error": "response not encodable"}` + "\n")
	}
	return &cachedView{key: key, at: time.Now(), v: v, body: buf.Bytes()}
}

// writeBody writes a precomputed JSON body.
func writeBody(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

var jsonContentType = []string{"application/json"}
