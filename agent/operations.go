package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
)

// operator implements api.Operator on the HA loop (restart, reinitialize,
// the scheduled restart) and the agent's reload.
type operator struct{ a *Agent }

var _ api.Operator = operator{}

func restartOperation(r api.RestartRequest) ha.Operation {
	return ha.Operation{Kind: ha.OpRestart, Role: r.Role, PendingOnly: r.RestartPending, BelowVersion: r.BelowVersion, Timeout: r.Timeout}
}

func (o operator) Restart(ctx context.Context, r api.RestartRequest) error {
	wasPending := o.ownRecord().PendingRestart
	if err := o.a.loop.Restart(ctx, restartOperation(r)); err != nil {
		return operationError(err, "restart")
	}
	if wasPending {
		// `restart --pending` then `list -e` must not show it still pending.
		o.awaitOwnRecord(ctx, func(m fsm.Member) bool { return !m.PendingRestart })
	}
	return nil
}

func (o operator) ScheduleRestart(r api.RestartRequest) error {
	s := ha.ScheduledRestart{At: r.Schedule, Operation: restartOperation(r), Record: fsm.ScheduledRestart{
		Schedule: api.Isoformat(r.Schedule), PostgresVersion: r.PostgresVersion, Role: r.Role, RestartPending: r.RestartPending,
	}}
	if err := o.a.loop.ScheduleRestart(s); err != nil {
		if errors.Is(err, ha.ErrRestartScheduled) {
			return api.ErrRestartScheduled
		}
		return err
	}
	o.a.log.Info("restart scheduled", "at", s.Record.Schedule)
	o.awaitOwnRecord(context.Background(), func(m fsm.Member) bool { return m.ScheduledRestart != nil })
	return nil
}

func (o operator) CancelScheduledRestart() bool {
	ok := o.a.loop.CancelScheduledRestart()
	if ok {
		o.a.log.Info("scheduled restart deleted")
		o.awaitOwnRecord(context.Background(), func(m fsm.Member) bool { return m.ScheduledRestart == nil })
	}
	return ok
}

// ownRecordWait bounds how long an operation's answer waits for this
// node's member record to show its outcome.
const ownRecordWait = 3 * time.Second

// awaitOwnRecord wakes the loop and waits, at most ownRecordWait, until
// this node's member record (as applied here) satisfies ok. The loop
// publishes a scheduled restart, its removal and a cleared pending restart
// at its next turn; answering before that let `conclave flush` read a view
// without the restart just scheduled, say "No scheduled restart for member
// node2" and leave it to fire. It only delays the answer.
func (o operator) awaitOwnRecord(ctx context.Context, ok func(fsm.Member) bool) {
	o.a.loop.Wake()
	ctx, cancel := context.WithTimeout(ctx, ownRecordWait)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !ok(o.ownRecord()) {
		select {
		case <-ctx.Done():
			o.a.log.Warn("answering before this node's member record shows the change", "waited", ownRecordWait)
			return
		case <-t.C:
		}
	}
}

func (o operator) ownRecord() fsm.Member { return o.a.store.State().Members[o.a.cfg.Name] }

func (o operator) Reload(ctx context.Context) error {
	return o.a.reload("POST /reload")
}

// Reinitialize: force is accepted for Patroni's body; Conclave runs one
// operation at a time and has no background task to cancel for it.
func (o operator) Reinitialize(ctx context.Context, force bool) error {
	return operationError(o.a.loop.Reinitialize(ctx), "reinitialize")
}

// operationError words the loop's answer as Patroni does.
func operationError(err error, what string) error {
	if errors.Is(err, ha.ErrOperationInProgress) {
		return fmt.Errorf("%s already in progress", what)
	}
	return err
}
