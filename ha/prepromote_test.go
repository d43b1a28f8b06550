package ha

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// n2's loop in a three-member cluster whose leader n1's lease expired, with
// a pre_promote hook that records its call and answers veto.
func prePromoteLoop(t *testing.T, veto error) (*Loop, *fakeCluster, *fakePG, *fakeClock, Observation) {
	t.Helper()
	o := scenario()
	o.Lease = LeaseView{Expired: true}
	c := newFakeCluster()
	c.st = o.State.Clone()
	c.index = o.State.LeaderIndex
	clock := &fakeClock{now: t0}
	pg := &fakePG{st: o.PG}
	hook := func(context.Context) error { pg.record("pre_promote"); return veto }
	l := New(Config{Name: "n2", Clock: clock, Boottime: fakeBoottime(clock), PrePromote: hook,
		Member: fsm.Member{Tags: map[string]any{"failover_priority": 1}}}, c, pg)
	o.Now = pastNewMemberHoldoff(l, clock)
	return l, c, pg, clock, o
}

func TestLoop_PrePromoteAllows_PromotesAfterTheScript(t *testing.T) {
	l, c, pg, _, o := prePromoteLoop(t, nil)
	if err := l.acquire(context.Background(), o, o.State.LeaderIndex); err != nil {
		t.Fatal(err)
	}
	if c.State().LeaderName() != "n2" || pg.indexOf("pre_promote") < 0 || pg.indexOf("pre_promote") > pg.indexOf("promote") {
		t.Fatalf("leader %q, calls %v: want pre_promote then promote", c.State().LeaderName(), pg.log())
	}
}

func TestLoop_PrePromoteVetoes_KeyReleasedNotPromotedBackoffForATTL(t *testing.T) {
	l, c, pg, clock, o := prePromoteLoop(t, errors.New("exit status 1"))
	err := l.acquire(context.Background(), o, o.State.LeaderIndex)
	if err == nil {
		t.Fatal("a vetoed promotion returned no error")
	}
	if pg.called("promote") {
		t.Fatalf("promoted despite the veto: %v", pg.log())
	}
	st := c.State()
	if st.Leader != nil {
		t.Fatalf("the key was not given back: %+v", st.Leader)
	}
	if l.trusted() {
		t.Fatal("the vetoed node still trusts a lease")
	}
	// Backing off: not a candidate itself, and shown nofailover so the
	// others do not wait for it as the better candidate.
	next := l.observe(context.Background())
	if !next.PromoteBackoff {
		t.Fatal("no backoff after the veto")
	}
	if p := Decide(next); hasKind(p, ActAcquire) || hasKind(p, ActPromote) {
		t.Fatalf("vetoed node plans %v during its backoff", p)
	}
	l.publish(context.Background(), next, pg.Observe(context.Background()), Plan{})
	if m := c.State().Members["n2"]; !m.Tag("nofailover") || tagInt(m, "failover_priority") != 1 {
		t.Fatalf("published tags during the backoff: %v", m.Tags)
	}
	// n3, behind n2, no longer waits for n2.
	o3 := scenario()
	o3.Self, o3.State = "n3", c.State()
	o3.LiveMembers = map[string]bool{"n2": true, "n3": true}
	o3.PG.WALPosition = 1000
	if better := betterCandidate(o3); better != "" {
		t.Fatalf("n3 still waits for %s", better)
	}
	// After a ttl the backoff ends and the tag goes.
	clock.advance(time.Duration(o.Config.TTL) * time.Second)
	next = l.observe(context.Background())
	if next.PromoteBackoff {
		t.Fatal("backoff outlasted the ttl")
	}
	if p := Decide(next); !hasKind(p, ActAcquire) {
		t.Fatalf("after the backoff the node is a candidate again, plan %v", p)
	}
	l.publish(context.Background(), next, pg.Observe(context.Background()), Plan{})
	if m := c.State().Members["n2"]; m.Tag("nofailover") {
		t.Fatalf("nofailover still published after the backoff: %v", m.Tags)
	}
}

// A veto whose release cannot be proposed (no quorum) leaves the key to
// expire; the lease is dropped at once, so nothing renews it meanwhile.
func TestLoop_PrePromoteVetoes_ReleaseFails_LeaseDroppedKeyExpires(t *testing.T) {
	l, c, pg, _, o := prePromoteLoop(t, errors.New("timed out"))
	c.mu.Lock()
	c.failN = 0
	c.mu.Unlock()
	l.cfg.PrePromote = func(context.Context) error {
		pg.record("pre_promote")
		c.setDown(true) // quorum lost while the script ran
		return errors.New("timed out")
	}
	if err := l.acquire(context.Background(), o, o.State.LeaderIndex); err == nil {
		t.Fatal("no error")
	}
	if pg.called("promote") || l.trusted() {
		t.Fatalf("promoted %v or still trusting %v", pg.called("promote"), l.trusted())
	}
	if epoch, _ := l.lease.TrustUntil(); epoch != 0 {
		t.Fatalf("lease of tenure %d kept after the veto", epoch)
	}
}

func TestDecide_PromoteBackoff_NotACandidate(t *testing.T) {
	o := scenario()
	o.State.Leader = nil
	delete(o.LiveMembers, "n1")
	o.PromoteBackoff = true
	if p := Decide(o); hasKind(p, ActAcquire) {
		t.Fatalf("plan %v during the backoff", p)
	}
	o.PromoteBackoff = false
	if p := Decide(o); !hasKind(p, ActAcquire) {
		t.Fatalf("plan %v without backoff", p)
	}
}

func hasKind(p Plan, k ActionKind) bool {
	for _, a := range p.Actions {
		if a.Kind == k {
			return true
		}
	}
	return false
}

func TestLoop_PrimaryUntil_OnlyAPrimaryUnderItsTrustedLease(t *testing.T) {
	l, c, pg, clock := newLeader(t, nil, nil)
	until := l.PrimaryUntil()
	if _, trust := l.lease.TrustUntil(); until.IsZero() || !until.Equal(trust) {
		t.Fatalf("PrimaryUntil %v, trust deadline %v", until, trust)
	}
	// The deadline passes without a renewal: past, so no longer usable.
	clock.advance(3 * time.Second)
	if u := l.PrimaryUntil(); u.After(clock.Now()) {
		t.Fatalf("PrimaryUntil %v after the trust ran out (now %v)", u, clock.Now())
	}
	// Lease dropped (fence, demotion): zero.
	l.dropLease()
	if !l.PrimaryUntil().IsZero() {
		t.Fatal("PrimaryUntil without a lease")
	}
	// A standby holding the key (before its promotion): zero.
	l2, _, _, _, o := prePromoteLoop(t, nil)
	if err := l2.takeKey(context.Background(), o, o.State.LeaderIndex); err != nil {
		t.Fatal(err)
	}
	l2.publish(context.Background(), o, o.PG, Plan{})
	if !l2.PrimaryUntil().IsZero() {
		t.Fatal("PrimaryUntil for a standby that holds the key")
	}
	_, _ = c, pg
}
