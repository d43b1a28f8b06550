package agent

import (
	"context"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
)

// pendingWriter lets the REST API request and cancel a switchover or
// failover through the replicated state (api.PendingWriter).
type pendingWriter struct{ store *raftstore.Store }

func (w pendingWriter) SetPending(ctx context.Context, p fsm.Pending) (uint64, error) {
	return w.store.Propose(ctx, fsm.SetPending{Pending: p})
}

func (w pendingWriter) ClearPending(ctx context.Context) (uint64, error) {
	return w.store.Propose(ctx, fsm.ClearPending{})
}
