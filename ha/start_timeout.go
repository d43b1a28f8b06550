package ha

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// primary_start_timeout (README "How it fails over"): a leader whose
// PostgreSQL crashed restarts it in place, and gives the key up if it does
// not come back within primary_start_timeout, counted from when it was
// first seen down (Observation.PrimaryDownSince).
//
// Before, Decide released the key only at the first turn after the timeout,
// while the start step (pg_ctl start -w, with retries) could run past it;
// the renewer stopped at the timeout (its progress bound), so the lease
// lapsed about ttl + 2 s later and a replica took over on expiry instead.
// Now the start gets a context that ends at the timeout, and when it ends
// that way the same step gives the key up:
//
//  1. the start is over: pg_ctl was killed with its process group, and the
//     postmaster it may have forked (its own session, perhaps without
//     postmaster.pid yet) is stopped by Fence, which also kills such strays
//     and returns nil only when no postmaster of the data directory is left
//     (adapter, pgctl/stray.go);
//  2. PostgreSQL is observed down;
//  3. only then the lease is dropped (watchdog disarmed) and ReleaseLeader
//     proposed.
//
// Rule 1: nothing of this node can be writable after the release: every
// process that could become its postmaster is gone (1, 2) and nothing
// starts it again before a later turn decides anew (as a replica, since the
// key is gone). If the fence fails, the key and the armed watchdog stay and
// the lease runs out as before. The renewer stops at the timeout (its step
// bound) and is not restarted: these steps take milliseconds, well inside
// the trust left from the last renewal (renewals come every loop_wait and at
// half the trust); should the trust run out first, the guard fences too, and
// a release after that is still safe (PostgreSQL is down).

// startBound returns the context for a start as primary in a crash
// recovery: it ends when primary_start_timeout has passed since PostgreSQL
// was first seen down.
func (l *Loop) startBound(ctx context.Context, o Observation) (context.Context, context.CancelFunc) {
	if o.PrimaryDownSince.IsZero() {
		return context.WithCancel(ctx)
	}
	left := o.PrimaryDownSince.Add(time.Duration(o.Config.PrimaryStartTimeout) * time.Second).Sub(l.cfg.Clock.Now())
	return context.WithTimeout(ctx, max(left, 0))
}

// startTimedOut reports whether primary_start_timeout has passed for the
// crash recovery o observed.
func (l *Loop) startTimedOut(o Observation) bool {
	if o.PrimaryDownSince.IsZero() {
		return false
	}
	return !l.cfg.Clock.Now().Before(o.PrimaryDownSince.Add(time.Duration(o.Config.PrimaryStartTimeout) * time.Second))
}

// giveUpAfterStartTimeout makes sure no postmaster is left or coming up,
// then gives the key back (see the top of this file).
func (l *Loop) giveUpAfterStartTimeout(ctx context.Context, o Observation, startErr error) error {
	l.log.Error("PostgreSQL did not start within primary_start_timeout: stopping it and giving up the leader key",
		"member", o.Self, "primary_start_timeout", o.Config.PrimaryStartTimeout, "error", startErr)
	if !l.fence(ctx) {
		return fmt.Errorf("start timed out and PostgreSQL could not be stopped (leader key kept until its lease runs out): %w", startErr)
	}
	if pgs := l.pg.Observe(ctx); pgs.Running {
		return errors.New("start timed out and PostgreSQL still runs after the fence: leader key kept until its lease runs out")
	}
	if err := l.release(ctx, o); err != nil {
		return fmt.Errorf("start timed out; giving up the leader key: %w", err)
	}
	l.log.Info("gave the leader key back", "member", o.Self, "epoch", o.State.Leader.Epoch, "reason", "primary_start_timeout passed")
	return startErr
}
