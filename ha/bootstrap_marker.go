package ha

import (
	"fmt"
	"slices"

	"github.com/conclave-ha/conclave/fsm"
)

// A custom bootstrap (bootstrap.method: pgbackrest with a recovery target)
// cut short, across agent restarts (rule 3, and "a half-recovered directory
// never seeds a cluster").
//
// The restore tool writes the data directory, then PostgreSQL replays WAL
// until the recovery target and is promoted. Killed in the middle (the agent,
// or the whole node), the directory holds either a partial copy or a server
// that stopped short of the target; the initialize claim is still this
// member's, with no system identifier. Without more, the restarted agent
// took that directory for the finished bootstrap ("finishing interrupted
// initialization"), published its system identifier and promoted it short of
// the target, losing every row between; or, had the claim been given back, it
// seeded the cluster from it as a running primary's data.
//
// The adapter writes a marker (outside the data directory) before the
// restore runs and removes it only after the server reached the target, was
// promoted and the bootstrap's roles exist, before the system identifier is
// published. Observe reports it (PGStatus.BootstrapCutShort) and, while it
// is there, the directory counts for nothing:
//
//   - the claim is this member's (or nobody's): the bootstrap runs again
//     from the start (ActBootstrap). The adapter stops a postmaster still
//     replaying, moves the directory aside (never deleted) and restores into
//     an empty one, to the same target. Continuing the old recovery instead
//     would be faster but trusts a directory whose state depends on where the
//     kill hit (partial copy, recovery settings half-written, promoted but not
//     checkpointed); a fresh restore ends where an uninterrupted one would.
//   - another member holds the claim, or (the claim lost with the Raft
//     state) another live member runs a primary, or another member reports
//     data or a Raft server has not reported yet (decideBootstrap): wait, as any
//     member does.
//   - the cluster is initialized (another member bootstrapped it while this
//     one was down): the directory is moved aside (ActMoveAside clears the
//     marker too) and the member clones like a new one; without a directory
//     it clones straight away (Clone clears the marker).
//
// Nothing else runs first: no seed, takeover, election or start looks at
// the directory while the marker is there, and paused mode still touches
// nothing (rule 5).

// decideBootstrapCutShort plans for a member whose custom bootstrap was cut
// short; false lets Decide go on (no directory left to distrust).
func decideBootstrapCutShort(o Observation) (Plan, bool) {
	init := o.State.Initialize
	hasDir := o.PG.DataDir != DataDirMissing && o.PG.DataDir != DataDirEmpty
	switch {
	case init == nil && liveOtherPrimary(o) != "":
		// Raft state lost while another member runs a primary (it
		// initialized the cluster meanwhile): its takeover seeds the
		// state; this directory is moved aside once it has.
		return plan(fmt.Sprintf("custom bootstrap was cut short; %s runs a primary: waiting for it to initialize the cluster", liveOtherPrimary(o))), true
	case init == nil:
		// The claim lost with the Raft state: a restore runs again only
		// where any member without data would initialize (rebuild.go):
		// another member's data, a stopped primary included, is the
		// cluster's, and a Raft server that has not reported may hold it.
		if p := decideBootstrap(o); !slices.Contains(p.Kinds(), ActBootstrap) {
			return plan("custom bootstrap was cut short; " + p.Reason), true
		}
		return restoreAgain(), true
	case init.Member == o.Self && init.SystemID == "":
		return restoreAgain(), true
	case init.SystemID == "":
		return plan(fmt.Sprintf("cluster is being initialized by %s (local custom bootstrap was cut short)", init.Member)), true
	case hasDir:
		return plan("custom bootstrap was cut short and the cluster was initialized meanwhile: moving the directory aside to clone",
			act(ActMoveAside)), true
	}
	return Plan{}, false
}

// restoreAgain runs the custom bootstrap again from the start.
func restoreAgain() Plan {
	return plan("custom bootstrap was cut short before reaching its recovery target: restoring again (the directory is moved aside)",
		act(ActBootstrap))
}

// liveOtherPrimary names a live member other than this one that reports a
// running primary ("" when none).
func liveOtherPrimary(o Observation) string {
	for _, name := range o.State.MemberNames() {
		m := o.State.Members[name]
		if name != o.Self && o.LiveMembers[name] && m.Role == fsm.RolePrimary && m.State == "running" {
			return name
		}
	}
	return ""
}
