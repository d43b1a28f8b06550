package ha

import (
	"fmt"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Rule 4: a node with diverged history never streams silently. It is
// rewound onto the leader's timeline with pg_rewind, or, when that is off,
// failed or cannot help, its data directory is moved aside (never deleted)
// and cloned anew.
//
// Timeline numbers do not name histories. In asynchronous mode a primary
// can promote from timeline 1 to 2 and die before anyone follows it, and
// another member then promotes from 1 to 2 as well. pg_rewind compares
// only the numbers: "source and target cluster are on the same timeline;
// no rewind required" (tried on PostgreSQL 15; both history files even
// named the same fork LSN), and the returning node then streams the new
// primary's WAL on top of rows nobody else has. So a former primary on the
// leader's timeline number, the leader being someone else, is diverged
// (the leader created that timeline by its own promotion; two primaries on
// one timeline number mean two forks) and is re-cloned; pg_rewind cannot
// fix it. A standby on the leader's number whose history file forked at
// another LSN than the leader's recorded fork is re-cloned the same way.

// decideDiverged returns a plan when the local data must be brought onto
// the leader's timeline before it may stream from it.
func decideDiverged(o Observation, leader fsm.Member) (Plan, bool) {
	if !runsAsPrimary(leader) {
		return Plan{}, false
	}
	if why := sameNumberFork(o, leader); why != "" {
		msg := fmt.Sprintf("timeline %d forked apart from leader %s's timeline %d (%s); pg_rewind cannot see that: moving the data directory aside to clone again",
			o.PG.Timeline, leader.Name, leader.Timeline, why)
		if o.PG.Running && !o.PG.InRecovery {
			return plan(msg, act(ActFence), act(ActMoveAside)), true
		}
		return plan(msg, act(ActMoveAside)), true
	}
	if o.PG.Running && !o.PG.InRecovery {
		return Plan{}, false // a writable primary is demoted first (immediate stop)
	}
	if !diverged(o, leader) {
		return Plan{}, false
	}
	if o.PG.Running && o.PG.Streaming {
		return Plan{}, false // PostgreSQL itself found a common history
	}
	if o.Config.UsePgRewind && !o.RewindFailed {
		return plan(fmt.Sprintf("timeline %d diverged from leader %s (timeline %d): rewinding", o.PG.Timeline, leader.Name, leader.Timeline),
			actOn(ActRewind, leader), actOn(ActStartReplica, leader)), true
	}
	why := "use_pg_rewind is off"
	if o.RewindFailed {
		why = "pg_rewind failed"
	}
	return plan(fmt.Sprintf("timeline %d diverged from leader %s and %s: moving the data directory aside to clone again",
		o.PG.Timeline, leader.Name, why), act(ActMoveAside)), true
}

// runsAsPrimary reports whether the leader's record shows its PostgreSQL
// running as primary, with an address: only then are its timeline and
// history entry what a local history is compared with.
func runsAsPrimary(leader fsm.Member) bool {
	return leader.Host != "" && leader.Role == fsm.RolePrimary && leader.State == "running"
}

// sameNumberFork says why the local timeline, numbered as the leader's, is
// another fork than the leader's ("" when it is not, or when nothing tells).
func sameNumberFork(o Observation, leader fsm.Member) string {
	if o.PG.Timeline == 0 || o.PG.Timeline != leader.Timeline || leader.Name == o.Self {
		return ""
	}
	if !o.PG.InRecovery {
		return "this node was a primary on that timeline number too"
	}
	entry, ok := leaderFork(o.State, leader)
	if !ok {
		return ""
	}
	// Tenures first: two forks can share the fork LSN (an idle primary
	// promoted twice from the same point), so equal LSNs prove nothing. The
	// marker travels with clones and rewinds, so a standby of the leader's
	// history carries the leader's tenure.
	if o.PG.TimelineEpoch != 0 && o.PG.TimelineEpoch != entry.Epoch {
		return fmt.Sprintf("local timeline created by tenure %d, the leader's by tenure %d", o.PG.TimelineEpoch, entry.Epoch)
	}
	if o.PG.ForkLSN == 0 || o.PG.ForkLSN == entry.LSN {
		return ""
	}
	return fmt.Sprintf("local fork at %s, the leader's at %s", formatLSN(o.PG.ForkLSN), formatLSN(entry.LSN))
}

// leaderFork returns where the leader's timeline forked off its parent, as
// the leader recorded it: the latest history entry for the parent timeline
// written by the leader itself (a leader on timeline N created N by its own
// promotion). Entries without an epoch (older versions, or a fork LSN the
// promoting node had to guess) are not used.
func leaderFork(st fsm.State, leader fsm.Member) (fsm.HistoryEntry, bool) {
	for i := len(st.History) - 1; i >= 0; i-- {
		h := st.History[i]
		if h.Timeline == leader.Timeline-1 {
			return h, h.NewLeader == leader.Name && h.Epoch != 0 && h.LSN != 0
		}
	}
	return fsm.HistoryEntry{}, false
}

// diverged reports whether local WAL may contain records the leader's
// timeline does not have. A node that was a primary on an older timeline is
// assumed diverged (pg_rewind finds out cheaply when it is not); a standby
// is diverged when it replayed past the point where its timeline ended.
func diverged(o Observation, leader fsm.Member) bool {
	if o.PG.Timeline == 0 {
		return false
	}
	if !o.PG.InRecovery {
		// A former primary on an older timeline (the same number is
		// sameNumberFork's case).
		return leader.Timeline > o.PG.Timeline
	}
	if leader.Timeline <= o.PG.Timeline {
		return false
	}
	if o.PG.Running && o.PG.Streaming {
		return false
	}
	for _, h := range o.State.History {
		if h.Timeline == o.PG.Timeline {
			return o.PG.WALPosition > h.LSN
		}
	}
	return false
}

// A standby that never streams again is repaired. The usual cause: a
// rewound former primary must replay the new primary's WAL from the fork
// point, and with wal_keep_size 0 and no slot reaching back that far a
// checkpoint on the new primary recycled it. PostgreSQL retries forever and
// nothing else notices. After stuckTurns loop turns without streaming while
// the leader runs, the adapter's reading of the PostgreSQL log decides:
// WAL the primary removed cannot come back, so the directory is moved aside
// and cloned again; a timeline the primary does not know (not a child,
// behind) is rewound once more, and moved aside if that did not help.
const stuckTurns = 5

// decideStuck returns a repair plan for a standby of leader that has not
// streamed for stuckTurns loop turns and whose log says why.
func decideStuck(o Observation, leader fsm.Member) (Plan, bool) {
	if !o.PG.Running || !o.PG.InRecovery || o.PG.Streaming || o.NotStreamingSince.IsZero() {
		return Plan{}, false
	}
	if leader.Host == "" || leader.Role != fsm.RolePrimary || leader.State != "running" || o.PG.Following != leader.Name {
		return Plan{}, false
	}
	wait := time.Duration(stuckTurns*max(o.Config.LoopWait, 1)) * time.Second
	if o.Now.Sub(o.NotStreamingSince) < wait || o.PG.StreamProblem == StreamOK {
		return Plan{}, false
	}
	why := fmt.Sprintf("not streaming from %s for %s: %s", leader.Name, o.Now.Sub(o.NotStreamingSince).Round(time.Second), o.PG.StreamDetail)
	if o.PG.StreamProblem == StreamTimeline && o.Config.UsePgRewind && !o.RewindFailed && !o.StuckRewound {
		return plan(why+": rewinding", actOn(ActStuckRewind, leader), actOn(ActStartReplica, leader)), true
	}
	if o.State.IsSync(o.Self) {
		// Rule 2: a recorded synchronous standby may be the only member
		// allowed to be promoted; its data stays until the primary has
		// dropped it from sync (it does so for a standby that does not
		// stream).
		return plan(why + ": recorded as a synchronous standby; waiting for the primary to drop it from sync before moving the data directory aside"), true
	}
	if o.StuckMovedAside {
		return plan(why + ": already cloned again once under this leader; waiting for the operator (reinit)"), true
	}
	return plan(why+": moving the data directory aside to clone again", act(ActStuckMoveAside)), true
}

// decideRewindAgain plans for a stopped PostgreSQL whose last pg_rewind did
// not complete: the data directory may be partly rewritten and must not
// start before a rewind completes. After a lost source it is rewound again
// (it counts as the stuck repair's one rewind once pg_rewind gets to a
// result); after a failed rewind it is moved aside and cloned.
func decideRewindAgain(o Observation, leader fsm.Member) Plan {
	if o.RewindFailed || !o.Config.UsePgRewind {
		return plan("pg_rewind did not complete and may have rewritten part of the data directory: moving it aside to clone again",
			act(ActMoveAside))
	}
	if leader.Host == "" || leader.Role != fsm.RolePrimary || leader.State != "running" {
		return plan(fmt.Sprintf("pg_rewind lost its source; waiting for leader %s to run before rewinding again", leader.Name))
	}
	return plan(fmt.Sprintf("pg_rewind lost its source; rewinding onto %s again before starting", leader.Name),
		actOn(ActStuckRewind, leader), actOn(ActStartReplica, leader))
}

// formatLSN writes an LSN as PostgreSQL does (0/3000060).
func formatLSN(lsn uint64) string { return fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn)) }
