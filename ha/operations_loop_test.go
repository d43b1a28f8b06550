package ha

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/hashicorp/go-hclog"
)

// request runs f (a Restart or Reinitialize) in the background and returns
// once its request is queued for the next turn.
func request(t *testing.T, l *Loop, f func() error) <-chan error {
	t.Helper()
	out := make(chan error, 1)
	go func() { out <- f() }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.operations.mu.Lock()
		queued := l.operations.cur != nil
		l.operations.mu.Unlock()
		if queued {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatal("request not queued")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoop_Restart_PrimaryRestartsInPlaceKeepingTheKey(t *testing.T) {
	l, c, pg, clock := newLeader(t, nil, nil)
	epoch := c.State().Leader.Epoch
	pg.mu.Lock()
	pg.calls = nil
	pg.mu.Unlock()
	done := request(t, l, func() error { return l.Restart(context.Background(), Operation{}) })
	clock.advance(500 * time.Millisecond)
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("restart: %v", err)
	}
	if got := strings.Join(pg.log(), " "); got != "stop start" {
		t.Fatalf("calls %q, want stop then start", got)
	}
	st := c.State()
	if st.LeaderName() != "n1" || st.Leader.Epoch != epoch || !l.trusted() {
		t.Fatalf("after the restart: leader %q epoch %d (was %d) trusted %v: the key must stay with the same tenure",
			st.LeaderName(), st.Leader.Epoch, epoch, l.trusted())
	}
	if s := pg.Observe(context.Background()); !s.Running || s.InRecovery {
		t.Fatalf("PostgreSQL after the restart: %+v, want a running primary", s)
	}
}

func TestLoop_Restart_LeaseRanOutMeanwhile_NotStartedWritable(t *testing.T) {
	l, c, pg, clock := newLeader(t, nil, nil)
	c.mu.Lock()
	c.down = true // renewals fail from now on
	c.mu.Unlock()
	clock.advance(3 * time.Second) // past the trust of the last renewal
	done := request(t, l, func() error { return l.Restart(context.Background(), Operation{}) })
	l.turn(context.Background())
	err := <-done
	if err == nil || pg.called("start") {
		t.Fatalf("restart without a trusted lease: err %v, calls %v", err, pg.log())
	}
}

func TestLoop_Restart_SecondRequestWhileOneIsQueued_InProgress(t *testing.T) {
	l, _, _, _ := newLeader(t, nil, nil)
	first := request(t, l, func() error { return l.Restart(context.Background(), Operation{}) })
	if err := l.Restart(context.Background(), Operation{}); err != ErrOperationInProgress {
		t.Fatalf("second request: %v, want ErrOperationInProgress", err)
	}
	l.turn(context.Background())
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestLoop_Reinitialize_OnTheLeader_Refused(t *testing.T) {
	l, _, pg, _ := newLeader(t, nil, nil)
	done := request(t, l, func() error { return l.Reinitialize(context.Background()) })
	l.turn(context.Background())
	if err := <-done; err == nil || err.Error() != "I am the leader, can not reinitialize" {
		t.Fatalf("reinitialize on the leader: %v", err)
	}
	if pg.called("move-aside") {
		t.Fatal("the leader's data directory was moved aside")
	}
}

func TestLoop_ScheduledRestart_PublishedFiresAtItsTimeAndCancelled(t *testing.T) {
	l, c, pg, _ := newLeader(t, nil, nil)
	later := ScheduledRestart{At: time.Now().Add(time.Hour)}
	later.Record.Schedule = later.At.Format(time.RFC3339)
	if err := l.ScheduleRestart(later); err != nil {
		t.Fatal(err)
	}
	if err := l.ScheduleRestart(later); err != ErrRestartScheduled {
		t.Fatalf("second schedule: %v", err)
	}
	l.turn(context.Background())
	if r := c.State().Members["n1"].ScheduledRestart; r == nil || r.Schedule != later.Record.Schedule || pg.called("stop") {
		t.Fatalf("member record %+v, stopped %v: want the schedule shown and nothing done yet", r, pg.called("stop"))
	}
	if !l.CancelScheduledRestart() || l.CancelScheduledRestart() {
		t.Fatal("cancel: want true once, then false")
	}
	l.turn(context.Background())
	if r := c.State().Members["n1"].ScheduledRestart; r != nil {
		t.Fatalf("cancelled restart still shown: %+v", r)
	}
	due := ScheduledRestart{At: time.Now().Add(-time.Millisecond)}
	if err := l.ScheduleRestart(due); err != nil {
		t.Fatal(err)
	}
	l.turn(context.Background())
	if !pg.called("stop") || !pg.called("start") || c.State().Members["n1"].ScheduledRestart != nil {
		t.Fatalf("due restart: calls %v, record %+v", pg.log(), c.State().Members["n1"].ScheduledRestart)
	}
	if c.State().LeaderName() != "n1" {
		t.Fatal("the scheduled restart of the primary lost the key")
	}
}

func TestLoop_SetLocal_NoFailoverAppliesFromTheNextTurn(t *testing.T) {
	l, c, _, _ := newLeader(t, nil, nil)
	l.SetLocal(Local{Tags: Tags{NoFailover: true, FailoverPriority: 1}, MemberTags: map[string]any{"nofailover": true}})
	o := l.observe(context.Background())
	if !o.Tags.NoFailover {
		t.Fatal("observation after SetLocal does not carry nofailover")
	}
	l.turn(context.Background())
	if !c.State().Members["n1"].Tag("nofailover") {
		t.Fatalf("member record tags %v: nofailover not published", c.State().Members["n1"].Tags)
	}
	yes := true
	l.SetLocal(Local{UsePgRewind: &yes})
	l.observe(context.Background())
	if !l.dynamicConfig(c.State(), false).UsePgRewind {
		t.Fatal("use_pg_rewind from the reloaded file not applied")
	}
}

// While the primary restarts in place, PostgreSQL refuses connections:
// /primary and /health (state "running") must say so, as Patroni's
// "restarting" does, instead of answering 200 from the snapshot taken
// before the restart. The floating IP is withdrawn before the stop and
// comes back once PostgreSQL runs as primary again under a trusted lease
// (withdrawEndpoint; DESIGN.md, the service endpoint).
func TestLoop_Restart_WhileRestarting_StateIsRestartingNotRunning(t *testing.T) {
	l, _, pg, clock := newLeader(t, nil, nil)
	if s := l.Snapshot().State; s != "running" {
		t.Fatalf("setup: state %q", s)
	}
	gate := make(chan struct{})
	pg.mu.Lock()
	pg.startGate = gate
	pg.calls = nil
	pg.mu.Unlock()
	done := request(t, l, func() error { return l.Restart(context.Background(), Operation{}) })
	clock.advance(500 * time.Millisecond)
	turned := turnUntilStarting(t, l, pg, gate)
	state, until := l.Snapshot().State, l.PrimaryUntil()
	close(gate)
	if err := <-turned; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("restart: %v", err)
	}
	if state != "restarting" {
		t.Errorf("state during the restart %q, want restarting", state)
	}
	if !until.IsZero() {
		t.Errorf("the floating IP was still held (until %v) while PostgreSQL restarted", until)
	}
	if s := l.Snapshot().State; s != "running" {
		t.Errorf("state after the restart %q, want running", s)
	}
}

// A scheduled restart that fired is no longer shown as scheduled while it
// runs (Patroni deletes scheduled_restart when it starts the restart): the
// record showed it until the restart, which can take seconds, was over.
func TestLoop_ScheduledRestart_NotShownScheduledWhileItRuns(t *testing.T) {
	l, c, pg, _ := newLeader(t, nil, nil)
	s := ScheduledRestart{At: time.Now().Add(time.Hour)}
	s.Record.Schedule = s.At.Format(time.RFC3339)
	if err := l.ScheduleRestart(s); err != nil {
		t.Fatal(err)
	}
	l.turn(context.Background())
	if c.State().Members["n1"].ScheduledRestart == nil {
		t.Fatal("setup: the scheduled restart is not shown")
	}
	l.operations.mu.Lock()
	l.operations.scheduled.At = time.Now().Add(-time.Millisecond) // its time has come
	l.operations.mu.Unlock()
	gate := make(chan struct{})
	pg.mu.Lock()
	pg.startGate = gate
	pg.mu.Unlock()
	turned := turnUntilStarting(t, l, pg, gate)
	shown := c.State().Members["n1"].ScheduledRestart
	close(gate)
	if err := <-turned; err != nil {
		t.Fatal(err)
	}
	if shown != nil {
		t.Errorf("while the fired restart runs, the record still shows it scheduled: %+v", shown)
	}
}

// As Patroni's, a scheduled restart waits while paused (rule 5: hands off)
// and runs after the resume if its time is not long past.
func TestLoop_ScheduledRestart_WaitsWhilePaused_RunsAfterTheResume(t *testing.T) {
	l, c, pg, _ := newLeader(t, nil, nil)
	setPause := func(pause bool) {
		if _, err := c.Propose(context.Background(), fsm.SetConfig{Config: map[string]any{"loop_wait": 1, "ttl": 3, "retry_timeout": 1, "pause": pause}}); err != nil {
			t.Fatal(err)
		}
	}
	setPause(true)
	due := ScheduledRestart{At: time.Now().Add(-time.Second)}
	due.Record.Schedule = due.At.Format(time.RFC3339)
	if err := l.ScheduleRestart(due); err != nil {
		t.Fatal(err)
	}
	next, err := l.turn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pg.called("stop") || c.State().Members["n1"].ScheduledRestart == nil {
		t.Fatalf("paused: calls %v, record %+v; want nothing done and the restart still shown", pg.log(), c.State().Members["n1"].ScheduledRestart)
	}
	if next < 500*time.Millisecond {
		t.Errorf("paused with a restart past its time: next turn in %v, want no fast turns", next)
	}
	setPause(false)
	l.turn(context.Background())
	if !pg.called("stop") || !pg.called("start") || c.State().Members["n1"].ScheduledRestart != nil {
		t.Fatalf("after the resume: calls %v, record %+v; want the restart run", pg.log(), c.State().Members["n1"].ScheduledRestart)
	}
}

// A scheduled restart found long past its time (the cluster was paused
// meanwhile, or the loop held up) is discarded, not run by surprise.
func TestLoop_ScheduledRestart_LongPastItsTime_DiscardedNotRun(t *testing.T) {
	l, c, pg, _ := newLeader(t, nil, nil)
	stale := ScheduledRestart{At: time.Now().Add(time.Hour)}
	stale.Record.Schedule = stale.At.Format(time.RFC3339)
	if err := l.ScheduleRestart(stale); err != nil {
		t.Fatal(err)
	}
	l.turn(context.Background())
	l.operations.mu.Lock()
	l.operations.scheduled.At = time.Now().Add(-time.Minute)
	l.operations.mu.Unlock()
	l.turn(context.Background())
	if pg.called("stop") {
		t.Fatalf("a restart a minute past its time ran: calls %v", pg.log())
	}
	if _, ok := l.ScheduledRestart(); ok || c.State().Members["n1"].ScheduledRestart != nil {
		t.Fatalf("the stale restart is still scheduled or shown: %+v", c.State().Members["n1"].ScheduledRestart)
	}
}

// A scheduled restart whose server was restarted since it was scheduled
// (an operator's restart, or a crash and the agent's start) is cancelled,
// as Patroni cancels one whose postmaster_start_time changed: a second
// restart in a row would be a surprise. One whose server kept running
// fires at its time, also when the start time was unknown when scheduled.
func TestLoop_ScheduledRestart_ServerRestartedSinceScheduled_Cancelled(t *testing.T) {
	var logs bytes.Buffer
	l, c, pg, _ := newLeaderWith(t, nil, Config{Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})})
	started := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	setStarted := func(at time.Time) {
		pg.mu.Lock()
		pg.st.StartedAt = at
		pg.mu.Unlock()
	}
	schedule := func() {
		t.Helper()
		s := ScheduledRestart{At: time.Now().Add(time.Hour)}
		s.Record.Schedule = s.At.Format(time.RFC3339)
		if err := l.ScheduleRestart(s); err != nil {
			t.Fatal(err)
		}
	}
	makeDue := func() {
		l.operations.mu.Lock()
		l.operations.scheduled.At = time.Now().Add(-time.Millisecond)
		l.operations.mu.Unlock()
	}

	setStarted(started)
	schedule()
	l.turn(context.Background())
	if c.State().Members["n1"].ScheduledRestart == nil {
		t.Fatal("setup: the scheduled restart is not shown")
	}
	setStarted(started.Add(time.Minute)) // restarted meanwhile
	makeDue()
	l.turn(context.Background())
	if pg.called("stop") {
		t.Fatalf("restart ran although PostgreSQL was restarted since it was scheduled: calls %v", pg.log())
	}
	if _, ok := l.ScheduledRestart(); ok || c.State().Members["n1"].ScheduledRestart != nil {
		t.Fatalf("the restart is still scheduled or shown: %+v", c.State().Members["n1"].ScheduledRestart)
	}

	// Due while the start time cannot be read (starting, crash recovery):
	// it waits, without fast turns, and a start time that changed meanwhile
	// cancels it.
	setStarted(started.Add(time.Minute))
	schedule()
	l.turn(context.Background())
	setStarted(time.Time{})
	makeDue()
	next, err := l.turn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pg.called("stop") {
		t.Fatalf("restart ran while the start time could not be read: calls %v", pg.log())
	}
	if _, ok := l.ScheduledRestart(); !ok {
		t.Fatal("the restart was dropped while the start time could not be read")
	}
	if next < 500*time.Millisecond {
		t.Errorf("waiting for a readable start time: next turn in %v, want no fast turns", next)
	}
	l.turn(context.Background()) // still unreadable
	setStarted(started.Add(2 * time.Minute))
	l.turn(context.Background())
	if pg.called("stop") || c.State().Members["n1"].ScheduledRestart != nil {
		t.Fatalf("restarted meanwhile: calls %v, record %+v; want it cancelled", pg.log(), c.State().Members["n1"].ScheduledRestart)
	}

	if n := strings.Count(logs.String(), "scheduled restart waits"); n != 1 {
		t.Errorf("the wait for a readable start time logged %d times, want once", n)
	}

	// Due while unreadable, then the same start time again: it fires.
	setStarted(started.Add(2 * time.Minute))
	schedule()
	l.turn(context.Background())
	setStarted(time.Time{})
	makeDue()
	l.turn(context.Background())
	setStarted(started.Add(2 * time.Minute))
	l.turn(context.Background())
	if !pg.called("stop") || !pg.called("start") {
		t.Fatalf("a restart whose server kept running did not fire once its start time could be read: calls %v", pg.log())
	}

	// Start time unknown when scheduled (read failed), then the same one
	// on every turn: it fires.
	pg.mu.Lock()
	pg.calls = nil
	pg.mu.Unlock()
	setStarted(time.Time{})
	schedule()
	l.turn(context.Background())
	setStarted(started.Add(time.Minute))
	l.turn(context.Background())
	l.turn(context.Background())
	makeDue()
	l.turn(context.Background())
	if !pg.called("stop") || !pg.called("start") {
		t.Fatalf("a restart whose server kept running did not fire: calls %v", pg.log())
	}
}

// turnUntilStarting runs a turn in the background and returns once the
// restart it carries out calls Start, which gate holds: the caller looks
// at the loop mid-restart, then closes gate and reads the turn's outcome.
func turnUntilStarting(t *testing.T, l *Loop, pg *fakePG, gate chan struct{}) <-chan error {
	t.Helper()
	turned := make(chan error, 1)
	go func() { _, err := l.turn(context.Background()); turned <- err }()
	deadline := time.Now().Add(5 * time.Second)
	for !pg.called("start") {
		if time.Now().After(deadline) {
			close(gate)
			t.Fatalf("the restart never started PostgreSQL again (calls %v)", pg.log())
		}
		time.Sleep(time.Millisecond)
	}
	return turned
}
