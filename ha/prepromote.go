package ha

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// pre_promote (Patroni's postgresql.pre_promote): a script that runs after
// this node took the leader key and before PostgreSQL is promoted. When it
// refuses (non-zero exit, timeout, cannot start: Config.PrePromote returns
// an error) the promotion does not happen, the key is given back at once,
// and this node is no candidate for one ttl so that another one can win.
//
// Safety (rule 1). The script runs while PostgreSQL is still a standby: it
// is called before any step of the promotion (before the synchronous
// standby bookkeeping, before beginPGStep and pg_ctl promote), so nothing
// was writable on this node under this tenure. Giving the key back is then
// as safe as release() for a leader whose PostgreSQL is down: the others may
// take the key at once, and no second writable primary can appear because
// this one never became writable. The lease is dropped (watchdog disarmed)
// before the ReleaseLeader is proposed; if the proposal fails, the key is
// not renewed any more (the lease was dropped) and expires after its ttl as
// a crashed leader's would; the next turn sees this node as holder with a
// standby's data, runs pre_promote again and, if it vetoes again, releases
// again. While the script runs, the background renewer keeps the lease (the
// step is bounded by StepTimeout; callback.DefaultScriptTimeout is far
// below it), and promote() checks the trust again after the script, as it
// did before: a lease that ran out while the script ran is not promoted on.
//
// The backoff. Without it the vetoing node would usually win again at once
// (it is often the most advanced replica), and the others would keep
// waiting for it as the better candidate (betterCandidate). So for one ttl
// (the dynamic configuration's, on this node's monotonic clock) it is not a
// candidate itself (Observation.PromoteBackoff, ineligible) and it publishes
// the tag nofailover: true in its member record, which betterCandidate on
// the other nodes already skips. This is what the member record shows while
// the backoff lasts, and it is true: this node will not take over then.
// The tag only widens who may be promoted among the others; every rule they
// apply (lag, synchronous mode, timeline) is unchanged.

// prePromote runs the configured pre_promote hook. On a veto it gives the
// key of tenure epoch back, starts the backoff and returns the veto.
func (l *Loop) prePromote(ctx context.Context, o Observation) error {
	if l.cfg.PrePromote == nil {
		return nil
	}
	err := l.cfg.PrePromote(ctx)
	if err == nil {
		return nil
	}
	backoff := time.Duration(o.Config.TTL) * time.Second
	l.mu.Lock()
	l.vetoUntil = l.cfg.Clock.Now().Add(backoff)
	l.mu.Unlock()
	epoch, _ := l.lease.TrustUntil()
	l.log.Warn("pre_promote vetoed the promotion: giving the leader key back and backing off", "member", o.Self, "epoch", epoch, "backoff", backoff, "error", err)
	l.dropLease()
	l.keyGivenBack(epoch)
	if _, rerr := l.propose(context.WithoutCancel(ctx), o, fsm.ReleaseLeader{Member: o.Self, Epoch: epoch}); rerr != nil {
		l.log.Error("giving the leader key back after the veto failed; it expires instead", "epoch", epoch, "error", rerr)
	}
	return fmt.Errorf("not promoting: %w", err)
}

// promoteBackoff reports whether a vetoed promotion's backoff lasts at now.
func (l *Loop) promoteBackoff(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.Before(l.vetoUntil)
}

// backoffTags returns tags with nofailover set while the backoff lasts, so
// the other nodes do not wait for this one as a better candidate.
func (l *Loop) backoffTags(tags map[string]any) map[string]any {
	if !l.promoteBackoff(l.cfg.Clock.Now()) {
		return tags
	}
	out := maps.Clone(tags)
	if out == nil {
		out = map[string]any{}
	}
	out["nofailover"] = true
	return out
}
