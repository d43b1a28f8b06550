package ha

import (
	"context"
	"errors"
	"fmt"

	"github.com/conclave-ha/conclave/fsm"
)

// A key holder whose stopped PostgreSQL has a standby's data (it took the
// key and PostgreSQL died before the promotion, or the agent restarted
// then) starts it as a standby and promotes it the next turn (decideHolder,
// rule 4). Starting a standby after a crash replays WAL first, which can
// take minutes; without a renewal meanwhile the lease lapsed after ttl and
// another member took over, a needless failover.
//
// So the step renews first (retried within the trust, as for a crash
// recovery of a primary), and the background renewer keeps renewing while
// it runs, bounded like that recovery: primary_start_timeout since
// PostgreSQL was first seen down (the same bound ends the start, and Decide
// gives the key up at the same moment).
//
// Rule 1: a standby accepts no writes. This step only ever starts
// PostgreSQL read-only (a standby following nobody), whether or not the
// renewal committed, and never promotes; the promotion is a later turn's,
// which checks the trust before and after it (promote). Renewing only keeps
// others from taking the key while this member may still promote; the lease
// argument (lease.go) is the same as for any renewal: the trust counts from
// the renewal's send time and the watchdog is armed with it.
//
// When the bound ends the start, the key is given back in the same step.
// No fence is needed for rule 1 (whatever comes up is a standby), but a
// postmaster the cancelled pg_ctl forked would still come up; it is fenced
// first anyway so the next turn sees a settled data directory.
func (l *Loop) recoverStandby(ctx context.Context, o Observation) error {
	renewErr := l.renewWithinTrust(ctx, o)
	if renewErr != nil {
		l.log.Warn("leader key not renewed while starting the standby's data", "member", o.Self, "error", renewErr)
	}
	startCtx, cancel := l.startBound(ctx, o)
	err := l.pg.Start(startCtx, &fsm.Member{})
	cancel()
	if err != nil && l.startTimedOut(o) {
		return l.giveUpAfterStartTimeout(ctx, o, err)
	}
	return errors.Join(err, wrapRenew(renewErr))
}

func wrapRenew(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("started without renewing the leader key: %w", err)
}
