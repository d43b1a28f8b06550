package ha

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

type recordEvents struct {
	mu         sync.Mutex
	fences     int
	promotions []string
}

func (e *recordEvents) TurnDone(time.Duration) {}
func (e *recordEvents) Promoted(kind string) {
	e.mu.Lock()
	e.promotions = append(e.promotions, kind)
	e.mu.Unlock()
}
func (e *recordEvents) Fenced() {
	e.mu.Lock()
	e.fences++
	e.mu.Unlock()
}

func TestLoop_Events_FenceCountedAndTrustLeftShown(t *testing.T) {
	ev := &recordEvents{}
	l, c, pg, clock := newLeaderWith(t, nil, Config{Events: ev})
	if s := l.Snapshot(); !s.HoldsLeaderKey || s.TrustLeft <= 0 || s.TrustLeft > 3*time.Second {
		t.Fatalf("holder's snapshot: holds %v, trust left %v", s.HoldsLeaderKey, s.TrustLeft)
	}
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	clock.advance(3 * time.Second) // past sent + ttl - FenceMargin
	l.turn(context.Background())
	if !pg.called("fence") {
		t.Fatal("not fenced after the lease ran out without a renewal")
	}
	if s := l.Snapshot(); s.HoldsLeaderKey || s.TrustLeft != 0 {
		t.Fatalf("after the lease ran out: holds %v, trust left %v", s.HoldsLeaderKey, s.TrustLeft)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.fences != 1 || len(ev.promotions) != 0 {
		t.Fatalf("fences %d, promotions %v; want 1 fence", ev.fences, ev.promotions)
	}
}

func TestPromotionKind_SwitchoverOnlyForTheNamedCandidate(t *testing.T) {
	for _, tc := range []struct {
		pending *fsm.Pending
		want    string
	}{
		{nil, "failover"},
		{&fsm.Pending{Kind: "switchover", Candidate: "n2"}, "switchover"},
		{&fsm.Pending{Kind: "switchover", Candidate: "n3"}, "failover"},
		{&fsm.Pending{Kind: "failover", Candidate: "n2"}, "failover"},
	} {
		o := Observation{Self: "n2", State: fsm.State{Pending: tc.pending}}
		if got := promotionKind(o); got != tc.want {
			t.Errorf("pending %+v: %s, want %s", tc.pending, got, tc.want)
		}
	}
}

// Issue 10 item 3: the guard fences a lost lease and drops it; a start that
// was in flight then comes up writable and a renewal fails, each fencing
// again. Keyed by the epoch each step saw (the lease's, 0 once dropped),
// that counted two fences; keyed by the tenure fenced, it is one event. A
// fence after PostgreSQL was seen stopped is a new event.
func TestLoop_Events_OneLostLeaseCountsOneFence(t *testing.T) {
	ev := &recordEvents{}
	l, c, pg, clock := newLeaderWith(t, nil, Config{Events: ev})
	ctx := context.Background()
	epoch, _ := l.lease.TrustUntil()
	c.setDown(true)
	clock.advance(3 * time.Second) // past sent + ttl - FenceMargin
	var reported uint64
	l.guardTick(ctx, &reported)
	if e, _ := l.lease.TrustUntil(); e != 0 || !pg.called("fence") {
		t.Fatalf("guard: lease epoch %d (want dropped), calls %v", e, pg.calls)
	}
	pg.mu.Lock()
	pg.st.Running, pg.st.InRecovery = true, false // the start in flight came up writable
	pg.mu.Unlock()
	if err := l.startedWritable(ctx, "start as primary"); !errors.Is(err, errLeaseLost) {
		t.Fatalf("startedWritable: %v", err)
	}
	pg.mu.Lock()
	pg.st.Running = true
	pg.mu.Unlock()
	o := Observation{Self: "n1", State: c.State(), Config: fsm.DefaultDynamicConfig(), PG: PGStatus{Running: true}}
	if err := l.renew(ctx, o); err == nil {
		t.Fatal("renewal without quorum succeeded")
	}
	l.guardTick(ctx, &reported) // nothing left to guard
	ev.mu.Lock()
	got := ev.fences
	ev.mu.Unlock()
	if got != 1 {
		t.Fatalf("one lost lease of tenure %d counted %d fences, want 1", epoch, got)
	}
	// PostgreSQL seen stopped ends the event; a writable one fenced later
	// by a plan is a new one.
	l.observe(ctx)
	pg.mu.Lock()
	pg.st.Running, pg.st.InRecovery = true, false
	pg.mu.Unlock()
	if err := l.execute(ctx, o, plan("writable without the leader key (held by n2, expired): fencing", act(ActFence))); err != nil {
		t.Fatal(err)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.fences != 2 {
		t.Fatalf("after PostgreSQL was seen stopped, a new fence counted %d in all, want 2", ev.fences)
	}
}
