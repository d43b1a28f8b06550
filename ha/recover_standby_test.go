package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// slowStandbyPG starts a standby only once gate is closed (a long replay)
// and records every start: as primary ("start-primary") or as a standby.
type slowStandbyPG struct {
	*fakePG
	gate      chan struct{}
	mu        sync.Mutex
	asPrimary int
}

func (p *slowStandbyPG) Start(ctx context.Context, follow *fsm.Member) error {
	if follow == nil {
		p.mu.Lock()
		p.asPrimary++
		p.mu.Unlock()
		return p.fakePG.Start(ctx, nil)
	}
	p.record("start-standby")
	select {
	case <-p.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.fakePG.mu.Lock()
	p.fakePG.st.Running, p.fakePG.st.InRecovery = true, true
	p.fakePG.mu.Unlock()
	return nil
}

// holderWithStandbyData returns a leader whose PostgreSQL is stopped with a
// standby's data directory (it took the key and PostgreSQL died before the
// promotion).
func holderWithStandbyData(t *testing.T) (*Loop, *fakeCluster, *slowStandbyPG, *fakeClock) {
	t.Helper()
	l, c, pg, clock := newLeaderWith(t, map[string]any{"primary_start_timeout": 300}, Config{GuardInterval: 2 * time.Millisecond})
	slow := &slowStandbyPG{fakePG: pg, gate: make(chan struct{})}
	l.pg = slow
	pg.mu.Lock()
	pg.st.Running, pg.st.InRecovery = false, true
	pg.mu.Unlock()
	return l, c, slow, clock
}

// Item (c): a long replay of a standby's data on the key holder no longer
// costs a failover: the key is renewed while the standby starts, PostgreSQL
// is only started read-only meanwhile, and it is promoted once it runs.
func TestLoop_HolderStartingAStandbysData_KeepsRenewingUntilItRunsThenPromotes(t *testing.T) {
	l, c, pg, clock := holderWithStandbyData(t)
	runLoop(t, l)
	eventually(t, "the standby's data is started", func() error {
		if !pg.called("start-standby") {
			return errors.New("not started")
		}
		return nil
	})
	// 10 s of replay with ttl 3: without renewals the lease lapses after 3 s.
	keepsRenewing(t, l, clock, 40)
	if c.State().LeaderName() != "n1" || pg.called("fence") {
		t.Fatalf("during the replay: leader %q, calls %v", c.State().LeaderName(), pg.log())
	}
	close(pg.gate)
	l.Wake()
	eventually(t, "promoted", func() error {
		if !pg.called("promote") {
			return fmt.Errorf("calls %v", pg.log())
		}
		return nil
	})
	pg.mu.Lock()
	asPrimary := pg.asPrimary
	pg.mu.Unlock()
	if asPrimary != 0 {
		t.Errorf("started as primary %d times: the standby's data must be promoted, not started in place", asPrimary)
	}
}

// Without Raft the step still starts the standby read-only (reads stay
// available; rule 1 holds since a standby accepts no writes), and it never
// promotes without a trusted lease.
func TestLoop_HolderStartingAStandbysData_WithoutQuorum_StartsReadOnlyAndDoesNotPromote(t *testing.T) {
	l, c, pg, clock := holderWithStandbyData(t)
	close(pg.gate)
	c.setDown(true)
	clock.advance(time.Minute) // the trust from the bootstrap is long gone
	o := l.observe(context.Background())
	p := Decide(o)
	if len(p.Actions) != 1 || p.Actions[0].Kind != ActRecoverStandby || !plansRenewal(p) {
		t.Fatalf("plan %v, want recover-standby (which keeps the key)", p)
	}
	if err := l.execute(context.Background(), o, p); err == nil {
		t.Error("no error although the key could not be renewed")
	}
	if !pg.called("start-standby") {
		t.Fatalf("not started read-only: %v", pg.log())
	}
	o = l.observe(context.Background())
	_ = l.execute(context.Background(), o, Decide(o))
	if pg.called("promote") {
		t.Error("promoted without a trusted lease")
	}
}

// The step's bound is what is left of primary_start_timeout, as for a crash
// recovery of a primary.
func TestLoop_RecoverStandby_BoundedByPrimaryStartTimeout(t *testing.T) {
	l, _, _, clock := holderWithStandbyData(t)
	o := l.observe(context.Background())
	clock.advance(100 * time.Second)
	o.Now = clock.Now()
	if got := l.stepBound(o, Action{Kind: ActRecoverStandby}); got != 200*time.Second {
		t.Errorf("step bound %v, want the 200 s left of primary_start_timeout", got)
	}
}

// keepsRenewing advances the clock steps times by 250 ms (ttl 3) and checks
// after each that the background renewer kept at least 1.25 s of trust.
func keepsRenewing(t *testing.T, l *Loop, clock *fakeClock, steps int) {
	t.Helper()
	for i := 0; i < steps; i++ {
		clock.advance(250 * time.Millisecond)
		eventually(t, fmt.Sprintf("renewed by +%v", clock.Now().Sub(t0)), func() error {
			if left := trustLeft(l, clock); left < 1250*time.Millisecond {
				return fmt.Errorf("trust left %v", left)
			}
			return nil
		})
	}
}
