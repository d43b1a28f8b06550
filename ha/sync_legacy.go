package ha

import (
	"fmt"
	"strings"

	"github.com/conclave-ha/conclave/fsm"
)

// An unversioned SetSync in doubt (rule 2 across a rolling upgrade).
//
// Below fsm.ProtocolSwapSync the primary records its sync set with SetSync,
// which carries no version. One whose outcome is unknown (a Raft leader
// change mid-commit, a forwarded proposal whose answer was lost) may still
// land later, even after a newer change, and record its set on an unchanged
// version: a SwapSync fence (syncFence) cannot refuse it. If PostgreSQL had
// meanwhile stopped waiting for a standby of that set, the state would name
// a standby that lacks acknowledged commits, and it could be promoted.
//
// So the holder remembers, for its tenure, the standbys of every SetSync it
// sent whose outcome is unknown, and keeps PostgreSQL waiting for each of
// them (step 2 of syncStep does not remove it) until a SwapSyncSealed of
// the tenure commits: from then on Apply refuses every SetSync of the
// tenure (fsm/cas.go), so the late one can never land. SwapSyncSealed needs
// every agent at fsm.ProtocolCAS; until then such a standby stays in
// synchronous_standby_names even if it stops streaming, and commits wait
// for it (safe, not live: the price of an older agent in the cluster). A
// standby that is not waited for when the doubt arises was not in the set
// that SetSync sent (the set is recorded in the turn its standbys were
// confirmed), so keeping the named ones is enough.
//
// The memory is the agent's: an agent restarted right after such a
// proposal does not know it (see Known limits in DESIGN.md).

// legacy notes the outcome of a sync proposal cmd for the legacy doubt.
func (f *syncFence) legacy(cmd fsm.Command, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch c := cmd.(type) {
	case fsm.SetSync:
		if err == nil || fsm.ErrorCode(err) != "" || len(c.Members) == 0 {
			return // committed once and for all, refused, or nothing to keep
		}
		if f.legacyEpoch != c.Epoch {
			f.legacyEpoch, f.legacyNames = c.Epoch, nil
		}
		f.legacyNames = union(f.legacyNames, c.Members)
	case fsm.SwapSyncSealed:
		if err == nil && f.legacyEpoch == c.Epoch {
			f.legacyEpoch, f.legacyNames = 0, nil // sealed: no SetSync of the tenure applies any more
		}
	}
}

// legacyFor returns the standbys a SetSync in doubt of self's current
// tenure may still record (nil when none, or another tenure now).
func (f *syncFence) legacyFor(st fsm.State, self string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.legacyNames) == 0 || st.Leader == nil || st.Leader.Member != self || st.Leader.Epoch != f.legacyEpoch {
		return nil
	}
	if st.Sync.SealedEpoch == f.legacyEpoch {
		return nil // sealed by a SwapSyncSealed whose answer this node missed
	}
	return append([]string(nil), f.legacyNames...)
}

// legacyHold checks a step that writes synchronous_standby_names against
// the legacy doubt: a standby a SetSync in doubt may still record is not
// removed. With every agent at ProtocolCAS the sealing SwapSync of the set
// as recorded goes first; otherwise the step waits.
func legacyHold(o Observation, a *Action) (*Action, string, bool) {
	if a == nil || a.Kind != ActSetSyncStandbys || len(o.SyncLegacyDoubt) == 0 {
		return nil, "", false
	}
	var kept []string
	for _, n := range o.PG.SyncStandbys {
		if contains(o.SyncLegacyDoubt, n) && !contains(a.Names, n) {
			kept = append(kept, n)
		}
	}
	if len(kept) == 0 {
		return nil, "", false
	}
	if o.Supports(fsm.ProtocolCAS) {
		return &Action{Kind: ActSetSync, Names: o.State.Sync.Members},
			"sealing the synchronous standby record before removing standbys an unversioned SetSync in doubt may record", true
	}
	return &Action{Kind: ActWait}, fmt.Sprintf("keeping %s in synchronous_standby_names: an unversioned SetSync in doubt may still record it, "+
		"and it cannot be refused until every agent applies protocol %d", strings.Join(kept, ", "), fsm.ProtocolCAS), true
}

// syncSupports is the gate for the sync command of tenure epoch: a tenure
// already sealed by a SwapSyncSealed keeps using it whatever the gate says
// now. Apply refuses a SetSync of a sealed tenure on agents at
// fsm.ProtocolCAS, while an older agent that joined since (through a
// snapshot, so it never met the type-18 entry) would apply it and diverge;
// a SwapSyncSealed makes that agent stop instead (fsm/cas.go).
func syncSupports(st fsm.State, epoch uint64, supports func(level int) bool) func(level int) bool {
	if epoch != 0 && st.Sync.SealedEpoch == epoch {
		return func(int) bool { return true }
	}
	return supports
}
