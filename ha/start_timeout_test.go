package ha

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// slowStartPG is a PostgreSQL whose start as primary takes longer than
// primary_start_timeout: Start blocks until its context ends, and the clock
// then moves past the context's deadline.
type slowStartPG struct {
	*fakePG
	clock    *fakeClock
	mu       sync.Mutex
	deadline time.Duration // the start context's time left when Start began
	fenceErr error
	// events in order: start-cancelled, fence; released is noted by the test.
	events []string
}

func (p *slowStartPG) Start(ctx context.Context, follow *fsm.Member) error {
	if follow != nil {
		return p.fakePG.Start(ctx, follow)
	}
	dl, ok := ctx.Deadline()
	p.mu.Lock()
	if ok {
		p.deadline = time.Until(dl)
	}
	p.mu.Unlock()
	<-ctx.Done()
	p.clock.advance(time.Second) // the timeout passed meanwhile
	p.note("start-cancelled")
	return ctx.Err()
}

func (p *slowStartPG) Fence(ctx context.Context) error {
	p.note("fence")
	if p.fenceErr != nil {
		return p.fenceErr
	}
	return p.fakePG.Fence(ctx)
}

func (p *slowStartPG) note(e string) {
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
}

// leaderWithCrashedPG returns a leader whose PostgreSQL is down, observed
// primary_start_timeout (5 s) - 300 ms ago.
func leaderWithCrashedPG(t *testing.T, fenceErr error) (*Loop, *fakeCluster, *slowStartPG, Observation) {
	t.Helper()
	l, c, pg, clock := newLeaderWith(t, map[string]any{"primary_start_timeout": 5, "ttl": 30, "loop_wait": 10, "retry_timeout": 10}, Config{})
	slow := &slowStartPG{fakePG: pg, clock: clock, fenceErr: fenceErr}
	l.pg = slow
	pg.mu.Lock()
	pg.st.Running = false
	pg.mu.Unlock()
	ctx := context.Background()
	first := l.observe(ctx)
	if first.PrimaryDownSince.IsZero() {
		t.Fatal("PostgreSQL down not noted")
	}
	clock.advance(5*time.Second - 300*time.Millisecond)
	o := l.observe(ctx)
	if p := Decide(o); len(p.Actions) != 1 || p.Actions[0].Kind != ActRecoverPrimary {
		t.Fatalf("plan %v, want recover-primary", p)
	}
	return l, c, slow, o
}

// Item (d): the start is bounded by what is left of primary_start_timeout,
// and when it runs out the same step stops PostgreSQL (a postmaster the
// cancelled pg_ctl forked included) and only then gives the key back,
// instead of letting the lease lapse ttl later.
func TestLoop_StartOutlivingPrimaryStartTimeout_IsCutShortThenKeyReleasedAfterTheFence(t *testing.T) {
	l, c, pg, o := leaderWithCrashedPG(t, nil)
	err := l.execute(context.Background(), o, Decide(o))
	if err == nil {
		t.Error("the timed-out start reported success")
	}
	pg.mu.Lock()
	left, events := pg.deadline, append([]string(nil), pg.events...)
	pg.mu.Unlock()
	if left <= 0 || left > 300*time.Millisecond {
		t.Errorf("start context had %v left, want at most the 300 ms left of primary_start_timeout", left)
	}
	if strings.Join(events, ",") != "start-cancelled,fence" {
		t.Errorf("events %v, want the start cut short, then the fence", events)
	}
	st := c.State()
	if st.Leader != nil {
		t.Errorf("leader key still held by %s after the start timed out", st.Leader.Member)
	}
	if epoch, _ := l.lease.TrustUntil(); epoch != 0 {
		t.Error("the lease is still held after giving the key up")
	}
}

// A fence that fails keeps the key and the lease: the key then expires, and
// the watchdog, still armed, fences at the trust deadline.
func TestLoop_StartTimedOut_FenceFails_KeepsTheKey(t *testing.T) {
	l, c, _, o := leaderWithCrashedPG(t, errors.New("pg_ctl stop: timed out"))
	err := l.execute(context.Background(), o, Decide(o))
	if err == nil || !strings.Contains(err.Error(), "could not be stopped") {
		t.Errorf("err = %v, want the fence failure", err)
	}
	if st := c.State(); st.LeaderName() != "n1" {
		t.Errorf("key released (%q) although PostgreSQL may still come up", st.LeaderName())
	}
	if epoch, _ := l.lease.TrustUntil(); epoch == 0 {
		t.Error("lease dropped (watchdog disarmed) although the fence failed")
	}
}

// A start that fails before the timeout is not a give-up: the next turns
// retry until Decide releases at the timeout.
func TestLoop_StartFailsBeforeTimeout_KeepsTheKey(t *testing.T) {
	l, c, pg, _ := newLeaderWith(t, map[string]any{"primary_start_timeout": 60, "ttl": 30, "loop_wait": 10, "retry_timeout": 10}, Config{})
	failing := &failingStartPG{fakePG: pg}
	l.pg = failing
	pg.mu.Lock()
	pg.st.Running = false
	pg.mu.Unlock()
	o := l.observe(context.Background())
	if err := l.execute(context.Background(), o, Decide(o)); err == nil {
		t.Error("failed start reported success")
	}
	if c.State().LeaderName() != "n1" || pg.called("fence") {
		t.Errorf("leader %q, fenced %v: a start failing within primary_start_timeout must not give up", c.State().LeaderName(), pg.called("fence"))
	}
}

type failingStartPG struct{ *fakePG }

func (p *failingStartPG) Start(ctx context.Context, follow *fsm.Member) error {
	if follow != nil {
		return p.fakePG.Start(ctx, follow)
	}
	return errors.New("pg_ctl: could not start server")
}
