package ha

import (
	"fmt"

	"github.com/conclave-ha/conclave/fsm"
)

// Rule 4: a node with diverged history never streams silently. It is
// rewound onto the leader's timeline with pg_rewind, or, when that is off or
// failed, its data directory is moved aside (never deleted) and cloned anew.

// decideDiverged returns a plan when the local data must be brought onto
// the leader's timeline before it may stream from it.
func decideDiverged(o Observation, leader fsm.Member) (Plan, bool) {
	if o.PG.Running && !o.PG.InRecovery {
		return Plan{}, false // a writable primary is demoted first (immediate stop)
	}
	if leader.Host == "" || leader.Role != fsm.RolePrimary || leader.State != "running" {
		return Plan{}, false
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

// diverged reports whether local WAL may contain records the leader's
// timeline does not have. A node that was a primary on an older timeline is
// assumed diverged (pg_rewind finds out cheaply when it is not); a standby
// is diverged when it replayed past the point where its timeline ended.
func diverged(o Observation, leader fsm.Member) bool {
	if o.PG.Timeline == 0 {
		return false
	}
	if !o.PG.InRecovery {
		// A former primary: another primary on the same timeline number
		// was promoted independently, so only a newer or equal timeline
		// of someone else's means divergence is possible.
		return leader.Timeline >= o.PG.Timeline
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
