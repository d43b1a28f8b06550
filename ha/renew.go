package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/conclave-ha/conclave/fsm"
)

// Renewal independent of slow PostgreSQL steps (issue 6 item 2).
//
// The HA loop renews at every turn, but a turn can block for a long time in
// pg_ctl start -w (crash recovery), pg_ctl promote -w and the checkpoint
// after it. So a background renewer also renews while this node holds a
// trusted lease, whenever the last renewal was sent loop_wait ago or more,
// or less than half of the trust it gave is left.
// Safety does not change: every renewal, from either side, is the same
// RenewLeader and moves the trust exactly as lease.go says; they are made
// one at a time (renewMu).
//
// A hung agent must not keep the key. The renewer only extends a trust the
// loop itself established (acquire, or a renewal in a turn), only while the
// loop's current plan renews too (so Decide's choice not to renew, e.g.
// paused with PostgreSQL down or releasing the key, stands), and only while
// the loop makes progress: the loop sets a progress deadline at the start of
// every turn and of every step (step bound: primary_start_timeout, counted
// from when PostgreSQL was first seen down, for a crash recovery;
// Config.StepTimeout for the other steps that start, stop or promote
// PostgreSQL; retry_timeout for SQL, proposals and the observation;
// loop_wait + retry_timeout between turns). Past it the renewer stops, the trust runs out, the guard and the
// watchdog fence. A stopped process renews nothing at all.
//
// Raft leader elections: a renewal that cannot commit is retried (every
// renewRetryEvery) until the trust deadline, not given up after one short
// attempt, so an election of a few seconds inside the trust does not fence a
// healthy primary. In failsafe mode the retries end failsafeReserve before
// the deadline, leaving that time for the failsafe heartbeats.

// renewRetryEvery is the pause between renewal attempts that failed for
// lack of Raft.
const renewRetryEvery = 100 * time.Millisecond

// failsafeReserve is left before the trust deadline for failsafe heartbeats.
const failsafeReserve = 300 * time.Millisecond

// progress is what the background renewer knows of the loop (under Loop.mu).
type progress struct {
	deadline time.Time // the loop must have moved on by then
	lastSent time.Time // sent time of the last committed renewal
	stalled  bool      // logged that the renewer stopped
	renewing bool      // the loop's current plan renews the lease
	pgSteps  int       // starts/promotions in flight (guard must not drop)
	pgStepN  uint64    // starts/promotions begun or ended so far (pgStepsNow)
	// pgStepFailed: the last start as primary or promotion returned an
	// error (ctx cancelled at shutdown, pg_ctl timeout…) and PostgreSQL has
	// not been seen running since: a postmaster it forked may still come up
	// writable, so Shutdown keeps the key and the watchdog.
	pgStepFailed bool
}

// boottime reads CLOCK_BOOTTIME; 0 when it cannot.
func boottime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// madeProgress notes that the loop moved on; the renewer keeps renewing
// for bound from now.
func (l *Loop) madeProgress(bound time.Duration) {
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	l.progress.deadline = now.Add(bound)
	l.progress.stalled = false
	l.mu.Unlock()
}

// plansRenewal reports whether Decide meant to keep the lease this turn.
func plansRenewal(p Plan) bool {
	for _, a := range p.Actions {
		switch a.Kind {
		case ActRenew, ActRecoverPrimary, ActRecoverStandby, ActAcquire, ActPromote, ActBootstrap:
			return true
		}
	}
	return false
}

func (l *Loop) setRenewing(on bool) {
	l.mu.Lock()
	l.progress.renewing = on
	l.mu.Unlock()
}

// stepBound is how long the loop may spend in action a before the renewer
// stops: primary_start_timeout since PostgreSQL was first seen down for a
// recovery (Decide releases the key at the same moment); StepTimeout for
// the other steps that start, stop or promote PostgreSQL (pg_ctl -w); and
// retry_timeout for everything else (SQL, proposals), so a hung agent keeps
// the key at most about retry_timeout + ttl after its last real progress
// (review item 8: every step got StepTimeout, 2 min).
func (l *Loop) stepBound(o Observation, a Action) time.Duration {
	switch a.Kind {
	case ActRecoverPrimary, ActRecoverStandby:
	case ActRestart:
		if o.Operation.Timeout > 0 {
			return o.Operation.Timeout // Patroni's restart timeout: past it the others fail over
		}
		return l.cfg.StepTimeout
	case ActPromote, ActAcquire, ActBootstrap, ActStartReplica, ActDemote, ActClone, ActRewind, ActHandOver, ActReinit:
		return l.cfg.StepTimeout
	default:
		return retryBound(o.Config)
	}
	d := time.Duration(o.Config.PrimaryStartTimeout) * time.Second
	if !o.PrimaryDownSince.IsZero() {
		d -= o.Now.Sub(o.PrimaryDownSince)
	}
	return max(d, 0)
}

// retryBound is retry_timeout of dyn (at least one second).
func retryBound(dyn fsm.DynamicConfig) time.Duration {
	return max(time.Duration(dyn.RetryTimeout)*time.Second, time.Second)
}

// beginPGStep marks a start or promotion in flight; the returned func ends
// it with the step's error. Both count in pgStepN, so the guard can tell
// that a step began or ended while its fence ran (pgStepsNow).
func (l *Loop) beginPGStep() func(error) {
	l.mu.Lock()
	l.progress.pgSteps++
	l.progress.pgStepN++
	l.mu.Unlock()
	return func(err error) {
		l.mu.Lock()
		l.progress.pgSteps--
		l.progress.pgStepN++
		l.progress.pgStepFailed = err != nil
		l.mu.Unlock()
	}
}

// pgStepUncertain reports whether a start or promotion is in flight, or
// the last one failed and PostgreSQL was not seen running since.
func (l *Loop) pgStepUncertain() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.progress.pgSteps > 0 || l.progress.pgStepFailed
}

func (l *Loop) pgStepInFlight() bool {
	inFlight, _ := l.pgStepsNow()
	return inFlight
}

// pgStepsNow reports whether a start or promotion is in flight and how
// many began or ended so far.
func (l *Loop) pgStepsNow() (inFlight bool, n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.progress.pgSteps > 0, l.progress.pgStepN
}

// trusted reports whether this node's lease is trusted now (a suspended
// VM's lost time counted as passed).
func (l *Loop) trusted() bool {
	_, ok, _ := l.lease.Trusted(l.cfg.Clock.Now(), l.cfg.Boottime())
	return ok
}

// startedWritable runs after a start as primary or a promotion: PostgreSQL
// may be writable now, which is allowed only under a trusted lease. If the
// trust ran out meanwhile, fence at once and drop the lease only once the
// fence succeeded (the watchdog stays armed otherwise).
func (l *Loop) startedWritable(ctx context.Context, what string) error {
	if l.trusted() {
		return nil
	}
	l.fenced("lease no longer trusted after " + what)
	if l.fence(ctx) {
		l.dropLease()
	}
	return fmt.Errorf("%s: %w; fenced", what, errLeaseLost)
}

var (
	// errNotHolder: the state does not name this node as the key holder.
	errNotHolder = errors.New("not the leader key holder")
	// errNotTrusted: the background renewer found no trust to extend.
	errNotTrusted = errors.New("lease not trusted: nothing to extend")
	// errLeaseLost: a start as primary stopped (or fenced) because the
	// trust ran out.
	errLeaseLost = errors.New("lease no longer trusted")
)

// renewLease renews the tenure st names (this node's) with the ttl of dyn:
// one attempt of at most attempt when retryUntil is zero, else attempts
// until one commits, one is refused, ctx ends or retryUntil passes. When
// Raft did not commit it and failsafe mode is on, failsafe heartbeats may
// extend the trust instead.
func (l *Loop) renewLease(ctx context.Context, st fsm.State, dyn fsm.DynamicConfig, attempt time.Duration, retryUntil time.Time) error {
	l.renewMu.Lock()
	defer l.renewMu.Unlock()
	if st.Leader == nil || st.Leader.Member != l.cfg.Name {
		return errNotHolder
	}
	err := l.renewLeaseLocked(ctx, st, dyn, attempt, retryUntil)
	l.noteRenewal(st.Leader.Epoch, time.Duration(dyn.TTL)*time.Second, err) // logging.go
	return err
}

// renewLeaseLocked is renewLease under renewMu.
func (l *Loop) renewLeaseLocked(ctx context.Context, st fsm.State, dyn fsm.DynamicConfig, attempt time.Duration, retryUntil time.Time) error {
	epoch := st.Leader.Epoch
	ttl := time.Duration(dyn.TTL) * time.Second
	renewCASRetries := 3
	for {
		gen, sent, sentBoot := l.lease.Gen(), l.cfg.Clock.Now(), l.cfg.Boottime()
		if !retryUntil.IsZero() {
			// The background renewer only extends a trust that still
			// exists (gen read first: a drop after this check makes the
			// renewal count for nothing in renewed).
			if e, ok, _ := l.lease.Trusted(sent, sentBoot); !ok || e != epoch {
				return errNotTrusted
			}
		}
		// From here the renewal may commit, and the others count from it.
		l.capTrust(epoch, sent, ttl)
		timeout := attempt
		if !retryUntil.IsZero() {
			if left := retryUntil.Sub(sent); left < timeout {
				timeout = max(left, 50*time.Millisecond)
			}
		}
		// The compare-and-swap renewal is its own command type (17), sent
		// only when every agent that may apply the log applies it, Raft
		// servers without a member record included (ha/protocol.go); an
		// older one stops at it rather than diverge. Otherwise a plain
		// RenewLeader without ExpectIndex, which every version applies
		// alike (the field was ignored by agents below ProtocolRenewCAS, and
		// a Raft peer without a record cannot be proven to check it): a
		// committed one proves nothing about earlier in-doubt ones, and
		// their ceiling stays.
		var expect uint64
		var cmd fsm.Command = fsm.RenewLeader{Member: l.cfg.Name, Epoch: epoch, TTL: dyn.TTL, ProposedAt: time.Now().UTC()}
		if l.supports(st, fsm.ProtocolCAS) {
			expect = l.renewExpectIndex(st)
			cmd = fsm.RenewLeaderCAS{Member: l.cfg.Name, Epoch: epoch, TTL: dyn.TTL, ProposedAt: time.Now().UTC(), ExpectIndex: expect}
		}
		idx, err := l.proposeWithin(ctx, timeout, cmd)
		if err == nil {
			l.keyEpoch, l.keyIndex = epoch, idx
			// Every renewal sent before this one carried an older
			// ExpectIndex: none of them can commit any more, so their
			// unknown-outcome ceiling goes (lease.go).
			if expect != 0 {
				l.lease.Superseded(epoch)
			}
			l.renewed(gen, epoch, sent, sentBoot, ttl)
			l.setFailsafeActive(false, failsafeRaftBack)
			return nil
		}
		if expect != 0 && errors.Is(err, fsm.ErrLeaderChanged) && l.renewExpectIndex(st) != expect && renewCASRetries > 0 {
			// An earlier renewal with an unknown outcome committed after
			// all (or the local state lagged): this one did not; try again
			// on the newer index.
			renewCASRetries--
			continue
		}
		if fsm.ErrorCode(err) != "" {
			return err // refused by Apply: it did not and will not commit
		}
		if !l.nothingAppended(err) {
			// It may still commit: its ttl is a ceiling.
			if expect != 0 {
				l.lease.Unknown(epoch, ttl)
			} else {
				l.lease.UnknownUnchecked(epoch, ttl)
			}
		}
		next := l.cfg.Clock.Now().Add(renewRetryEvery)
		if ctx.Err() != nil || retryUntil.IsZero() || !next.Before(retryUntil) {
			if l.failsafeRenew(ctx, Observation{Self: l.cfg.Name, State: st, Config: dyn}) {
				return nil
			}
			return err
		}
		t := time.NewTimer(renewRetryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// nothingAppended reports whether the Cluster says a failed proposal
// certainly appended nothing (AppendReporter); false when it cannot say.
func (l *Loop) nothingAppended(err error) bool {
	r, ok := l.cluster.(AppendReporter)
	return ok && r.NothingAppended(err)
}

// renewExpectIndex is the LeaderIndex a renewal of st's tenure expects:
// the highest of st's, the freshest local state's when it still names the
// same tenure, and the index this node's own last acquire or renewal of
// the tenure committed at (the local state may not have applied it yet
// when this node is a Raft follower). Call it under renewMu.
func (l *Loop) renewExpectIndex(st fsm.State) uint64 {
	expect := st.LeaderIndex
	cur := l.cluster.State()
	if cur.Leader != nil && st.Leader != nil && cur.Leader.Member == st.Leader.Member &&
		cur.Leader.Epoch == st.Leader.Epoch && cur.LeaderIndex > expect {
		expect = cur.LeaderIndex
	}
	if st.Leader != nil && l.keyEpoch == st.Leader.Epoch && l.keyIndex > expect {
		expect = l.keyIndex
	}
	return expect
}

// renewInBackground renews a trusted lease while the loop is busy (see the
// comment at the top of this file).
func (l *Loop) renewInBackground(ctx context.Context) {
	t := time.NewTicker(l.cfg.GuardInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.renewTick(ctx)
	}
}

// renewTick is one look of the background renewer: it renews if this node
// holds a trusted lease, the latest plan keeps the key, the loop made
// progress and the renewal is due.
func (l *Loop) renewTick(ctx context.Context) {
	st := l.cluster.State()
	if st.Leader == nil || st.Leader.Member != l.cfg.Name {
		return
	}
	now := l.cfg.Clock.Now()
	epoch, ok, _ := l.lease.Trusted(now, l.cfg.Boottime())
	if !ok || epoch != st.Leader.Epoch {
		return // only a trust the loop established is extended
	}
	dyn := l.dynamicConfig(st, false)
	l.mu.Lock()
	p := l.progress
	stalled := !now.Before(p.deadline)
	if stalled && !p.stalled {
		l.progress.stalled = true
	}
	l.mu.Unlock()
	if stalled {
		if !p.stalled {
			l.log.Error("the HA loop made no progress within its step's bound: no longer renewing the lease",
				"since", now.Sub(p.deadline))
		}
		return
	}
	if !p.renewing {
		return // Decide did not renew this turn (waiting, paused with PostgreSQL down, releasing…)
	}
	// Renew every loop_wait, and sooner when less than half of the
	// trust the last renewal gave is left (a ceiling or a lowered ttl
	// can make the trust shorter than loop_wait: review item 1).
	_, until := l.lease.TrustUntil()
	if now.Sub(p.lastSent) < time.Duration(dyn.LoopWait)*time.Second &&
		until.Sub(now) >= until.Sub(p.lastSent)/2 {
		return
	}
	if dyn.FailsafeMode {
		until = until.Add(-failsafeReserve)
	}
	err := l.renewLease(ctx, st, dyn, time.Duration(dyn.RetryTimeout)*time.Second, until)
	switch {
	case err == nil:
	case errors.Is(err, fsm.ErrNotLeaderHolder): // logged by noteRenewal: "leader key lost"
		l.revoke()
	}
}
