package agent

import (
	"context"
	"errors"
	"time"

	"github.com/conclave-ha/conclave/adapter"
)

// applyDynamic parses the stored dynamic configuration once per change
// (ConfigIndex) and, when it changed since applied, rewrites PostgreSQL's
// configuration and reloads it (adapter.ApplyDynamic). It returns the
// index now applied; a failed write is retried at the next state change.
func (a *Agent) applyDynamic(ctx context.Context, applied uint64) uint64 {
	idx := a.store.State().ConfigIndex
	if idx == applied {
		return applied
	}
	a.refreshDynamic()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	changed, err := a.pg.ApplyDynamic(actx)
	if errors.Is(err, adapter.ErrRoleUnknown) || errors.Is(err, adapter.ErrNotAdopted) {
		a.log.Debug("dynamic configuration not written yet", "index", idx, "reason", err)
		return applied
	}
	if err != nil {
		a.log.Error("applying the dynamic configuration to PostgreSQL failed", "index", idx, "error", err)
		return applied
	}
	if changed {
		a.log.Info("dynamic configuration applied to PostgreSQL (reloaded)", "index", idx)
		a.loop.Wake() // pending_restart is published by the next turn
	}
	return idx
}
