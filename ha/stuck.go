package ha

import (
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// repairs is the loop's memory for rule 4's repairs, owned by the loop
// (guarded by Loop.mu).
type repairs struct {
	stuck         stuckClock     // how long this standby has not streamed
	rewindPending bool           // the last pg_rewind did not complete: not started before a repair (execute.go)
	history       pendingHistory // this tenure's promotion entry not yet recorded (history.go)
}

// stuckClock measures how long this running standby has gone without
// streaming, for decideStuck. It is owned by the loop (guarded by Loop.mu).
//
// The clock only counts time in which a repair would have been allowed and
// the cause could not have changed:
//   - not while the cluster is paused (rule 5: maintenance mode means hands
//     off; the first turn after a resume must not act on paused time).
//   - only under one leader tenure and one followed member: a new leader is
//     a new upstream (Follow is only a reload), so the old one's failures
//     say nothing about it. The adapter likewise reads only log lines
//     written after its last Follow or Start.
//   - only while nothing moves: a standby catching up from the WAL archive
//     (restore_command) logs "has already been removed" on every
//     walreceiver retry while its replay advances. Any move of the replayed
//     or received position restarts the window, so a repair needs a whole
//     window with neither moving.
type stuckClock struct {
	since  time.Time // first seen not streaming in the current window (zero: not counting)
	epoch  uint64    // leader tenure of the window
	leader string    // member followed in the window
	replay uint64    // replayed position when last seen
	recv   uint64    // received position when last seen
	// movedEpoch is the leader tenure in which the repair last moved the
	// data directory aside: at most once per tenure, so a cause the clone
	// does not cure (a primary that recycles WAL faster than a clone takes)
	// cannot make the node clone over and over; it waits for the operator.
	movedEpoch uint64
}

// movedAside reports whether the repair already moved the directory aside
// under the current leader tenure.
func (c *stuckClock) movedAside(st fsm.State) bool {
	return st.Leader != nil && c.movedEpoch == st.Leader.Epoch
}

// observe updates the clock with one observation and returns the start of
// the current window (zero when not counting).
func (c *stuckClock) observe(now time.Time, pgs PGStatus, st fsm.State, self string, paused bool) time.Time {
	leads := st.Leader != nil && st.Leader.Member == self
	counting := !paused && !leads && st.Leader != nil && pgs.Running && pgs.InRecovery && !pgs.Streaming
	if !counting {
		c.since = time.Time{}
		return c.since
	}
	if c.since.IsZero() || c.epoch != st.Leader.Epoch || c.leader != pgs.Following ||
		c.replay != pgs.ReplayedLSN || c.recv != pgs.ReceivedLSN {
		c.since, c.epoch, c.leader = now, st.Leader.Epoch, pgs.Following
		c.replay, c.recv = pgs.ReplayedLSN, pgs.ReceivedLSN
	}
	return c.since
}

// restart starts a new window (after a repair).
func (c *stuckClock) restart() { c.since = time.Time{} }
