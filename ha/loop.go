package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/dynconfig"
	"github.com/conclave-ha/conclave/fsm"
)

// ErrRefused stops the agent: continuing would break a safety rule.
var ErrRefused = errors.New("refusing to continue")

// ErrRewindSourceUnreachable is returned (wrapped) by Postgres.Rewind when
// pg_rewind could not reach the leader: the data directory was not touched,
// so it is not a failed rewind and is tried again (rule 4, diverged.go).
var ErrRewindSourceUnreachable = errors.New("rewind source unreachable")

// Config configures a Loop.
type Config struct {
	Name string
	Tags Tags
	// Member is this node's static report (API URL, host, port, tags,
	// version); the loop fills in role, state and WAL positions.
	Member fsm.Member
	// FenceMargin is how long before its lease would run out for the others
	// the holder stops trusting it. Default 750ms.
	FenceMargin time.Duration
	// Events receives counts for metrics (ha/events.go). Default: none.
	Events Events
	// GuardInterval is how often the lease guard checks. Default 50ms.
	GuardInterval time.Duration
	Clock         Clock
	Logger        hclog.Logger
	// Watchdog is armed at every renewal with the lease's trust deadline.
	Watchdog Watchdog
	// Peers reaches the other members for failsafe mode; nil disables it.
	Peers Peers
	// UsePgRewind, when set, overrides the dynamic postgresql.use_pg_rewind
	// (Patroni allows it in the local postgresql: section too).
	UsePgRewind *bool
	// StepTimeout bounds how long the lease is renewed in the background
	// while the HA loop is stuck in a step that starts, stops or promotes
	// PostgreSQL (promotion and its checkpoint, a demotion…); a crash
	// recovery is bounded by primary_start_timeout instead, and every other
	// step (SQL, proposals, the observation) by retry_timeout. Default 2m (pg_ctl_timeout's 60 s for
	// pg_ctl promote -w, as much again for the wait and the checkpoint).
	StepTimeout time.Duration
	// AwaitedServers lists the addresses (Member.RaftAddr) of every Raft
	// server, voters and non-voters: the takeover of a running primary and
	// the rebuild wait until each has reported, since any of them may run a
	// primary or hold a later timeline (nil: do not wait, e.g. tests
	// without Raft).
	AwaitedServers func(ctx context.Context) ([]string, error)
	// Boottime reads CLOCK_BOOTTIME (time since boot, counting suspend);
	// the guard compares it with the monotonic clock to notice a suspended
	// VM. Default: the real CLOCK_BOOTTIME; a reading of 0 disables the check.
	Boottime func() time.Duration
	// PrePromote, when set, runs after the key is taken and before the
	// promotion; an error vetoes it (ha/prepromote.go).
	PrePromote func(ctx context.Context) error
	// Withdraw, when set, takes this node's primary endpoint away (the
	// floating IP) and returns once it is gone; the loop calls it before a
	// planned stop of its writable primary (hand-over, restart in place;
	// ha/primary.go). An error aborts that step before anything stopped.
	Withdraw func(ctx context.Context) error
}

func (c Config) withDefaults() Config {
	if c.FenceMargin <= 0 {
		c.FenceMargin = 750 * time.Millisecond
	}
	if c.Events == nil {
		c.Events = noEvents{}
	}
	if c.GuardInterval <= 0 {
		c.GuardInterval = 50 * time.Millisecond
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Watchdog == nil {
		c.Watchdog = NoWatchdog{}
	}
	if c.StepTimeout <= 0 {
		c.StepTimeout = 2 * time.Minute
	}
	if c.Boottime == nil {
		c.Boottime = boottime
	}
	return c
}

// Loop runs the HA decisions of one node.
type Loop struct {
	cfg     Config
	cluster Cluster
	pg      Postgres
	lease   *Lease
	log     hclog.Logger
	wake    chan struct{}
	// leaseMu keeps the lease and the watchdog in step (renewal vs guard).
	leaseMu sync.Mutex
	// renewMu makes renewals (the loop's and the background renewer's,
	// Raft or failsafe) one at a time, so their sent times are ordered.
	renewMu sync.Mutex
	// keyIndex is the LeaderIndex set by this node's last committed
	// acquire or renewal of tenure keyEpoch (under renewMu).
	keyEpoch, keyIndex uint64

	mu                sync.Mutex
	snap              Snapshot
	logs              logState      // what the loop logged last (ha/logging.go; loop goroutine)
	renewLog          renewLog      // renewal failures logged (ha/logging.go; under renewMu)
	keys              keyWatch      // the key this node held, for "leader key lost" (ha/logging.go)
	primaryDownSince  time.Time     // this leader's PostgreSQL first seen down
	rewindFailedEpoch uint64        // leader tenure onto which pg_rewind failed
	stuckRewindEpoch  uint64        // leader tenure onto which a standby that did not stream was rewound
	repairs           repairs       // rule 4 repair state: stuck clock, unfinished rewind, unrecorded history (ha/stuck.go)
	failsafeFrom      string        // leader of the last failsafe heartbeat received
	failsafeAt        time.Time     // when it arrived (monotonic)
	failsafeActive    bool          // this leader holds its role through failsafe
	failsafeWhy       string        // conditionKey of the last reason failsafe did not hold, logged (ha/logging.go)
	raftDown          bool          // the last proposal failed for lack of Raft
	acquiringAt       time.Time     // last AcquireLeader attempt (failsafe refuses heartbeats after it)
	takeover          takeover      // an AcquireLeader whose outcome is not known yet (failsafe.go)
	failsafeTTL       time.Duration // the key's ttl when failsafeAt's heartbeat was accepted
	ownRecordSince    time.Time     // this member's record first seen in the state, zero while absent (failsafe.go)
	holdoffEnds       time.Time     // when the hold-off that last refused a takeover ends: the next turn comes then (failsafe.go)
	progress          progress      // renewer's view of the loop's liveness (renew.go)
	syncAdded         syncAdded     // owned by the loop goroutine (ha/sync.go)
	syncFence         syncFence     // owned by the loop goroutine (ha/sync.go)
	reports           reports       // noted by New, then by the loop goroutine (ha/members.go)
	pendingFailed     pendingFailed // request this holder failed to carry out (ha/handover.go)
	pendingDue        pendingDue    // when the pending request became due here (ha/handover.go)
	operations        operations    // operator requests and the scheduled restart (ha/operations.go)
	local             *Local        // reloaded local settings not applied yet (ha/reload.go)
	reloaded          reloaded      // use_pg_rewind after a reload (ha/reload.go)
	dynCache          dynconfig.Cache
	slotsMade         []string   // members whose slot the last SyncSlots ensured (loop goroutine; takeover.go)
	lastAwaited       []string   // the last Raft servers read (loop goroutine; takeover.go)
	vetoUntil         time.Time  // pre_promote vetoed: no candidate until then (ha/prepromote.go)
	fences            fenceCount // fence events reported (ha/events.go)
	withdrawn         bool       // a planned stop of the primary runs: PrimaryUntil is zero until the next publish (ha/primary.go)
	level             *int       // the cluster's protocol level last logged, nil before the first turn (loop goroutine; ha/protocol.go)
}

// Snapshot is what the loop last saw and did, for the API and metrics.
type Snapshot struct {
	PG             PGStatus
	State          string // Patroni's member state: running, streaming, stopped, starting…
	Role           string
	HoldsLeaderKey bool
	// TrustLeft is how long this holder still trusts its lease, read at
	// the Snapshot call; 0 when it does not hold a trusted one.
	TrustLeft      time.Duration
	FailsafeActive bool
	LastRun        time.Time
	// AliveAt is when the loop last showed progress: LastRun, or a report
	// while a long step runs (a clone's copy, clonereport.go). /liveness
	// reads it, so a copy longer than its limit does not look hung.
	AliveAt  time.Time
	LastPlan string
	LoopWait time.Duration
}

// New builds a Loop.
func New(cfg Config, cluster Cluster, pg Postgres) *Loop {
	cfg = cfg.withDefaults()
	l := &Loop{
		cfg: cfg, cluster: cluster, pg: pg,
		lease: NewLease(cfg.FenceMargin),
		log:   cfg.Logger.Named("ha"),
		wake:  make(chan struct{}, 1),
	}
	l.reports.observe(cluster.State()) // the records as this agent starts (ha/members.go)
	return l
}

// Snapshot returns the last observation summary. HoldsLeaderKey is checked
// again against the trust deadline now: the deadline passes between turns
// (a turn of a cut-off primary waits on proposals), and /primary must answer
// 503 the moment this node stops trusting its lease, not at the next publish.
func (l *Loop) Snapshot() Snapshot {
	l.mu.Lock()
	s := l.snap
	l.mu.Unlock()
	if s.HoldsLeaderKey {
		_, until := l.lease.TrustUntil()
		s.TrustLeft = until.Sub(l.cfg.Clock.Now())
		if s.TrustLeft <= 0 {
			s.HoldsLeaderKey, s.TrustLeft = false, 0
		}
	}
	return s
}

// Wake makes the loop run its next turn now.
func (l *Loop) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run turns the loop until ctx is done or a safety rule refuses to go on.
func (l *Loop) Run(ctx context.Context) error {
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	// The watcher's first snapshot is taken here, before the first turn, so
	// a change applied while its goroutine starts still wakes the loop.
	changed, first := l.cluster.Changed(), l.cluster.State()
	go l.watchState(watchCtx, changed, first)
	go l.guardLease(watchCtx)
	go l.renewInBackground(watchCtx)
	for {
		began := time.Now()
		next, err := l.turn(ctx)
		l.cfg.Events.TurnDone(time.Since(began))
		if err != nil {
			return err
		}
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-l.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// watchState notes every leader-key change the moment it is applied here, so
// the lease is counted from the earliest local observation.
//
// It also wakes the loop when a change concerns this node (wakeFor), so a
// replica follows a new leader, a candidate takes a handed-over key and a
// holder acts on a switchover request at once rather than a loop_wait later.
func (l *Loop) watchState(ctx context.Context, ch <-chan struct{}, prev fsm.State) {
	l.lease.Observe(prev, l.cfg.Clock.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		ch = l.cluster.Changed()
		st := l.cluster.State()
		l.lease.Observe(st, l.cfg.Clock.Now())
		if wakeFor(prev, st) {
			l.Wake()
		}
		prev = st
	}
}

// guardLease fences PostgreSQL when this node's trusted lease runs out
// without a renewal, even while the loop itself is stuck in a slow step.
//
// The lease (and with it the armed watchdog) is dropped only after a fence
// that succeeded while no start or promotion was in flight: a fence that
// found no postmaster because a start has not created one yet did nothing,
// and the start may still come up writable. Until that step returns (it
// checks the trust itself, startedWritable) the guard keeps fencing and the
// watchdog stays armed with the passed deadline, so it fences too.
//
// "No step in flight" must hold for the whole fence, not just after it
// (review item 3): a start may begin, or return writable and end, while the
// fence runs and finds no postmaster; looking only afterwards, the guard saw
// nothing in flight and disarmed the watchdog before startedWritable fenced.
// So it compares the step count (begun or ended) before and after its fence
// and drops only when no step was in flight at either end and none began or
// ended in between; otherwise it fences again at its next tick, when the
// postmaster (if any) exists.
func (l *Loop) guardLease(ctx context.Context) {
	t := time.NewTicker(l.cfg.GuardInterval)
	defer t.Stop()
	var reported uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.guardTick(ctx, &reported)
	}
}

// guardTick is one look of the guard; *reported is the tenure whose fence
// it reported last (0 once the lease was dropped).
func (l *Loop) guardTick(ctx context.Context, reported *uint64) {
	epoch, ok, left := l.lease.Trusted(l.cfg.Clock.Now(), l.cfg.Boottime())
	if epoch == 0 || ok {
		return
	}
	// Fence even when PostgreSQL does not look writable yet: a start
	// or promotion may be finishing right now. The watchdog stays armed
	// until the fence succeeded.
	if *reported != epoch {
		*reported = epoch
		l.fenced(fmt.Sprintf("lease not renewed in time (trust ran out %s ago)", (-left).Round(time.Millisecond)))
	}
	busyBefore, nBefore := l.pgStepsNow()
	if !l.fence(ctx) {
		return
	}
	if busyAfter, nAfter := l.pgStepsNow(); busyBefore || busyAfter || nBefore != nAfter {
		return
	}
	l.dropLeaseIfUntrusted(epoch)
	*reported = 0
}

// fence stops PostgreSQL at once; it reports whether it is stopped.
func (l *Loop) fence(ctx context.Context) bool {
	if err := l.pg.Fence(ctx); err != nil {
		l.log.Error("fence failed; the watchdog stays armed", "error", err)
		return false
	}
	return true
}

// observe gathers one Observation.
func (l *Loop) observe(ctx context.Context) Observation {
	l.applyLocal()
	st := l.cluster.State()
	now := l.cfg.Clock.Now()
	l.lease.Observe(st, now)
	l.watchKey(st) // logging.go
	l.reports.observe(st)
	dyn := l.dynamicConfig(st, true)
	pgs := l.pg.Observe(ctx)
	l.syncAdded.observed(pgs)
	ttl := time.Duration(dyn.TTL) * time.Second
	l.mu.Lock()
	l.ownRecordSince = ownRecordSince(l.ownRecordSince, st, l.cfg.Name, now)
	leads := st.Leader != nil && st.Leader.Member == l.cfg.Name
	if pgs.Running {
		l.progress.pgStepFailed = false // Shutdown's Stop will find it
	} else {
		l.fenceOver()
	}
	if leads && pgs.DataDir == DataDirValid && !pgs.Running {
		if l.primaryDownSince.IsZero() {
			l.primaryDownSince = now
		}
	} else {
		l.primaryDownSince = time.Time{}
	}
	downSince := l.primaryDownSince
	rewindFailed := st.Leader != nil && l.rewindFailedEpoch == st.Leader.Epoch
	stuckRewound := st.Leader != nil && l.stuckRewindEpoch == st.Leader.Epoch
	// The adapter's marker outlives an agent restart (rewind_marker.go).
	rewindPending := l.repairs.rewindPending || pgs.Rewind != RewindNone
	rewindFailed = rewindFailed || pgs.Rewind == RewindBroken
	notStreamingSince := l.repairs.stuck.observe(now, pgs, st, l.cfg.Name, dyn.Pause)
	stuckMoved := l.repairs.stuck.movedAside(st)
	historyPending := l.repairs.history.pendingFor(st, l.cfg.Name)
	pendingFailed := l.pendingFailed.failed(st.Pending)
	pendingDueSince, pendingUnconnected := l.pendingDue.observe(st.Pending, st, l.cfg.Name, pgs,
		leads && pgs.Running && !pgs.InRecovery, now)
	l.mu.Unlock()
	awaited, awaitedUnknown := l.awaitedServers(ctx, st)
	return Observation{
		KeyChangedAt: l.lease.changedAt(st.LeaderIndex), PendingFailed: pendingFailed, PendingDueSince: pendingDueSince,
		PendingUnconnected: pendingUnconnected,
		Self:               l.cfg.Name, Now: now, State: st, Config: dyn, PG: pgs, Tags: l.cfg.Tags,
		Lease:             l.lease.View(st, l.cfg.Name, now),
		LiveMembers:       l.lease.LiveMembers(ttl, now),
		MemberSilence:     l.lease.silence(now),
		PrimaryDownSince:  downSince,
		RewindFailed:      rewindFailed,
		NotStreamingSince: notStreamingSince,
		StuckRewound:      stuckRewound,
		RewindPending:     rewindPending,
		StuckMovedAside:   stuckMoved,
		HistoryPending:    historyPending,
		FailsafeLeader:    l.failsafeLeader(now, ttl),
		SyncAddedAt:       l.syncAdded.positions(),
		SyncInDoubt:       l.syncFence.inDoubt(st.Index),
		SyncLegacyDoubt:   l.syncFence.legacyFor(st, l.cfg.Name),
		RaftServers:       l.raftServers(),
		Operation:         l.pendingOperation(time.Now(), dyn, pgs.StartedAt),
		AwaitedServers:    awaited,
		AwaitedUnknown:    awaitedUnknown,
		PromoteBackoff:    l.promoteBackoff(now),
	}
}

// dynamicConfig parses the stored dynamic configuration (defaults when it
// is invalid, logged when logErr).
func (l *Loop) dynamicConfig(st fsm.State, logErr bool) fsm.DynamicConfig {
	dyn, warns, err := l.dynCache.Get(st.ConfigIndex, st.Config) // parsed once per stored change
	for _, w := range warns {
		if logErr {
			l.log.Warn("stored dynamic configuration key unreadable; using its default", "error", w)
		}
	}
	if err != nil {
		if logErr {
			l.log.Error("stored dynamic configuration is invalid; using defaults", "error", err)
		}
		dyn = fsm.DefaultDynamicConfig()
	}
	if rewind := l.usePgRewind(); rewind != nil {
		dyn.UsePgRewind = *rewind
	}
	return dyn
}

// turn runs one observe-decide-execute step and returns when to run next.
func (l *Loop) turn(ctx context.Context) (time.Duration, error) {
	retry := retryBound(l.dynamicConfig(l.cluster.State(), false))
	l.madeProgress(retry)
	o := l.observe(ctx)
	l.noteLevel(o)
	p := Decide(o)
	l.logDecision(p) // logging.go
	if l.takeFired() {
		// A restart that fired is no longer scheduled: shown so before it
		// runs (as Patroni deletes scheduled_restart when it starts it),
		// not once the restart, which can take seconds, is over.
		l.publish(ctx, o, o.PG, p)
	}
	// A clone reports this member while it copies (clonereport.go).
	err := l.execute(ctx, o, p)
	l.finishOperation(p, err)
	if errors.Is(err, ErrRefused) {
		l.publishRefusal(ctx, o, p) // takeover.go
		return 0, err
	}
	if ctx.Err() == nil {
		l.logOutcome(p, err)
	}
	retry = retryBound(o.Config)
	l.madeProgress(retry)
	after := l.pg.Observe(ctx)
	l.madeProgress(retry)
	l.publish(ctx, o, after, p)
	loopWait := time.Duration(o.Config.LoopWait) * time.Second
	next := loopWait
	// A candidate wakes exactly when the old leader's lease runs out.
	if !o.Lease.Held && !o.Lease.ExpiresAt.IsZero() {
		if d := o.Lease.ExpiresAt.Sub(l.cfg.Clock.Now()); d > 0 && d < next {
			next = d + 10*time.Millisecond
		}
	}
	// A takeover refused by a failsafe hold-off is tried again when it ends.
	if d := l.untilHoldoffEnds(); d > 0 && d < next {
		next = d + 10*time.Millisecond
	}
	next = nextTurnAfterPending(o, next)

	next = l.untilScheduled(time.Now(), next, o.Config.Pause)
	l.madeProgress(next + retry)
	return next, nil
}

// publish proposes this member's record built from pgs; the error is the
// proposal's (most callers let the next report try again).
func (l *Loop) publish(ctx context.Context, o Observation, pgs PGStatus, p Plan) error {
	role, state := memberRoleState(pgs)
	_, err := l.publishAs(ctx, o, pgs, p, role, state)
	return err
}

// publishAs proposes this member's record built from pgs with role and
// state, notes them in the snapshot and returns the record and the
// proposal's error.
func (l *Loop) publishAs(ctx context.Context, o Observation, pgs PGStatus, p Plan, role, state string) (fsm.Member, error) {
	m := l.cfg.Member
	m.Name = l.cfg.Name
	m.Tags = l.backoffTags(m.Tags)
	m.Role, m.State = role, state
	m.Timeline = pgs.Timeline
	m.WALPosition, m.ReceivedLSN, m.ReplayedLSN = pgs.WALPosition, pgs.ReceivedLSN, pgs.ReplayedLSN
	m.PendingRestart = pgs.PendingRestart
	m.ScheduledRestart = l.scheduledRecord()
	m.SystemID = pgs.SystemID
	m.Protocol = fsm.Protocol // gates SwapSync and RemoveStaleMember (fsm/protocol.go)
	if pgs.DataDir == DataDirUnknown {
		m.DataUnknown = true
		m.Problem = "data directory state unknown"
		if pgs.Err != nil {
			m.Problem += ": " + pgs.Err.Error()
		}
	}
	if pgs.Running && pgs.InRecovery && !pgs.Streaming {
		m.Problem = pgs.StreamDetail
		if m.Problem != "" && o.StuckMovedAside {
			m.Problem += " (already cloned again once under this leader; not repaired automatically: reinitialize it)"
		}
	}
	m.UpdatedAt = time.Now().UTC()
	st := l.cluster.State()
	held := st.Leader != nil && st.Leader.Member == l.cfg.Name
	if held && role == fsm.RolePrimary {
		m.Slots = l.slotsMade
	}
	m.Takeover = takeoverNote(o, p)
	l.mu.Lock()
	l.withdrawn = false // pgs is observed after the step: PrimaryUntil follows it again
	now := time.Now()
	l.snap = Snapshot{PG: pgs, State: state, Role: role, HoldsLeaderKey: held && l.lease.View(st, l.cfg.Name, l.cfg.Clock.Now()).Valid,
		FailsafeActive: held && l.failsafeActive,
		LastRun:        now, AliveAt: now, LastPlan: p.String(), LoopWait: time.Duration(o.Config.LoopWait) * time.Second}
	l.mu.Unlock()
	return m, l.proposeRecord(ctx, o, m)
}

// proposeRecord proposes m as this member's record and logs a failure at
// debug level: the next report tries again.
func (l *Loop) proposeRecord(ctx context.Context, o Observation, m fsm.Member) error {
	_, err := l.proposeWithin(ctx, l.proposeTimeout(o), fsm.UpsertMember{Member: m})
	if err != nil && ctx.Err() == nil {
		l.log.Debug("publishing member status failed", "error", err)
	}
	return err
}

// memberRoleState maps PostgreSQL facts to Patroni's role and state names.
func memberRoleState(pgs PGStatus) (role, state string) {
	switch {
	case pgs.DataDir != DataDirValid:
		return fsm.RoleUninitialized, "stopped"
	case !pgs.Running:
		if pgs.InRecovery {
			return fsm.RoleReplica, "stopped"
		}
		return fsm.RoleReplica, "stopped"
	case !pgs.InRecovery:
		return fsm.RolePrimary, "running"
	case pgs.Streaming:
		return fsm.RoleReplica, "streaming"
	}
	return fsm.RoleReplica, "running"
}

func (l *Loop) propose(ctx context.Context, o Observation, c fsm.Command) (uint64, error) {
	return l.proposeWithin(ctx, time.Duration(o.Config.RetryTimeout)*time.Second, c)
}

// raftDownTimeout bounds proposals while the last one failed for lack of
// Raft (no quorum): a turn must not spend its lease waiting on them.
const raftDownTimeout = 250 * time.Millisecond

// proposeWithin proposes with a timeout and remembers whether Raft answered.
func (l *Loop) proposeWithin(ctx context.Context, d time.Duration, c fsm.Command) (uint64, error) {
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	idx, err := l.cluster.Propose(pctx, c)
	rejected := err != nil && fsm.ErrorCode(err) != ""
	l.mu.Lock()
	l.raftDown = err != nil && !rejected
	l.mu.Unlock()
	return idx, err
}

// proposeTimeout is retry_timeout, or raftDownTimeout while Raft is down.
func (l *Loop) proposeTimeout(o Observation) time.Duration {
	d := time.Duration(o.Config.RetryTimeout) * time.Second
	l.mu.Lock()
	down := l.raftDown
	l.mu.Unlock()
	if down && d > raftDownTimeout {
		d = raftDownTimeout
	}
	return d
}

// Shutdown stops PostgreSQL cleanly and, when this node led, gives the key
// back only after PostgreSQL stopped, so the replicas got every WAL record
// a clean shutdown sends before anyone else may take over.
//
// When the whole cluster stops at once (every agent gets SIGTERM together),
// the replicas' agents used to exit while the leader was still stopping
// PostgreSQL, so its release found no Raft quorum and the key had to
// expire. So the holder first publishes its member state as "stopping",
// and an agent that does not hold the key keeps its Raft peer (it returns
// later) until a stopping holder has given the key back, bounded by
// stoppingHolderWait.
//
// Call it only after Run returned. A start as primary or a promotion that
// is in flight, or that failed (cut short by the shutdown) without
// PostgreSQL being seen running since, may still bring up a postmaster that
// Stop cannot see yet (no postmaster.pid): then the key and the armed
// watchdog are kept, and the key expires instead (review item 6).
func (l *Loop) Shutdown(ctx context.Context) error {
	st := l.cluster.State()
	uncertain := l.pgStepUncertain()
	holder := st.Leader != nil && st.Leader.Member == l.cfg.Name
	if !holder && l.leaveRunning(ctx, st) { // takeover.go
		l.log.Info("leaving PostgreSQL running as it was found: its takeover was not completed")
		return nil
	}
	if holder {
		l.publishStopping(ctx, st)
	}
	stopErr := l.pg.Stop(ctx)
	if !holder {
		l.waitForStoppingHolder(ctx)
		return stopErr
	}
	if stopErr != nil {
		// The watchdog stays armed: it fences at the trust deadline.
		return fmt.Errorf("stop PostgreSQL (leader key kept until its lease runs out): %w", stopErr)
	}
	if uncertain || l.pgStepUncertain() {
		return errors.New("a start or promotion may still bring PostgreSQL up: leader key and watchdog kept until the lease runs out")
	}
	l.dropLease()
	// Bounded: when the whole cluster stops at once there may be no quorum
	// left; the key then simply expires, which is as safe, only slower.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := l.cluster.Propose(rctx, fsm.ReleaseLeader{Member: l.cfg.Name, Epoch: st.Leader.Epoch}); err != nil {
		return fmt.Errorf("release leader key (it will expire instead): %w", err)
	}
	l.log.Info("gave the leader key back", "member", l.cfg.Name, "epoch", st.Leader.Epoch, "reason", "shutdown")
	return nil
}

// memberStopping is the member state a key holder publishes while it shuts
// down (Patroni's name for it).
const memberStopping = "stopping"

// stoppingHolderWait bounds how long a stopping agent waits for a stopping
// key holder to give the key back.
const stoppingHolderWait = 10 * time.Second

// publishStopping reports this member as stopping, best effort (one short
// proposal: without quorum there is nobody to tell).
func (l *Loop) publishStopping(ctx context.Context, st fsm.State) {
	m, ok := st.Members[l.cfg.Name]
	if !ok {
		return
	}
	m.State = memberStopping
	m.UpdatedAt = time.Now().UTC()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := l.cluster.Propose(pctx, fsm.UpsertMember{Member: m}); err != nil {
		l.log.Debug("publishing the stopping state failed", "error", err)
	}
}

// waitForStoppingHolder returns once no other member holds the key while
// reporting itself stopping, or after stoppingHolderWait.
func (l *Loop) waitForStoppingHolder(ctx context.Context) {
	deadline := time.NewTimer(stoppingHolderWait)
	defer deadline.Stop()
	logged := false
	for {
		ch := l.cluster.Changed()
		st := l.cluster.State()
		if st.Leader == nil || st.Leader.Member == l.cfg.Name || st.Members[st.Leader.Member].State != memberStopping {
			return
		}
		if !logged {
			l.log.Info("the leader is stopping too: keeping Raft up until it gives the key back", "member", l.cfg.Name, "leader", st.Leader.Member)
			logged = true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// renewed records a committed acquire or renewal sent at sent (and
// sentBoot) with ttl and re-arms the watchdog with the new trust deadline,
// earlier or later than the last one. gen is Lease.Gen() read before the
// proposal was sent: if the lease was dropped or revoked since (a release,
// a demotion, a fence racing the background renewer), the renewal does not
// bring the trust back.
func (l *Loop) renewed(gen, epoch uint64, sent time.Time, sentBoot, ttl time.Duration) {
	l.leaseMu.Lock()
	defer l.leaseMu.Unlock()
	if l.lease.Gen() != gen {
		l.log.Debug("a renewal committed after the lease was dropped; not trusting it", "epoch", epoch)
		return
	}
	l.lease.Renewed(epoch, sent, sentBoot, ttl)
	l.mu.Lock()
	l.progress.lastSent = sent
	l.mu.Unlock()
	l.armLocked()
}

// capTrust lowers the trust before a renewal with ttl is sent (Lease.Sending)
// and moves the watchdog's deadline down with it.
func (l *Loop) capTrust(epoch uint64, sent time.Time, ttl time.Duration) {
	l.leaseMu.Lock()
	defer l.leaseMu.Unlock()
	if l.lease.Sending(epoch, sent, ttl) {
		l.armLocked()
	}
}

// revoke ends the trust now (the key was lost) without disarming: the
// guard fences and then drops the lease.
func (l *Loop) revoke() {
	l.leaseMu.Lock()
	defer l.leaseMu.Unlock()
	l.lease.Revoke()
	if epoch, _ := l.lease.TrustUntil(); epoch != 0 {
		if err := l.cfg.Watchdog.Arm(l.cfg.Clock.Now()); err != nil {
			l.log.Error("arming the watchdog failed", "error", err)
		}
	}
}

// armLocked arms the watchdog with the trust deadline, moved earlier by any
// suspend since the renewal was sent (Lease.Deadline), as the guard counts.
func (l *Loop) armLocked() {
	if until := l.lease.Deadline(l.cfg.Clock.Now(), l.cfg.Boottime()); !until.IsZero() {
		if err := l.cfg.Watchdog.Arm(until); err != nil {
			l.log.Error("arming the watchdog failed", "error", err)
		}
	}
}

// dropLeaseIfUntrusted drops the lease of tenure epoch only if it is still
// not trusted: a renewal that committed while the guard fenced keeps it
// (and a start that checked the trust after that renewal keeps its guard).
func (l *Loop) dropLeaseIfUntrusted(epoch uint64) {
	l.leaseMu.Lock()
	defer l.leaseMu.Unlock()
	if e, ok, _ := l.lease.Trusted(l.cfg.Clock.Now(), l.cfg.Boottime()); ok || e != epoch {
		return
	}
	l.lease.Drop()
	if err := l.cfg.Watchdog.Disarm(); err != nil {
		l.log.Error("disarming the watchdog failed", "error", err)
	}
}

// dropLease forgets this node's lease; PostgreSQL is no longer (or about to
// be no longer) a primary, so the watchdog stands down.
func (l *Loop) dropLease() {
	l.leaseMu.Lock()
	defer l.leaseMu.Unlock()
	l.lease.Drop()
	if err := l.cfg.Watchdog.Disarm(); err != nil {
		l.log.Error("disarming the watchdog failed", "error", err)
	}
}
