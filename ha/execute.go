package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// timelineSwitchReason is what PostgreSQL writes in a timeline history file
// after a plain promotion; Patroni's history shows the same text.
const timelineSwitchReason = "no recovery target specified"

// execute runs the plan's actions in order and stops at the first error.
func (l *Loop) execute(ctx context.Context, o Observation, p Plan) error {
	l.setRenewing(plansRenewal(p))
	for _, a := range p.Actions {
		l.madeProgress(l.stepBound(o, a))
		if a.Kind == ActFence {
			l.fenced(p.Reason) // before the stop: the line says why
		}
		stopReporting := l.reportWhileCloning(ctx, o, p, a) // a no-op for any other step
		err := l.run(ctx, o, a)
		stopReporting()
		if err != nil {
			return &stepError{Kind: a.Kind, Err: err}
		}
		l.logStep(o, a, p.Reason)
	}
	return nil
}

func (l *Loop) run(ctx context.Context, o Observation, a Action) error {
	switch a.Kind {
	case ActWait:
		return nil
	case ActBootstrap:
		return l.bootstrap(ctx, o)
	case ActAdoptData:
		if _, err := l.propose(ctx, o, fsm.ClaimInitialize{Member: o.Self}); err != nil {
			return err
		}
		_, err := l.propose(ctx, o, fsm.SetInitialize{Member: o.Self, SystemID: o.PG.SystemID})
		return err
	case ActTakeover:
		return l.adoptRunningPrimary(ctx, o)
	case ActAdopt:
		return l.adopt(ctx)
	case ActFinishInitialize:
		_, err := l.propose(ctx, o, fsm.SetInitialize{Member: o.Self, SystemID: o.PG.SystemID})
		return err
	case ActClone:
		return l.pg.Clone(ctx, a.Target)
	case ActStartReplica:
		return l.pg.Start(ctx, &a.Target)
	case ActAcquire:
		return l.acquire(ctx, o, a.ExpectIndex)
	case ActRenew:
		return l.renew(ctx, o)
	case ActPromote:
		return l.promote(ctx, o)
	case ActFollow:
		return l.pg.Follow(ctx, a.Target)
	case ActDemote:
		err := l.pg.Demote(ctx, &a.Target)
		if err == nil {
			l.dropLease()
		}
		return err
	case ActFence: // reported by execute (fenced)
		if l.fence(ctx) {
			l.dropLease()
		}
		return nil
	case ActSyncSlots:
		return l.syncSlots(ctx, o, a)
	case ActRecordHistory:
		return l.recordHistory(ctx, o)
	case ActRemoveStaleMember:
		return l.removeStaleMember(ctx, o, a)
	case ActRecoverPrimary:
		return l.recoverPrimary(ctx, o)
	case ActRecoverStandby:
		return l.recoverStandby(ctx, o)
	case ActRelease:
		return l.release(ctx, o)
	case ActRewind:
		err := l.pg.Rewind(ctx, a.Target)
		l.mu.Lock()
		defer l.mu.Unlock()
		// A rewind that did not complete may have rewritten part of the
		// target: it must not start before a rewind completed or it was
		// moved aside. A lost source (at connect nothing was touched,
		// mid-run part was) is no failed rewind: it is tried again.
		l.repairs.rewindPending = err != nil
		if err != nil && !errors.Is(err, ErrRewindSourceUnreachable) {
			l.rewindFailedEpoch = o.State.Leader.Epoch
		}
		return err
	case ActStuckRewind:
		err := l.run(ctx, o, Action{Kind: ActRewind, Target: a.Target})
		if errors.Is(err, ErrRewindSourceUnreachable) {
			return err // pg_rewind did not get to a result: the one rewind is not used up
		}
		l.mu.Lock()
		l.stuckRewindEpoch = o.State.Leader.Epoch
		l.repairs.stuck.restart() // the rewound standby gets stuckTurns anew
		l.mu.Unlock()
		return err
	case ActMoveAside:
		path, err := l.pg.MoveAside(ctx)
		if err == nil {
			l.mu.Lock()
			l.repairs.rewindPending = false // a partly rewound directory is gone
			l.mu.Unlock()
			l.log.Warn("moved the diverged data directory aside; remove it once no longer needed", "member", o.Self, "path", path)
		}
		return err
	case ActStuckMoveAside:
		err := l.run(ctx, o, Action{Kind: ActMoveAside})
		if err == nil {
			l.mu.Lock()
			l.repairs.stuck.movedEpoch = o.State.Leader.Epoch
			l.mu.Unlock()
		}
		return err
	case ActSetSync:
		return l.swapSync(ctx, o, o.State.Sync.Version, a.Names)
	case ActSetSyncStandbys:
		return l.setSyncStandbys(ctx, o, a.Names)
	case ActHandOver:
		return l.handOver(ctx, o, a.Target)
	case ActClearPending:
		_, err := l.propose(ctx, o, fsm.ClearPending{})
		return err
	case ActRefuse:
		return fmt.Errorf("%w: %s", ErrRefused, l.logs.reason)
	}
	if handled, err := l.runOperation(ctx, o, a); handled {
		return err
	}
	return fmt.Errorf("unknown action %v", a.Kind)
}

// bootstrap: claim the initialize key, run initdb, publish the system
// identifier and take the leader key. A failed initdb gives the claim back.
func (l *Loop) bootstrap(ctx context.Context, o Observation) error {
	if _, err := l.propose(ctx, o, fsm.ClaimInitialize{Member: o.Self}); err != nil {
		if errors.Is(err, fsm.ErrInitializeHeld) {
			return nil // another member won the race
		}
		return err
	}
	sysid, err := l.pg.Bootstrap(ctx)
	if err != nil {
		if rerr := l.reportLeftData(context.WithoutCancel(ctx), o); rerr != nil {
			// Given back now, the claim could go to a member that sees no
			// data here; kept, the next turn finishes or retries it.
			l.log.Warn("bootstrap failed and left a data directory this member could not report; keeping the initialize claim",
				"error", rerr)
			return fmt.Errorf("bootstrap: %w", err)
		}
		if _, aerr := l.propose(context.WithoutCancel(ctx), o, fsm.AbortInitialize{Member: o.Self}); aerr != nil {
			l.log.Error("giving back the initialize claim failed", "error", aerr)
		}
		return fmt.Errorf("bootstrap: %w", err)
	}
	if _, err := l.propose(ctx, o, fsm.SetInitialize{Member: o.Self, SystemID: sysid}); err != nil {
		return err
	}
	l.log.Info("initialized a new cluster", "member", o.Self, "system_id", sysid)
	st := l.cluster.State()
	return l.takeKey(ctx, o, st.LeaderIndex)
}

// reportLeftData publishes this member's record before a failed bootstrap
// gives its claim back, when the attempt left a data directory (a server
// that did not stop, or an initdb'd one that did not start). Given back
// first, another member without data could claim and initialize before
// this member's next record showed the data (its system identifier, or
// data_unknown), making a second cluster. The error is the publish's.
func (l *Loop) reportLeftData(ctx context.Context, o Observation) error {
	after := l.pg.Observe(ctx)
	switch after.DataDir {
	case DataDirMissing, DataDirEmpty, DataDirInvalid: // no cluster there to report
		return nil
	}
	return l.publish(ctx, o, after, Plan{Reason: "bootstrap failed"})
}

// takeKey proposes AcquireLeader and, on success, starts the lease counted
// from the moment the proposal was sent.
func (l *Loop) takeKey(ctx context.Context, o Observation, expect uint64) error {
	gen, sent, sentBoot := l.lease.Gen(), l.cfg.Clock.Now(), l.cfg.Boottime()
	ttl := o.Config.TTL
	idx, err := l.propose(ctx, o, fsm.AcquireLeader{Member: o.Self, ExpectIndex: expect, TTL: ttl, ProposedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	l.renewMu.Lock()
	l.keyEpoch, l.keyIndex = idx, idx
	l.renewMu.Unlock()
	l.renewed(gen, idx, sent, sentBoot, time.Duration(ttl)*time.Second)
	l.log.Info("acquired the leader key", "member", o.Self, "epoch", idx, "ttl", ttl)
	return nil
}

func (l *Loop) acquire(ctx context.Context, o Observation, expect uint64) error {
	// From here on a failsafe heartbeat from the old holder is refused, so
	// it cannot extend its trust while this node takes over; and no takeover
	// starts while a heartbeat it accepted is valid (one step, failsafe.go).
	if why := l.beginTakeover(o); why != "" {
		l.log.Info("not taking over", "reason", why)
		return nil
	}
	err := l.takeKey(ctx, o, expect)
	l.takeoverDone(err)
	if err != nil {
		if errors.Is(err, fsm.ErrLeaderChanged) {
			return nil // someone else was faster, or the holder renewed
		}
		return err
	}
	if o.PG.InRecovery {
		return l.promote(ctx, o)
	}
	return nil
}

// renew extends the lease (one attempt of proposeTimeout; the background
// renewer retries up to the trust deadline). When it fails and the lease is
// no longer trusted while PostgreSQL is writable, fence at once (rule 1).
func (l *Loop) renew(ctx context.Context, o Observation) error {
	if o.State.Leader == nil || o.State.Leader.Member != o.Self {
		return errNotHolder
	}
	timeout := l.proposeTimeout(o)
	if o.Config.FailsafeMode {
		// Leave time for the failsafe heartbeats before the trust runs out.
		if _, until := l.lease.TrustUntil(); !until.IsZero() {
			if left := until.Sub(l.cfg.Clock.Now()) - failsafeReserve; left < timeout {
				timeout = max(left, 100*time.Millisecond)
			}
		}
	}
	err := l.renewLease(ctx, o.State, o.Config, timeout, time.Time{})
	if err == nil {
		return nil
	}
	if errors.Is(err, fsm.ErrNotLeaderHolder) {
		l.revoke()
	}
	if !l.trusted() && o.PG.Running && !o.PG.InRecovery {
		l.fenced("renewal failed without a trusted lease: " + err.Error())
		if l.fence(ctx) {
			l.dropLease()
		}
	}
	return fmt.Errorf("renew lease: %w", err)
}

func (l *Loop) promote(ctx context.Context, o Observation) error {
	if !l.trusted() {
		return errors.New("lease not trusted: not promoting")
	}
	if from, left := l.failsafeHoldoff(); left > 0 {
		return fmt.Errorf("not promoting: %s may trust the failsafe heartbeat accepted from it for %v more", from, left)
	}
	if err := l.prePromote(ctx, o); err != nil {
		return err // the key is given back (ha/prepromote.go)
	}
	if o.Config.SynchronousMode {
		// Rule 2: a new tenure starts from an empty recorded set under its
		// own name, and PostgreSQL may acknowledge nothing no recorded
		// standby has ('' or, strict, '*') before it becomes writable.
		epoch, _ := l.lease.TrustUntil()
		st := l.cluster.State()
		supports := func(level int) bool { return l.supports(st, level) }
		if _, err := l.propose(ctx, o, syncCommand(syncSupports(st, epoch, supports), o.Self, epoch, st.Sync.Version, nil)); err != nil {
			return fmt.Errorf("recording the new tenure's synchronous standbys: %w", err)
		}
		if err := l.pg.SetSyncStandbys(ctx, nil, o.Config.SynchronousModeStrict); err != nil {
			return err
		}
	}
	oldTimeline := o.PG.Timeline
	// The step is marked in flight before the trust is checked again: a
	// guard whose fence overlaps it then never drops the lease (loop.go).
	done := l.beginPGStep() // the guard fences but keeps the lease until we look again
	if !l.trusted() {
		done(nil)
		return errors.New("lease not trusted: not promoting")
	}
	// The tenure that promotes, read before a fence after the step can
	// drop the lease (its epoch then reads 0, which marks nothing).
	tenure, _ := l.lease.TrustUntil()
	switchLSN, err := l.pg.Promote(ctx)
	done(err)
	promoted := err == nil
	if !promoted {
		promoted, switchLSN = l.promotedAnyway(oldTimeline, err)
	}
	if promoted {
		// Before anything else can stop this step (the fence below, a
		// stopping agent): rule 4 tells two forks of one timeline number
		// from one LSN apart only by these (diverged.go).
		l.markPromotion(o, oldTimeline, switchLSN, tenure)
	}
	if terr := l.startedWritable(ctx, "promotion"); terr != nil {
		return terr
	}
	if err != nil {
		return err
	}
	kind := promotionKind(o)
	l.log.Info("promoted", "member", o.Self, "epoch", tenure, "timeline", oldTimeline+1, "kind", kind)
	l.cfg.Events.Promoted(kind)
	if err := l.recordHistory(ctx, o); err != nil {
		// Kept: later turns propose it again (history.go).
		l.log.Warn("recording the timeline switch failed; trying again next turn", "error", err)
	}
	return nil
}

// markPromotion writes the new timeline's tenure marker into the data
// directory and queues the history entry (recorded by this turn or later
// ones, history.go). The entry carries the tenure only when the fork LSN is
// the one in the timeline history file: standbys compare theirs with it
// (rule 4, diverged.go), so a guessed LSN must not look authoritative.
func (l *Loop) markPromotion(o Observation, oldTimeline int, switchLSN, tenure uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), markTimeout)
	defer cancel()
	if err := l.pg.MarkTimeline(ctx, oldTimeline+1, tenure); err != nil {
		l.log.Warn("marking the new timeline with this tenure failed", "timeline", oldTimeline+1, "error", err)
	}
	epoch := tenure
	if switchLSN == 0 {
		switchLSN, epoch = o.PG.WALPosition, 0
	}
	entry := fsm.HistoryEntry{Timeline: oldTimeline, LSN: switchLSN, Reason: timelineSwitchReason, Timestamp: time.Now().UTC(), NewLeader: o.Self, Epoch: epoch}
	l.mu.Lock()
	l.repairs.history = pendingHistory{entry: entry, tenure: tenure}
	l.mu.Unlock()
}

// promotedAnyway looks whether PostgreSQL promoted although the promotion
// step failed (pg_ctl promote timed out, a step after it failed, or the
// agent is stopping and cancelled it): a primary on oldTimeline+1, and where
// that timeline forked, from its history file. A CI run of TestRestartAll
// left such a timeline without its marker: another member later forked the
// same number from the same LSN, and the first one's data then looked like
// a standby of it.
func (l *Loop) promotedAnyway(oldTimeline int, stepErr error) (bool, uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), markTimeout)
	defer cancel()
	st := l.pg.Observe(ctx)
	if st.Err != nil || !st.Running || st.InRecovery || st.Timeline != oldTimeline+1 {
		return false, 0
	}
	l.log.Warn("the promotion step failed but PostgreSQL promoted: marking the new timeline with this tenure",
		"timeline", st.Timeline, "error", stepErr)
	return true, st.ForkLSN
}

// markTimeout bounds the look at PostgreSQL and the marker's write after a
// promotion, also when the step's own context was cancelled.
const markTimeout = 5 * time.Second

// recoverPrimary renews the lease of a leader whose PostgreSQL is down and
// starts it as primary; without a renewed lease it starts it read-only.
//
// The renewal is retried up to the trust deadline, as the background
// renewer does (review item 9): one short attempt failed in any Raft
// election, and the primary then came up read-only and was promoted onto a
// new timeline although its trust held throughout.
func (l *Loop) recoverPrimary(ctx context.Context, o Observation) error {
	renewErr := l.renewWithinTrust(ctx, o)
	if from, left := l.failsafeHoldoff(); renewErr == nil && left > 0 {
		return fmt.Errorf("not starting as primary: %s may trust the failsafe heartbeat accepted from it for %v more", from, left)
	}
	if renewErr == nil && l.trusted() {
		if o.Config.SynchronousMode {
			// Start with the recorded standbys, not an empty list (rule 2).
			var names []string
			if o.State.Sync.Leader == o.Self {
				names = o.State.Sync.Members
			}
			if err := l.pg.SetSyncStandbys(ctx, names, o.Config.SynchronousModeStrict); err != nil {
				return err
			}
		}
		// Bounded by what is left of primary_start_timeout (start_timeout.go).
		startCtx, cancel := l.startBound(ctx, o)
		defer cancel()
		err := l.startPrimaryTrusted(ctx, startCtx, "start as primary")
		if err != nil && !errors.Is(err, errLeaseLost) && l.startTimedOut(o) {
			return l.giveUpAfterStartTimeout(ctx, o, err)
		}
		return err
	}
	l.log.Warn("leader key not renewed: starting PostgreSQL read-only", "member", o.Self, "error", renewErr)
	if err := l.pg.Start(ctx, &fsm.Member{}); err != nil {
		return err
	}
	return renewErr
}

// startPrimaryTrusted starts PostgreSQL as primary only under a trusted
// lease, and fences at once if the trust ran out while it started
// (startedWritable). The step is marked in flight first: the guard fences
// but keeps the lease until the step looks again.
// startCtx bounds pg_ctl start alone (a crash recovery's
// primary_start_timeout); errors wrap errLeaseLost when the trust was the
// reason.
func (l *Loop) startPrimaryTrusted(ctx, startCtx context.Context, what string) error {
	done := l.beginPGStep()
	if !l.trusted() {
		done(nil)
		return fmt.Errorf("%w: not starting as primary", errLeaseLost)
	}
	err := l.pg.Start(startCtx, nil)
	done(err)
	if terr := l.startedWritable(ctx, what); terr != nil {
		return terr
	}
	return err
}

// renewWithinTrust renews with retries until the trust deadline (less the
// failsafe reserve); without a trust to extend it is one attempt (renew).
func (l *Loop) renewWithinTrust(ctx context.Context, o Observation) error {
	if o.State.Leader == nil || o.State.Leader.Member != o.Self {
		return errNotHolder
	}
	epoch, until := l.lease.TrustUntil()
	if epoch != o.State.Leader.Epoch || !l.trusted() {
		return l.renew(ctx, o)
	}
	if o.Config.FailsafeMode {
		until = until.Add(-failsafeReserve)
	}
	err := l.renewLease(ctx, o.State, o.Config, l.proposeTimeout(o), until)
	switch {
	case errors.Is(err, errNotTrusted):
		return l.renew(ctx, o)
	case errors.Is(err, fsm.ErrNotLeaderHolder):
		l.revoke()
	}
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}

// release gives the leader key up; PostgreSQL is down, so nothing is
// writable here and others may take over at once.
func (l *Loop) release(ctx context.Context, o Observation) error {
	l.dropLease()
	l.keyGivenBack(o.State.Leader.Epoch)
	_, err := l.propose(ctx, o, fsm.ReleaseLeader{Member: o.Self, Epoch: o.State.Leader.Epoch})
	return err
}

// swapSync records names as this tenure's synchronous standbys if the
// recorded set is still at version (what this turn's decision read). A
// rejection means the set changed since: the next turn decides again.
func (l *Loop) swapSync(ctx context.Context, o Observation, version uint64, names []string) error {
	cmd := syncCommand(syncSupports(o.State, o.State.Leader.Epoch, o.Supports), o.Self, o.State.Leader.Epoch, version, names)
	idx, err := l.propose(ctx, o, cmd)
	l.syncFence.proposed(idx, err)
	l.syncFence.legacy(cmd, err)
	if errors.Is(err, fsm.ErrSyncChanged) {
		l.log.Debug("synchronous standby set changed since it was read; deciding again", "error", err)
		return nil
	}
	return err
}

// setSyncStandbys writes synchronous_standby_names. SetSyncStandbys returns
// once a SHOW lists the new names; the WAL position of the next turn's
// observation, a loop_wait later, is then at or above every commit
// acknowledged without them (syncAdded, rule 2). Waiting a turn rather than
// reading it at once leaves the walsenders and the checkpointer, which
// handle the same reload signal on their own, a whole loop_wait to do so.
func (l *Loop) setSyncStandbys(ctx context.Context, o Observation, names []string) error {
	if err := l.pg.SetSyncStandbys(ctx, names, o.Config.SynchronousMode && o.Config.SynchronousModeStrict); err != nil {
		return err
	}
	l.syncAdded.inEffect(names)
	return nil
}
