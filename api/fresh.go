package api

import (
	"context"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// FreshReader is implemented by a Source that can read the replicated state
// as of the request: a state that includes every write acknowledged before
// it (a Raft read-index, which a follower answers after asking the leader).
//
// Why the views a user reads from need it: a write is acknowledged once the
// Raft leader applied it, and a follower applies it with the leader's next
// message, tens of milliseconds later. Without a fresh read, `conclave pause`
// (answered by the primary's agent) followed by `conclave list` (read from
// another member) showed the cluster not paused, a scheduled restart just
// stored or flushed was shown the other way round, and a second `edit-config`
// read a stale ETag and was refused as a concurrent change.
type FreshReader interface {
	FreshCluster(ctx context.Context) (fsm.State, error)
}

// freshReadWait bounds the wait for a fresh read. Without a Raft leader (an
// election, a lost quorum) the answer is this node's own state after it: a
// view that may be behind is still better than none while the cluster is in
// trouble, and health checks never come this way.
const freshReadWait = 500 * time.Millisecond

// freshCluster is the replicated state for /cluster, /history and /config:
// a fresh read when the Source offers one and it answers within
// freshReadWait, else the local copy.
func (s *Server) freshCluster(ctx context.Context) fsm.State {
	if fr, ok := s.cfg.Source.(FreshReader); ok {
		ctx, cancel := context.WithTimeout(ctx, freshReadWait)
		defer cancel()
		st, err := fr.FreshCluster(ctx)
		if err == nil {
			return st
		}
		s.logger.Debug("fresh read failed: answering from the local state", "error", err)
	}
	return s.cfg.Source.Cluster()
}
