package ha

import (
	"sort"
	"sync"

	"github.com/conclave-ha/conclave/fsm"
)

// Rule 2: no acknowledged synchronous commit is lost.
//
// Invariant: every commit PostgreSQL acknowledged is on every member the
// state records in Sync, and in synchronous mode only those members may be
// promoted (an empty Sync means nobody may). synchronous_standby_names
// always lists its standbys as "N (a, b…)" with N equal to their number,
// so each of them confirms each commit. The primary changes one side per
// turn, in an order that keeps the invariant:
//
//  1. drop unwanted standbys from the state first (they may lack later commits);
//  2. then drop from synchronous_standby_names whatever the state no longer lists;
//  3. add wanted standbys to synchronous_standby_names;
//  4. record them in the state only once PostgreSQL reports them "sync"
//     and their flush position passed the primary's WAL position read
//     after PostgreSQL was seen waiting for them (syncAdded), so they hold
//     every commit acknowledged before that (a standby is "sync" as soon
//     as it streams, even behind).
//
// Releasing commits that wait for a dropped standby (step 2) is safe: the
// state already says that standby may not be promoted. The new leader of a
// tenure starts from an empty set recorded under its own name.
//
// Every change of the recorded set is a SwapSync, a compare-and-swap on
// Sync.Version as this turn read it: a proposal whose outcome was unknown
// (Raft leader change mid-commit) and that lands after a later one is
// rejected, so the state never goes back to a set the primary already
// stopped waiting for.
//
// The choice is stable, as Patroni's: a healthy standby that is recorded,
// or already listed in synchronous_standby_names, is kept when another
// replica comes back, so /sync and /async do not flap for load balancers.

// Fencing (syncFence): a SwapSync whose outcome is unknown, or that
// committed but is not yet applied here, may still record a standby after
// this turn read the state. If the next turns then took that standby out of
// synchronous_standby_names (step 2 proposes nothing, so the version stays),
// it would land on the unchanged version and record a standby PostgreSQL no
// longer waits for. So while one may be in flight (SyncInDoubt: at loop
// start, after an unknown outcome, while the local state lags our last
// SwapSync), a step that removes a name from synchronous_standby_names
// first commits a fencing SwapSync of the set as recorded, at the version
// read: once it commits, Raft has settled every earlier entry and the
// version moved, so no earlier SwapSync can apply any more. If it is
// rejected (the version moved: an earlier one did apply), the next turn
// reads again.

// syncStep returns the next synchronous-replication action of a leader.
func syncStep(o Observation) (*Action, string) {
	a, why := syncStepUnfenced(o)
	if held, reason, ok := legacyHold(o, a); ok {
		return held, reason
	}
	if a != nil && a.Kind == ActSetSyncStandbys && o.SyncInDoubt && removesStandby(o.PG, a.Names) {
		return &Action{Kind: ActSetSync, Names: o.State.Sync.Members},
			"fencing synchronous standby changes in doubt before removing standbys from synchronous_standby_names"
	}
	return a, why
}

// removesStandby reports whether writing names stops PostgreSQL waiting
// for a standby it waits for now.
func removesStandby(pg PGStatus, names []string) bool {
	if pg.SyncAny {
		return true
	}
	for _, n := range pg.SyncStandbys {
		if !contains(names, n) {
			return true
		}
	}
	return false
}

func syncStepUnfenced(o Observation) (*Action, string) {
	st := o.State
	if !o.Config.SynchronousMode {
		switch {
		case len(st.Sync.Members) > 0 || (st.Sync.Leader != "" && st.Sync.Leader != o.Self):
			return &Action{Kind: ActSetSync}, "synchronous mode off: clearing the recorded synchronous standbys"
		case len(o.PG.SyncStandbys) > 0 || o.PG.SyncAny:
			return &Action{Kind: ActSetSyncStandbys}, "synchronous mode off: clearing synchronous_standby_names"
		}
		return nil, ""
	}
	if st.Sync.Leader != o.Self {
		return &Action{Kind: ActSetSync}, "new tenure: recording an empty synchronous standby set under this leader"
	}
	want := pickSync(o)
	recorded := st.Sync.Members
	if keep := intersect(recorded, want); len(keep) != len(recorded) {
		return &Action{Kind: ActSetSync, Names: keep}, "dropping synchronous standbys that are gone or no longer wanted"
	}
	allowed := union(recorded, want)
	if keep := intersect(o.PG.SyncStandbys, allowed); len(keep) != len(o.PG.SyncStandbys) || (o.PG.SyncAny && len(keep) > 0) {
		return &Action{Kind: ActSetSyncStandbys, Names: keep}, "removing standbys from synchronous_standby_names"
	}
	if next := union(o.PG.SyncStandbys, want); len(next) != len(o.PG.SyncStandbys) {
		return &Action{Kind: ActSetSyncStandbys, Names: next}, "adding synchronous standbys to synchronous_standby_names"
	}
	if len(o.PG.SyncStandbys) == 0 && o.Config.SynchronousModeStrict && !o.PG.SyncAny {
		return &Action{Kind: ActSetSyncStandbys}, "strict synchronous mode without a standby: commits wait for any standby"
	}
	var confirmed []string
	for _, r := range o.PG.Replicas {
		if (r.SyncState == "sync" || r.SyncState == "quorum") && contains(want, r.Name) && !contains(recorded, r.Name) &&
			flushedSinceAdded(o, r) {
			confirmed = append(confirmed, r.Name)
		}
	}
	if len(confirmed) > 0 {
		return &Action{Kind: ActSetSync, Names: union(recorded, confirmed)}, "recording confirmed synchronous standbys"
	}
	return nil, ""
}

// flushedSinceAdded reports whether standby r flushed past the WAL position
// read after PostgreSQL was seen waiting for it: every commit acknowledged
// without it lies below that position. Unknown position (not yet seen in
// effect, or the agent restarted): not yet.
func flushedSinceAdded(o Observation, r Replica) bool {
	at, ok := o.SyncAddedAt[r.Name]
	return ok && r.FlushLSN >= at
}

// pickSync chooses up to synchronous_node_count standbys: live, streaming,
// without nosync; the recorded ones first, then those PostgreSQL already
// waits for (being added), then the others by name. A returning replica
// therefore never displaces a healthy current one.
func pickSync(o Observation) []string {
	var recorded, listed, others []string
	for _, name := range o.State.MemberNames() {
		m := o.State.Members[name]
		if name == o.Self || !o.LiveMembers[name] || m.State != "streaming" || m.Tag("nosync") || !streamingFrom(o, name) {
			continue
		}
		switch {
		case contains(o.State.Sync.Members, name):
			recorded = append(recorded, name)
		case contains(o.PG.SyncStandbys, name):
			listed = append(listed, name)
		default:
			others = append(others, name)
		}
	}
	n := o.Config.SynchronousNodeCount
	if n < 1 {
		n = 1
	}
	out := append(append(recorded, listed...), others...)
	if len(out) > n {
		out = out[:n]
	}
	sort.Strings(out)
	return out
}

// streamingFrom reports whether the primary sees name streaming.
func streamingFrom(o Observation, name string) bool {
	for _, r := range o.PG.Replicas {
		if r.Name == name && r.State == "streaming" {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if contains(b, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func union(a, b []string) []string {
	out := append([]string{}, a...)
	for _, x := range b {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// syncAdded remembers, for each standby in synchronous_standby_names, the
// primary's WAL position read after PostgreSQL was seen waiting for it.
//
// Why "after": a reload takes effect a little later than it is asked for,
// and commits acknowledged in between did not wait for the new standby. A
// SHOW that lists the standby proves the new setting is in effect; every
// position read after that SHOW is at or above every commit acknowledged
// without the standby. Two ways to see the SHOW: SetSyncStandbys returns
// only after one (inEffect), and each observation of the primary reads
// synchronous_standby_names after its WAL position (observed). Either way
// the position comes from the next observation, a loop turn later, which
// also leaves the other processes (walsenders, checkpointer) a loop_wait
// to handle the reload signal. The second way also covers an agent
// restart, where nothing is known.
//
// Owned by the HA loop goroutine; the mutex only guards reads for tests.
type syncAdded struct {
	mu    sync.Mutex
	shown map[string]bool   // in effect, no position read since
	at    map[string]uint64 // position read after it was in effect
}

// observed takes one full observation of the local PostgreSQL.
func (t *syncAdded) observed(pgs PGStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.at == nil {
		t.at, t.shown = map[string]uint64{}, map[string]bool{}
	}
	listed := pgs.Running && !pgs.InRecovery
	for n := range t.at {
		if !listed || !contains(pgs.SyncStandbys, n) {
			delete(t.at, n)
		}
	}
	for n := range t.shown {
		if !listed || !contains(pgs.SyncStandbys, n) {
			delete(t.shown, n)
		}
	}
	if !listed {
		return
	}
	for _, n := range pgs.SyncStandbys {
		switch _, known := t.at[n]; {
		case known:
		case t.shown[n]:
			// Shown by an earlier SHOW; this position was read after it.
			t.at[n] = pgs.WALPosition
			delete(t.shown, n)
		default:
			// This observation's SHOW ran after its WAL read.
			t.shown[n] = true
		}
	}
}

// inEffect records that a SHOW listed names (SetSyncStandbys returned).
func (t *syncAdded) inEffect(names []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.at == nil {
		t.at, t.shown = map[string]uint64{}, map[string]bool{}
	}
	for _, n := range names {
		if _, known := t.at[n]; !known {
			t.shown[n] = true
		}
	}
}

// positions returns a copy of the known positions.
func (t *syncAdded) positions() map[string]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]uint64, len(t.at))
	for n, at := range t.at {
		out[n] = at
	}
	return out
}

// syncCommand records names as the tenure epoch's synchronous standbys:
// a SwapSyncSealed against version when every agent applies it (it also
// refuses any later SetSync of the tenure), else a SwapSync, else the older
// SetSync (no version check), since an older agent stops at a command type
// it does not know (fsm/protocol.go, ha/protocol.go).
func syncCommand(supports func(level int) bool, self string, epoch, version uint64, names []string) fsm.Command {
	switch {
	case supports(fsm.ProtocolCAS):
		return fsm.SwapSyncSealed{Leader: self, Epoch: epoch, ExpectVersion: version, Members: names}
	case supports(fsm.ProtocolSwapSync):
		return fsm.SwapSync{Leader: self, Epoch: epoch, ExpectVersion: version, Members: names}
	}
	return fsm.SetSync{Leader: self, Epoch: epoch, Members: names}
}

// syncFence tracks whether a sync-set proposal of this node may still
// change the recorded set unseen (see syncStep). It starts in doubt: an
// earlier run of this agent may have left one in flight.
//
// Owned by the HA loop goroutine; the mutex only guards reads for tests.
type syncFence struct {
	mu      sync.Mutex
	settled bool   // no proposal in doubt since the last one that committed
	at      uint64 // index of the last one that committed
	// legacyEpoch, legacyNames: standbys an unversioned SetSync of tenure
	// legacyEpoch whose outcome is unknown may still record (sync_legacy.go).
	legacyEpoch uint64
	legacyNames []string
}

// proposed notes the outcome of a SwapSync (or SetSync) proposal. A
// commit settles every earlier entry; a rejection by the FSM changed
// nothing; any other error may hide a commit (ErrUnknownOutcome, a
// timeout through a forwarding follower).
func (f *syncFence) proposed(index uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err == nil:
		f.settled, f.at = true, index
	case fsm.ErrorCode(err) == "":
		f.settled = false
	}
}

// inDoubt reports whether a proposal may still change the set unseen by a
// state applied up to applied.
func (f *syncFence) inDoubt(applied uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.settled || applied < f.at
}
