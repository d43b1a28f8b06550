package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Operator-requested steps (POST /restart, POST /reinitialize). They run in
// the loop goroutine like every other step, so they never race a decision:
// the request is handed to the next turn's Observation (Operation), Decide
// answers it (decideOperation, pure and table-tested) and the executor
// reports the outcome back to the waiting request.
//
// Safety (DESIGN.md "Restart, reload, reinitialize"):
//   - A restart of the primary keeps the leader key: the plan renews first,
//     the background renewer keeps renewing while the step runs (the plan
//     renews, so plansRenewal holds) for at most the step's bound (the
//     request's timeout, else StepTimeout), and PostgreSQL is started
//     writable only while the lease is trusted, checked again after the start
//     (startedWritable), exactly as a crash recovery (recoverPrimary). The
//     adapter keeps synchronous_standby_names across the restart (rule 2).
//   - Reinitialize never runs on the key holder, nor on a recorded
//     synchronous standby (rule 2: it may be the only member allowed to be
//     promoted), and moves the data directory aside instead of deleting it.
const (
	// ActRestart stops PostgreSQL and starts it again in its role: as
	// primary (under a trusted lease) when the node holds the key, else as a
	// standby of Target.
	ActRestart ActionKind = 100 + iota
	// ActReinit moves the data directory aside so the plan's clone and start
	// replace it (never on the key holder).
	ActReinit
	// ActRefuseOperation answers the operator's request with Names[0].
	ActRefuseOperation
)

// OpKind is what the operator asked for.
type OpKind int

const (
	OpNone OpKind = iota
	OpRestart
	OpReinit
)

// Operation is a request from the REST API, with Patroni's restart filters.
type Operation struct {
	Kind OpKind
	// Role restricts a restart to "primary" or "replica" ("" = any).
	Role string
	// PendingOnly restarts only when PostgreSQL reports a pending restart.
	PendingOnly bool
	// BelowVersion restarts only when server_version is lower (0 = any).
	BelowVersion int
	// Timeout bounds how long the primary keeps its lease while restarting:
	// past it the renewer stops and the others fail over (Patroni's timeout).
	Timeout time.Duration
}

// ScheduledRestart is a restart waiting for its time, shown in the member
// record (scheduled_restart) and cancelled by DELETE /restart.
type ScheduledRestart struct {
	At time.Time
	Operation
	Record fsm.ScheduledRestart // as the member record shows it
	// startedAt is the start time of the server the restart was scheduled
	// against, taken at the first turn that sees it running: once it
	// changes, the restart was done already (as Patroni's
	// postmaster_start_time in scheduled_restart). unreadable: due, but
	// this turn could not read the start time (starting, crash recovery),
	// so it waits rather than restart a server that may have been
	// restarted already.
	startedAt  time.Time
	unreadable bool
}

// OperationRefused is a request Decide turned down; its text is Patroni's
// answer (e.g. "I am the leader, can not reinitialize").
type OperationRefused struct{ Reason string }

func (e *OperationRefused) Error() string { return e.Reason }

// Errors of the operation requests.
var (
	// ErrOperationInProgress: another restart or reinitialize waits or runs.
	ErrOperationInProgress = errors.New("operation already in progress")
	// ErrRestartScheduled: a scheduled restart exists already.
	ErrRestartScheduled = errors.New("another restart is already scheduled")
)

type opRequest struct {
	op      Operation
	started chan struct{} // closed when its step begins (reinitialize answers then)
	done    chan error    // receives the outcome once
}

// operations holds the pending request and the scheduled restart.
type operations struct {
	mu        sync.Mutex
	cur       *opRequest
	scheduled *ScheduledRestart
	// fired: the scheduled restart left the schedule at the last
	// observation (it became the current request, or it was discarded as
	// stale) and the record does not show that yet.
	fired bool
}

// Restart asks the loop to restart PostgreSQL now and waits for the outcome.
func (l *Loop) Restart(ctx context.Context, op Operation) error {
	op.Kind = OpRestart
	req, err := l.request(op)
	if err != nil {
		return err
	}
	return l.await(ctx, req, false)
}

// Reinitialize asks the loop to re-clone this member from the leader; it
// returns once the step began (or was refused), as Patroni answers
// "reinitialize started".
func (l *Loop) Reinitialize(ctx context.Context) error {
	req, err := l.request(Operation{Kind: OpReinit})
	if err != nil {
		return err
	}
	return l.await(ctx, req, true)
}

func (l *Loop) request(op Operation) (*opRequest, error) {
	l.operations.mu.Lock()
	defer l.operations.mu.Unlock()
	if l.operations.cur != nil {
		return nil, ErrOperationInProgress
	}
	req := &opRequest{op: op, started: make(chan struct{}), done: make(chan error, 1)}
	l.operations.cur = req
	l.Wake()
	return req, nil
}

func (l *Loop) await(ctx context.Context, req *opRequest, untilStarted bool) error {
	var started <-chan struct{}
	if untilStarted {
		started = req.started
	}
	select {
	case err := <-req.done:
		return err
	case <-started:
		select {
		case err := <-req.done: // refused or failed at once
			return err
		default:
			return nil
		}
	case <-ctx.Done():
		return fmt.Errorf("%s still in progress: %w", opName(req.op.Kind), ctx.Err())
	}
}

// ScheduleRestart stores a restart to run at s.At (on this node).
func (l *Loop) ScheduleRestart(s ScheduledRestart) error {
	l.operations.mu.Lock()
	defer l.operations.mu.Unlock()
	if l.operations.scheduled != nil {
		return ErrRestartScheduled
	}
	s.Kind = OpRestart
	l.operations.scheduled = &s
	l.Wake() // published by the next turn
	return nil
}

// CancelScheduledRestart deletes the scheduled restart; false if none.
func (l *Loop) CancelScheduledRestart() bool {
	l.operations.mu.Lock()
	defer l.operations.mu.Unlock()
	had := l.operations.scheduled != nil
	l.operations.scheduled = nil
	if had {
		l.Wake()
	}
	return had
}

// ScheduledRestart returns the scheduled restart, if any.
func (l *Loop) ScheduledRestart() (ScheduledRestart, bool) {
	l.operations.mu.Lock()
	defer l.operations.mu.Unlock()
	if s := l.operations.scheduled; s != nil {
		return *s, true
	}
	return ScheduledRestart{}, false
}

// pendingOperation is the request this turn answers: the operator's, or the
// scheduled restart once its time came (it becomes a request without a
// waiter). As Patroni's, a scheduled restart waits while paused, and one
// found long past its time (staleScheduled) is discarded rather than run
// by surprise; one whose server was restarted since it was scheduled (by
// an operator's restart, or a crash and the agent's start) is cancelled,
// as Patroni's: its purpose is served, and a second restart in a row would
// be a surprise. startedAt is the server's start time this turn (zero when
// unknown): once one was recorded, the restart fires only on a turn that
// reads the same one, and waits meanwhile (a stale one is discarded).
// Called by the loop goroutine at observation.
func (l *Loop) pendingOperation(wall time.Time, dyn fsm.DynamicConfig, startedAt time.Time) Operation {
	l.operations.mu.Lock()
	defer l.operations.mu.Unlock()
	if s := l.operations.scheduled; s != nil && !startedAt.IsZero() {
		switch {
		case s.startedAt.IsZero():
			s.startedAt = startedAt
		case !s.startedAt.Equal(startedAt):
			l.operations.scheduled, l.operations.fired = nil, true
			l.log.Info("scheduled restart cancelled: PostgreSQL was restarted since it was scheduled", "at", s.At, "postmaster_start_time", startedAt)
		}
	}
	if s := l.operations.scheduled; s != nil && l.operations.cur == nil && !wall.Before(s.At) && !dyn.Pause {
		late := wall.Sub(s.At)
		switch {
		case late > staleScheduled(dyn) && s.unreadable:
			l.operations.scheduled, l.operations.fired = nil, true
			l.log.Warn("scheduled restart discarded: PostgreSQL's start time unreadable since its time (restarted meanwhile or not is unknown)", "at", s.At, "late", late.Round(time.Second))
		case late > staleScheduled(dyn):
			l.operations.scheduled, l.operations.fired = nil, true
			l.log.Warn("scheduled restart found long past its time (paused, or the loop was held up): discarded", "at", s.At, "late", late.Round(time.Second))
		case !s.startedAt.IsZero() && startedAt.IsZero():
			if !s.unreadable {
				l.log.Info("scheduled restart waits: PostgreSQL's start time cannot be read (starting, or in recovery)", "at", s.At)
			}
			s.unreadable = true
		default:
			l.operations.cur = &opRequest{op: s.Operation, started: make(chan struct{}), done: make(chan error, 1)}
			l.operations.scheduled, l.operations.fired = nil, true
			l.log.Info("scheduled restart is due", "at", s.At)
		}
	}
	if l.operations.cur == nil {
		return Operation{}
	}
	return l.operations.cur.op
}

// takeFired reports (once) that the scheduled restart fired at the last
// observation.
func (l *Loop) takeFired() bool {
	l.operations.mu.Lock()
	defer l.operations.mu.Unlock()
	fired := l.operations.fired
	l.operations.fired = false
	return fired
}

// staleScheduled is how late a scheduled restart may still run: Patroni's
// 1.5 loop_wait, but at least 30 s, since the default loop_wait of 1 s
// would drop a restart whose turn a slow step held up a moment.
func staleScheduled(dyn fsm.DynamicConfig) time.Duration {
	return max(time.Duration(dyn.LoopWait)*1500*time.Millisecond, 30*time.Second)
}

// untilScheduled shortens the wait before the next turn to the scheduled
// restart's time (not while paused: it waits for the resume, nor while
// it waits for a readable start time).
func (l *Loop) untilScheduled(wall time.Time, next time.Duration, paused bool) time.Duration {
	l.operations.mu.Lock()
	defer l.operations.mu.Unlock()
	if s := l.operations.scheduled; s != nil && !paused && !s.unreadable {
		if d := s.At.Sub(wall); d < next {
			return max(d, 0) + 10*time.Millisecond
		}
	}
	return next
}

// operationStarted marks the request's step as begun.
func (l *Loop) operationStarted() {
	l.operations.mu.Lock()
	defer l.operations.mu.Unlock()
	if r := l.operations.cur; r != nil {
		select {
		case <-r.started:
		default:
			close(r.started)
		}
	}
}

// finishOperation answers the request after a turn whose plan carried it.
func (l *Loop) finishOperation(p Plan, err error) {
	carried := false
	for _, a := range p.Actions {
		switch a.Kind {
		case ActRestart, ActReinit, ActRefuseOperation:
			carried = true
		}
	}
	if !carried {
		return
	}
	l.operations.mu.Lock()
	r := l.operations.cur
	l.operations.cur = nil
	l.operations.mu.Unlock()
	if r == nil {
		return
	}
	var refused *OperationRefused
	switch {
	case errors.As(err, &refused):
		err = refused // Patroni's wording, without the action's name
	case err != nil:
		err = fmt.Errorf("%s failed: %w", opName(r.op.Kind), err)
	}
	r.done <- err
	l.Wake()
}

func opName(k OpKind) string {
	if k == OpReinit {
		return "reinitialize"
	}
	return "restart"
}

// decideOperation answers the operator's request (o.Operation). It runs
// before the pause check on purpose: Patroni restarts and reinitializes on
// request in maintenance mode too (rule 5 is about automatic actions).
func decideOperation(o Observation) Plan {
	switch o.Operation.Kind {
	case OpRestart:
		return decideRestart(o)
	case OpReinit:
		return decideReinit(o)
	}
	return refuseOperation(o, "unknown operation")
}

// refuseOperation answers the request with why; a key holder keeps renewing.
func refuseOperation(o Observation, why string) Plan {
	refuse := Action{Kind: ActRefuseOperation, Names: []string{why}}
	if o.Lease.Held && o.Lease.Valid {
		return plan(why, act(ActRenew), refuse)
	}
	return plan(why, refuse)
}

func decideRestart(o Observation) Plan {
	op := o.Operation
	primary := o.PG.Running && !o.PG.InRecovery
	switch {
	case op.Role == "primary" && !primary, op.Role == "replica" && primary:
		return refuseOperation(o, "restart conditions are not satisfied: host role mismatch")
	case op.BelowVersion > 0 && o.PG.ServerVersion >= op.BelowVersion:
		return refuseOperation(o, "restart conditions are not satisfied: postgres version mismatch")
	case op.PendingOnly && !o.PG.PendingRestart:
		return refuseOperation(o, "restart conditions are not satisfied: pending restart flag is not set")
	case o.PG.DataDir != DataDirValid || !o.PG.Running:
		return refuseOperation(o, "postgres is not running")
	}
	if o.Lease.Held {
		if !primary {
			return refuseOperation(o, "restart refused: this member holds the leader key but PostgreSQL is still in recovery")
		}
		if !o.Lease.Valid {
			return refuseOperation(o, "restart refused: the leader lease is not trusted right now")
		}
		return plan("restarting PostgreSQL in place as primary (keeping the leader key)",
			act(ActRenew), act(ActRestart))
	}
	if primary {
		return refuseOperation(o, "restart refused: PostgreSQL is writable but this member does not hold the leader key")
	}
	target := fsm.Member{}
	if l := o.State.Leader; l != nil && !o.Lease.Expired {
		if m, ok := o.State.Members[l.Member]; ok {
			target = m
		} else {
			target = fsm.Member{Name: l.Member}
		}
	}
	return plan("restarting PostgreSQL as a replica", actOn(ActRestart, target))
}

func decideReinit(o Observation) Plan {
	l := o.State.Leader
	switch {
	case o.Lease.Held:
		return refuseOperation(o, "I am the leader, can not reinitialize")
	case l == nil || o.Lease.Expired:
		return refuseOperation(o, "Cluster has no leader, can not reinitialize")
	case l.Member == o.Self:
		return refuseOperation(o, "I am the leader, can not reinitialize")
	case o.Config.SynchronousMode && recordedSync(o.State.Sync, o.Self):
		return refuseOperation(o, "reinitialize refused: this member is a recorded synchronous standby and may be the only one allowed to be promoted (rule 2); wait until the primary drops it from the synchronous standbys")
	}
	src, ok := o.State.Members[l.Member]
	if !ok || src.Role != fsm.RolePrimary || src.State != "running" {
		return refuseOperation(o, fmt.Sprintf("reinitialize refused: leader %s is not running", l.Member))
	}
	return plan("reinitializing: moving the data directory aside and cloning from the leader",
		act(ActReinit), actOn(ActClone, src), actOn(ActStartReplica, src))
}

// runOperation executes the operation actions; handled is false for others.
func (l *Loop) runOperation(ctx context.Context, o Observation, a Action) (handled bool, err error) {
	switch a.Kind {
	case ActRefuseOperation:
		return true, &OperationRefused{Reason: a.Names[0]}
	case ActRestart:
		l.operationStarted()
		return true, l.restartInPlace(ctx, o, a)
	case ActReinit:
		l.mu.Lock()
		l.snap.State = "creating replica" // before the request is answered: reinit --wait polls it
		l.mu.Unlock()
		l.operationStarted()
		path, err := l.pg.MoveAside(ctx)
		if err != nil {
			return true, err
		}
		l.log.Warn("reinitialize: moved the data directory aside; remove it once no longer needed", "path", path)
		return true, nil
	}
	return false, nil
}

// restartInPlace stops PostgreSQL and starts it again in its role. As
// primary the start happens only under a trusted lease and is checked again
// after it (the same rules as recoverPrimary); if the start fails the next
// turn sees a key holder with PostgreSQL down and recovers it (bounded by
// primary_start_timeout).
//
// As primary the floating IP goes first (withdrawEndpoint) and comes back
// once the turn observed PostgreSQL running as primary under a trusted
// lease. A Postgres that reports events (RestartMarker) hears the stop and
// the start as one restart.
func (l *Loop) restartInPlace(ctx context.Context, o Observation, a Action) (err error) {
	if o.Lease.Held {
		if err := l.withdrawEndpoint(ctx); err != nil {
			return err
		}
	}
	// PostgreSQL refuses connections from here until the start: /primary
	// and /health answer 503 as Patroni's "restarting" does, not 200 from
	// the snapshot taken before; the next publish shows the real state.
	l.mu.Lock()
	l.snap.State = "restarting"
	l.mu.Unlock()
	if m, ok := l.pg.(RestartMarker); ok {
		m.BeginRestart()
		defer func() { m.EndRestart(err == nil) }()
	}
	if err := l.pg.Stop(ctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if !o.Lease.Held {
		return l.pg.Start(ctx, &a.Target)
	}
	if from, left := l.failsafeHoldoff(); left > 0 {
		return fmt.Errorf("not starting as primary: %s may trust the failsafe heartbeat accepted from it for %v more", from, left)
	}
	return l.startPrimaryTrusted(ctx, ctx, "restart as primary")
}

// RestartMarker may be implemented by a Postgres that reports events (the
// callbacks, package callback): BeginRestart and EndRestart bracket a
// restart in place, so the stop and the start inside count as one restart
// (Patroni's on_restart, without on_stop and on_start). ok says PostgreSQL
// runs again in its role.
type RestartMarker interface {
	BeginRestart()
	EndRestart(ok bool)
}

func recordedSync(s fsm.Sync, name string) bool {
	for _, m := range s.Members {
		if m == name {
			return true
		}
	}
	return false
}

// scheduledRecord is the scheduled restart as the member record shows it.
func (l *Loop) scheduledRecord() *fsm.ScheduledRestart {
	if s, ok := l.ScheduledRestart(); ok {
		r := s.Record
		return &r
	}
	return nil
}
