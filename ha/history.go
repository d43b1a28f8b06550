package ha

import (
	"context"
	"errors"

	"github.com/conclave-ha/conclave/fsm"
)

// Rule 4 relies on the history entry of each promotion: standbys on the
// leader's timeline number compare their fork with it (diverged.go). A
// proposal lost at promotion (no quorum for a moment) would leave the check
// off for the whole tenure, so the leader keeps the entry and proposes it
// again in later turns (ActRecordHistory) until one for its tenure exists.

// pendingHistory is a promotion's entry not yet recorded. It is owned by
// the loop (guarded by Loop.mu).
type pendingHistory struct {
	entry  fsm.HistoryEntry
	tenure uint64 // the leader epoch that promoted (entry.Epoch may be 0: guessed LSN)
}

// pendingFor returns whether an entry of self's current tenure waits to be
// recorded; an entry of another tenure is dropped (that tenure is over).
func (h *pendingHistory) pendingFor(st fsm.State, self string) bool {
	if h.tenure == 0 {
		return false
	}
	if st.Leader == nil || st.Leader.Member != self || st.Leader.Epoch != h.tenure {
		*h = pendingHistory{}
		return false
	}
	return true
}

// recordHistory proposes the pending entry again; it is done once the
// state holds it (a proposal whose answer was lost may have committed) or
// the state machine rejected it (retrying cannot help).
func (l *Loop) recordHistory(ctx context.Context, o Observation) error {
	l.mu.Lock()
	h := l.repairs.history
	l.mu.Unlock()
	if h.tenure == 0 {
		return nil
	}
	done := func() {
		l.mu.Lock()
		if l.repairs.history == h {
			l.repairs.history = pendingHistory{}
		}
		l.mu.Unlock()
	}
	for _, e := range l.cluster.State().History {
		// An entry recorded with the older AppendHistory carries no epoch.
		if e.NewLeader == h.entry.NewLeader && e.Timeline == h.entry.Timeline && e.LSN == h.entry.LSN &&
			(e.Epoch == h.entry.Epoch || e.Epoch == 0) {
			done()
			return nil
		}
	}
	// An older agent stops at AppendTenureHistory: while one is listed, the
	// entry goes in without its tenure, and the standby fork check, which
	// trusts only entries with a tenure, does not run for this timeline
	// (DESIGN.md, rolling upgrades; former primaries are still caught).
	var cmd fsm.Command = fsm.AppendTenureHistory{Entry: h.entry}
	if !o.Supports(fsm.ProtocolTenureHistory) {
		legacy := h.entry
		legacy.Epoch = 0
		cmd = fsm.AppendHistory{Entry: legacy}
	}
	_, err := l.propose(ctx, o, cmd)
	if err == nil || errors.Is(err, fsm.ErrInvalidCommand) || fsm.ErrorCode(err) != "" {
		if err != nil {
			l.log.Warn("the timeline switch cannot be recorded", "timeline", h.entry.Timeline+1, "error", err)
		}
		done()
		return nil
	}
	return err
}
