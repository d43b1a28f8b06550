package ha

import (
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// stuckClock measures how long this running standby has gone without
// streaming, for decideStuck. It is owned by the loop (guarded by Loop.mu).
//
// The clock only counts time in which a repair would have been allowed and
// the cause could not have changed:
//   - not while the cluster is paused (rule 5: maintenance mode means hands
//     off; the first turn after a resume must not act on paused time).
type stuckClock struct {
	since time.Time // first seen not streaming in the current window (zero: not counting)
}

// observe updates the clock with one observation and returns the start of
// the current window (zero when not counting).
func (c *stuckClock) observe(now time.Time, pgs PGStatus, st fsm.State, self string, paused bool) time.Time {
	leads := st.Leader != nil && st.Leader.Member == self
	counting := !paused && !leads && pgs.Running && pgs.InRecovery && !pgs.Streaming
	if !counting {
		c.since = time.Time{}
		return c.since
	}
	if c.since.IsZero() {
		c.since = now
	}
	return c.since
}

// restart starts a new window (after a repair).
func (c *stuckClock) restart() { c.since = time.Time{} }
