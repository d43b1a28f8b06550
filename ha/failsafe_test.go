package ha

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

func noBoot() time.Duration { return 0 }

// Review item 2: the loop's renewal runs on a snapshot taken before
// renewMu (key ttl 30); meanwhile the ttl was lowered to 3 and the
// background renewer committed a renewal with it. The loop's renewal fails
// without Raft and failsafe extends the trust: it must count with ttl 3
// (what the members hold off for after the heartbeat), not the snapshot's 30.
func TestLoop_FailsafeAfterTTLLowered_CountsWithTheLastCommittedTTL(t *testing.T) {
	l, c, _, clock := newLeaderWith(t, map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "failsafe_mode": true},
		Config{Peers: fakePeers{}, Boottime: noBoot})
	if _, err := c.Propose(context.Background(), fsm.UpsertMember{Member: fsm.Member{Name: "n2"}}); err != nil {
		t.Fatal(err)
	}
	stale := c.State()
	staleDyn := l.dynamicConfig(stale, false)
	if _, err := c.Propose(context.Background(), fsm.SetConfig{Config: map[string]any{"ttl": 3, "loop_wait": 1, "retry_timeout": 1, "failsafe_mode": true}}); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	fresh := c.State()
	if err := l.renewLease(context.Background(), fresh, l.dynamicConfig(fresh, false), time.Second, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if ttl := c.State().Leader.TTL; ttl != 3 {
		t.Fatalf("key ttl %d after the renewal, want 3", ttl)
	}
	c.setDown(true)
	clock.advance(100 * time.Millisecond)
	sent := clock.Now()
	if err := l.renewLease(context.Background(), stale, staleDyn, time.Second, time.Time{}); err != nil {
		t.Fatalf("failsafe renewal: %v", err)
	}
	_, until := l.lease.TrustUntil()
	if got, want := until.Sub(sent), 3*time.Second-750*time.Millisecond; got > want {
		t.Fatalf("trust %v after the heartbeats; the members hold off only 3 s (want at most %v)", got, want)
	}
}

// Review item 5: n2's AcquireLeader has an unknown outcome. It may commit
// at any time (n1 could not renew, so the CAS still matches): n2 must keep
// refusing n1's heartbeats until the outcome is definite, even after
// acquiringAt + ttl.
func TestLoop_TakeoverOutcomeUnknown_HeartbeatsRefusedUntilDefinite(t *testing.T) {
	l, c, clock, o := takeoverLoop(t)
	l.cfg.Boottime = noBoot
	c.setDown(true)
	if err := l.acquire(context.Background(), o, o.State.LeaderIndex); err == nil {
		t.Fatal("acquire succeeded without Raft")
	}
	c.setDown(false)
	clock.advance(3100 * time.Millisecond)
	if err := l.FailsafeHeartbeat("n1", c.State()); err == nil {
		t.Fatal("accepted n1's heartbeat while its own takeover could still commit")
	}
	// n1 renews: the key changed, the old CAS can never match.
	st := c.State()
	if _, err := c.Propose(context.Background(), fsm.RenewLeader{Member: "n1", Epoch: st.Leader.Epoch, TTL: 3}); err != nil {
		t.Fatal(err)
	}
	if err := l.FailsafeHeartbeat("n1", c.State()); err != nil {
		t.Fatalf("heartbeat refused after the key changed: %v", err)
	}
}

// Review item 5, second line: a member that accepted a heartbeat from n1
// and then finds itself holding the key (whatever the path) does not
// promote before the heartbeat's ttl passed.
func TestLoop_HeartbeatAcceptedThenKeyOurs_NoPromotionWithinItsTTL(t *testing.T) {
	l, c, clock, o := takeoverLoop(t)
	pg := l.pg.(*fakePG)
	l.cfg.Boottime = noBoot
	if err := l.FailsafeHeartbeat("n1", c.State()); err != nil {
		t.Fatal(err)
	}
	hb := clock.Now()
	if _, err := c.Propose(context.Background(), fsm.AcquireLeader{Member: "n2", ExpectIndex: o.State.LeaderIndex, TTL: 3}); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	l.renewed(l.lease.Gen(), st.Leader.Epoch, clock.Now(), 0, 3*time.Second)
	clock.advance(500 * time.Millisecond)
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pg.called("promote") {
		t.Fatalf("promoted %v after accepting n1's failsafe heartbeat (ttl 3 s)", clock.Now().Sub(hb))
	}
	clock.advance(2600 * time.Millisecond)
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !pg.called("promote") {
		t.Fatalf("not promoted after the heartbeat's ttl: %v", pg.log())
	}
}

// recordingPeers records whom each failsafe round asked.
type recordingPeers struct {
	mu    sync.Mutex
	asked [][]string
}

func (p *recordingPeers) Failsafe(_ context.Context, _ fsm.Member, to []fsm.Member) error {
	var names []string
	for _, m := range to {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	p.mu.Lock()
	p.asked = append(p.asked, names)
	p.mu.Unlock()
	return nil
}

// Review item 10: a member that this node's view names as neither holder
// (another tenure, or no leader) refuses the sender's heartbeat.
func TestLoop_FailsafeHeartbeatFromAFormerHolder_Refused(t *testing.T) {
	l, c, _, _ := takeoverLoop(t)
	st := c.State()
	if _, err := c.Propose(context.Background(), fsm.AcquireLeader{Member: "n3", ExpectIndex: st.LeaderIndex, TTL: 3}); err != nil {
		t.Fatal(err)
	}
	if err := l.FailsafeHeartbeat("n1", c.State()); err == nil {
		t.Fatal("accepted a heartbeat from n1 while n3 holds the key here")
	}
	if err := l.FailsafeHeartbeat("n3", c.State()); err != nil {
		t.Fatalf("heartbeat from the holder refused: %v", err)
	}
}

// Review item 10: the failsafe round asks every member of the freshest
// state, not only those of the (possibly older) snapshot it was given.
func TestLoop_FailsafeRound_AsksMembersOfTheFreshState(t *testing.T) {
	peers := &recordingPeers{}
	l, c, _, _ := newLeaderWith(t, map[string]any{"failsafe_mode": true}, Config{Peers: peers, Boottime: noBoot})
	stale := c.State()
	if _, err := c.Propose(context.Background(), fsm.UpsertMember{Member: fsm.Member{Name: "n2"}}); err != nil {
		t.Fatal(err)
	}
	if !l.failsafeRenew(context.Background(), Observation{Self: "n1", State: stale, Config: l.dynamicConfig(stale, false)}) {
		t.Fatal("failsafe round failed")
	}
	if got := peers.asked; len(got) != 1 || len(got[0]) != 1 || got[0][0] != "n2" {
		t.Fatalf("asked %v, want [[n2]]", got)
	}
}

// The hole found by the adversarial review: n1 holds the key (ttl 3) and is
// cut off from Raft; n2 joins after the cut, so n1's failsafe rounds never
// ask it. A round n1 sent before n2's record committed was accepted (n3's
// read-index did not show n2 yet) and n1 trusts until sent + ttl -
// FenceMargin; n2, which observed the key before its record committed, must
// not take the key before then. Later rounds are refused by every member
// whose read-index shows n2 (api: TestFailsafe_FreshStateNamesAMember...).
func TestLoop_FailsafeRound_MemberUnknownToTheHolder_DoesNotTakeOverWithinItsTrust(t *testing.T) {
	ctx := context.Background()
	o := scenario()
	joined := o.State.Members["n2"]
	st := o.State.Clone()
	delete(st.Members, "n2")
	st.Config = map[string]any{"ttl": 3, "loop_wait": 1, "retry_timeout": 1, "failsafe_mode": true}
	c := newFakeCluster()
	c.st, c.index = st, st.LeaderIndex
	clock := &fakeClock{now: t0}
	l := New(Config{Name: "n2", Clock: clock, Boottime: noBoot}, c, &fakePG{st: o.PG})
	l.observe(ctx) // n2's agent sees the key before its own record commits

	clock.advance(time.Second)
	sent := clock.Now() // n1's round: n3 accepts, n2 is not asked
	holderTrust := sent.Add(3*time.Second - l.cfg.FenceMargin)
	clock.advance(500 * time.Millisecond)
	if _, err := c.Propose(ctx, fsm.UpsertMember{Member: joined}); err != nil {
		t.Fatal(err)
	}
	for clock.Now().Before(holderTrust) {
		clock.advance(250 * time.Millisecond)
		if _, err := l.turn(ctx); err != nil {
			t.Logf("turn: %v", err)
		}
		if got := c.State().LeaderName(); got != "n1" {
			t.Fatalf("%s took the key at %v, inside n1's failsafe trust (until %v) from a round that did not ask n2",
				got, clock.Now().Sub(t0), holderTrust.Sub(t0))
		}
	}
	for i := 0; i < 20 && c.State().LeaderName() == "n1"; i++ {
		clock.advance(250 * time.Millisecond)
		if _, err := l.turn(ctx); err != nil {
			t.Logf("turn: %v", err)
		}
	}
	if got := c.State().LeaderName(); got != "n2" {
		t.Fatalf("leader %q %v after t0; want n2 once its hold-off passed", got, clock.Now().Sub(t0))
	}
}

// A takeover refused by the new-member hold-off is tried again when the
// hold-off ends, not a loop_wait later (ttl 30, loop_wait 10: the record
// first seen at 2 s, the key expiring at 30 s; the key is taken at 32 s,
// not at 40 s).
func TestLoop_NewMemberHoldoff_TakeoverTriedWhenItEnds(t *testing.T) {
	ctx := context.Background()
	o := scenario()
	joined := o.State.Members["n2"]
	st := o.State.Clone()
	delete(st.Members, "n2")
	st.Config = map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}
	st.Leader.TTL = 30
	c := newFakeCluster()
	c.st, c.index = st, st.LeaderIndex
	clock := &fakeClock{now: t0}
	l := New(Config{Name: "n2", Clock: clock, Boottime: noBoot}, c, &fakePG{st: o.PG})
	l.observe(ctx) // the key seen at t0; n1 never renews it again
	clock.advance(2 * time.Second)
	if _, err := c.Propose(ctx, fsm.UpsertMember{Member: joined}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20 && c.State().LeaderName() == "n1"; i++ {
		next, err := l.turn(ctx)
		if err != nil {
			t.Logf("turn: %v", err)
		}
		if next <= 0 {
			next = 10 * time.Millisecond
		}
		if c.State().LeaderName() == "n1" {
			clock.advance(next)
		}
	}
	if got := c.State().LeaderName(); got != "n2" {
		t.Fatalf("leader %q at %v; want n2", got, clock.Now().Sub(t0))
	}
	if took := clock.Now().Sub(t0); took < 32*time.Second || took > 33*time.Second {
		t.Errorf("n2 took the key at %v; want when the hold-off ends, 32 s (record seen at 2 s + ttl)", took)
	}
}
