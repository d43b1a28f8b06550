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

// fakeWatchdog records its deadlines; disarms go into the PostgreSQL call
// log too, so tests can check their order against starts and fences.
type fakeWatchdog struct {
	mu    sync.Mutex
	arms  []time.Time
	armed bool
	pg    *fakePG
}

func (w *fakeWatchdog) Arm(until time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.arms = append(w.arms, until)
	w.armed = true
	return nil
}

func (w *fakeWatchdog) Disarm() error {
	w.mu.Lock()
	w.armed = false
	pg := w.pg
	w.mu.Unlock()
	if pg != nil {
		pg.record("disarm")
	}
	return nil
}

func (w *fakeWatchdog) last() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.arms) == 0 {
		return time.Time{}
	}
	return w.arms[len(w.arms)-1]
}

// eventually polls cond (real time) for up to 5 s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

func (p *fakePG) indexOf(call string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.calls {
		if c == call {
			return i
		}
	}
	return -1
}

func (p *fakePG) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

func (p *fakePG) count(call string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (p *fakePG) crash(gate chan struct{}) {
	p.mu.Lock()
	p.st.Running = false
	p.startGate = gate
	p.mu.Unlock()
}

func (c *fakeCluster) setDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// releaser returns a func closing gate once; it also runs at cleanup
// (before runLoop's, registered later), so a failed test never leaves the
// loop blocked in Start.
func releaser(t *testing.T, gate chan struct{}) func() {
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

// runLoop runs l until the test ends.
func runLoop(t *testing.T, l *Loop) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// trustLeft is how long the holder still trusts its lease at the fake now.
func trustLeft(l *Loop, clock *fakeClock) time.Duration {
	_, until := l.lease.TrustUntil()
	return until.Sub(clock.Now())
}

// Item 1: the ttl is lowered from 30 to 3 and raised again; the holder's
// trust and the watchdog's deadline follow the ttl written by each renewal,
// down as well as up, and the key carries that ttl.
func TestLoop_TTLChanged_TrustAndWatchdogFollowTheRenewedTTL(t *testing.T) {
	wd := &fakeWatchdog{}
	l, c, _, clock := newLeaderWith(t, map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}, Config{Watchdog: wd})
	if got, want := wd.last(), t0.Add(30*time.Second-750*time.Millisecond); !got.Equal(want) {
		t.Fatalf("watchdog armed until +%v, want +%v", got.Sub(t0), want.Sub(t0))
	}
	step := func(ttl, loopWait, retry int) {
		t.Helper()
		if _, err := c.Propose(context.Background(), fsm.SetConfig{Config: map[string]any{"ttl": ttl, "loop_wait": loopWait, "retry_timeout": retry}}); err != nil {
			t.Fatal(err)
		}
		clock.advance(time.Second)
		sent := clock.Now()
		if _, err := l.turn(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := sent.Add(time.Duration(ttl)*time.Second - 750*time.Millisecond)
		if _, until := l.lease.TrustUntil(); !until.Equal(want) {
			t.Errorf("ttl %d: holder trusts until +%v, want +%v", ttl, until.Sub(t0), want.Sub(t0))
		}
		if got := wd.last(); !got.Equal(want) {
			t.Errorf("ttl %d: watchdog armed until +%v, want +%v", ttl, got.Sub(t0), want.Sub(t0))
		}
		if key := c.State().Leader; key.TTL != ttl {
			t.Errorf("the key says ttl %d after a renewal under ttl %d", key.TTL, ttl)
		}
	}
	step(3, 1, 1)    // lowered: trust and watchdog move down to sent + 2.25 s
	step(30, 10, 10) // raised: up again to sent + 29.25 s
}

// Item 2: pg_ctl start -w blocks for a long crash recovery (10 s under a
// 3 s lease). The background renewer keeps the lease; nothing is fenced;
// PostgreSQL comes up as primary under a trusted lease.
func TestLoop_SlowCrashRecovery_RenewedWhileStarting(t *testing.T) {
	wd := &fakeWatchdog{}
	l, _, pg, clock := newLeaderWith(t, nil, Config{Watchdog: wd, GuardInterval: 2 * time.Millisecond})
	wd.pg = pg
	gate := make(chan struct{})
	pg.crash(gate)
	runLoop(t, l)
	release := releaser(t, gate)
	eventually(t, "the loop starts PostgreSQL", func() error {
		if !pg.called("start") {
			return errors.New("not started")
		}
		return nil
	})
	keepsRenewing(t, l, clock, 40)
	if pg.called("fence") || pg.called("disarm") {
		t.Fatalf("fenced during a start that stayed within primary_start_timeout: %v", pg.log())
	}
	release()
	eventually(t, "PostgreSQL runs as primary", func() error {
		if st := pg.Observe(context.Background()); !st.Running || st.InRecovery || !pg.called("start-returned") {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	if !l.trusted() || pg.called("fence") {
		t.Fatalf("after the start: trusted %v, calls %v", l.trusted(), pg.log())
	}
}

// Item 2: a start that hangs past primary_start_timeout: the renewer stops
// at that bound, the trust runs out and the guard fences, so a hung agent
// does not keep the key.
func TestLoop_StartHangsPastPrimaryStartTimeout_RenewalStopsAndGuardFences(t *testing.T) {
	l, c, pg, clock := newLeaderWith(t, map[string]any{"primary_start_timeout": 5}, Config{GuardInterval: 2 * time.Millisecond})
	gate := make(chan struct{})
	pg.crash(gate)
	runLoop(t, l)
	releaser(t, gate)
	eventually(t, "the loop starts PostgreSQL", func() error {
		if !pg.called("start") {
			return errors.New("not started")
		}
		return nil
	})
	for clock.Now().Before(t0.Add(4500 * time.Millisecond)) {
		clock.advance(250 * time.Millisecond)
		eventually(t, "renewed", func() error {
			if left := trustLeft(l, clock); left < 1250*time.Millisecond {
				return fmt.Errorf("trust left %v", left)
			}
			return nil
		})
	}
	if pg.called("fence") {
		t.Fatal("fenced within primary_start_timeout")
	}
	clock.advance(750 * time.Millisecond) // +5.25 s: past the bound
	time.Sleep(20 * time.Millisecond)     // a renewal racing the bound may still finish
	idx := c.State().LeaderIndex
	for i := 0; i < 13; i++ { // to +8.5 s: past the bound + the 2.25 s trust
		clock.advance(250 * time.Millisecond)
		time.Sleep(5 * time.Millisecond) // give the renewer a chance to do the wrong thing
	}
	eventually(t, "the guard fences", func() error {
		if !pg.called("fence") {
			return errors.New("not fenced")
		}
		return nil
	})
	if got := c.State().LeaderIndex; got != idx {
		t.Errorf("the key was renewed (index %d -> %d) past primary_start_timeout", idx, got)
	}
	if l.trusted() {
		t.Fatal("still trusted 3 s past primary_start_timeout")
	}
}

// Item 2: the guard's fence finds no postmaster because a start is still
// in flight (no quorum: the lease ran out meanwhile). It must not disarm the
// watchdog then; when the start comes up writable the loop sees the lease
// untrusted, fences again, and only then disarms.
func TestLoop_FenceDuringStart_WatchdogStaysArmedUntilTheStartIsFencedToo(t *testing.T) {
	wd := &fakeWatchdog{}
	l, c, pg, clock := newLeaderWith(t, nil, Config{Watchdog: wd, GuardInterval: 2 * time.Millisecond})
	wd.pg = pg
	gate := make(chan struct{})
	pg.crash(gate)
	runLoop(t, l)
	release := releaser(t, gate)
	eventually(t, "the loop starts PostgreSQL", func() error {
		if !pg.called("start") {
			return errors.New("not started")
		}
		return nil
	})
	c.setDown(true)
	clock.advance(3 * time.Second) // past sent + 2.25 s
	eventually(t, "the guard fences", func() error {
		if !pg.called("fence") {
			return errors.New("not fenced")
		}
		return nil
	})
	if pg.called("disarm") {
		t.Fatalf("watchdog disarmed by a fence while a start was in flight: %v", pg.log())
	}
	release()
	eventually(t, "the started PostgreSQL is fenced and then the watchdog disarmed", func() error {
		ret, dis := pg.indexOf("start-returned"), pg.indexOf("disarm")
		if ret < 0 || dis < ret {
			return fmt.Errorf("calls %v", pg.log())
		}
		for _, c := range pg.log()[ret:dis] {
			if c == "fence" {
				return nil
			}
		}
		return fmt.Errorf("no fence between the start returning and the disarm: %v", pg.log())
	})
	if st := pg.Observe(context.Background()); st.Running && !st.InRecovery {
		t.Fatalf("writable without a trusted lease: %+v", st)
	}
}

// Item 2: Raft has no leader for 10 s within a 29.25 s trust (ttl 30,
// loop_wait 10): the renewal is retried from the background, independently
// of the loop's turns, until it commits; the primary is never fenced, not
// even past the trust of the renewal before the outage.
func TestLoop_RaftOutageWithinTheTrust_RenewalRetriedNoFence(t *testing.T) {
	l, c, pg, clock := newLeaderWith(t, map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}, Config{GuardInterval: 2 * time.Millisecond})
	before := l.Snapshot().LastRun
	runLoop(t, l) // turns every 10 s of real time: at most one during this test
	eventually(t, "the first turn ran", func() error {
		if !l.Snapshot().LastRun.After(before) {
			return errors.New("no turn yet")
		}
		return nil
	})
	c.setDown(true)
	clock.advance(10500 * time.Millisecond) // renewal due; attempts fail
	// The renewer must have started retrying before the next 10 s pass
	// without a turn: a loop that made no progress for loop_wait +
	// retry_timeout (20 s) is no longer renewed for (review item 8).
	eventually(t, "the renewer retries", func() error {
		if c.refusedCount() == 0 {
			return errors.New("no renewal attempt yet")
		}
		return nil
	})
	clock.advance(10 * time.Second)
	c.setDown(false)
	eventually(t, "a retried renewal commits", func() error {
		if left := trustLeft(l, clock); left < 28*time.Second {
			return fmt.Errorf("trust left %v", left)
		}
		return nil
	})
	clock.advance(10 * time.Second) // +30.5 s: past the trust of the renewal before the outage
	time.Sleep(20 * time.Millisecond)
	if pg.called("fence") || !l.trusted() {
		t.Fatalf("a healthy primary was fenced by a Raft outage inside its trust: trusted %v, %v", l.trusted(), pg.log())
	}
}

// Item 5: the VM is suspended while holding the lease: the monotonic
// clock stood still, CLOCK_BOOTTIME did not. The guard fences.
func TestLoop_SuspendedVM_GuardFencesOnBootTime(t *testing.T) {
	var mu sync.Mutex
	boot := 100 * time.Second
	readBoot := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return boot
	}
	l, _, pg, _ := newLeaderWith(t, map[string]any{"loop_wait": 3, "ttl": 10, "retry_timeout": 3}, Config{GuardInterval: 2 * time.Millisecond, Boottime: readBoot})
	before := l.Snapshot().LastRun
	runLoop(t, l)
	eventually(t, "the first turn ran", func() error {
		if !l.Snapshot().LastRun.After(before) {
			return errors.New("no turn yet")
		}
		return nil
	})
	if pg.called("fence") {
		t.Fatal("fenced before the suspend")
	}
	mu.Lock()
	boot += 20 * time.Second // slept 20 s; the monotonic clock missed it
	mu.Unlock()
	eventually(t, "the guard fences", func() error {
		if !pg.called("fence") {
			return errors.New("not fenced")
		}
		return nil
	})
}

// n2's loop in a three-member cluster whose leader n1's lease expired.
func takeoverLoop(t *testing.T) (*Loop, *fakeCluster, *fakeClock, Observation) {
	t.Helper()
	o := scenario()
	o.Config.FailsafeMode = true
	o.Lease = LeaseView{Expired: true}
	c := newFakeCluster()
	c.st = o.State.Clone()
	c.index = o.State.LeaderIndex
	clock := &fakeClock{now: t0}
	l := New(Config{Name: "n2", Clock: clock, Boottime: fakeBoottime(clock)}, c, &fakePG{st: o.PG})
	o.Now = pastNewMemberHoldoff(l, clock)
	return l, c, clock, o
}

// pastNewMemberHoldoff lets l see its own record and a ttl (3 s, the
// scenario's key) pass: its takeovers are no longer held off as a new
// member's (failsafe.go). It returns the time then.
func pastNewMemberHoldoff(l *Loop, clock *fakeClock) time.Time {
	l.observe(context.Background())
	clock.advance(3 * time.Second)
	return clock.Now()
}

// Item 8: a heartbeat accepted after Decide looked (so the plan says take
// over) stops the takeover; once its ttl passed the takeover goes ahead.
func TestLoop_FailsafeHeartbeatAcceptedBeforeTakeover_TakeoverRefused(t *testing.T) {
	l, c, clock, o := takeoverLoop(t)
	if err := l.FailsafeHeartbeat("n1", c.State()); err != nil {
		t.Fatal(err)
	}
	if err := l.acquire(context.Background(), o, o.State.LeaderIndex); err != nil {
		t.Fatal(err)
	}
	if got := c.State().LeaderName(); got != "n1" {
		t.Fatalf("took the key (%s) while a failsafe heartbeat from n1 was valid", got)
	}
	clock.advance(3 * time.Second)
	if err := l.acquire(context.Background(), o, o.State.LeaderIndex); err != nil {
		t.Fatal(err)
	}
	if got := c.State().LeaderName(); got != "n2" {
		t.Fatalf("leader %s after the heartbeat's ttl; want n2", got)
	}
}

// Item 8: once a takeover began, no heartbeat is accepted.
func TestLoop_TakeoverBegun_FailsafeHeartbeatRefused(t *testing.T) {
	l, c, _, o := takeoverLoop(t)
	if why := l.beginTakeover(o); why != "" {
		t.Fatal(why)
	}
	if err := l.FailsafeHeartbeat("n1", c.State()); err == nil {
		t.Fatal("a heartbeat was accepted after a takeover began")
	}
}

// Item 8: a failsafe round with nobody to ask is no success: a lone
// member without Raft fences as without failsafe mode.
func TestLoop_FailsafeWithNoPeers_NotASuccess(t *testing.T) {
	l, c, pg, clock := newLeader(t, map[string]any{"failsafe_mode": true}, fakePeers{})
	c.setDown(true)
	for i := 0; i < 4; i++ {
		clock.advance(time.Second)
		l.turn(context.Background())
	}
	if !pg.called("fence") {
		t.Fatal("not fenced although no member could accept a failsafe heartbeat")
	}
}

// A renewal sent before the lease was dropped (release, demotion, a fence
// racing the background renewer) does not bring the trust back when it
// commits.
func TestLoop_RenewalCommittedAfterDrop_NotTrusted(t *testing.T) {
	wd := &fakeWatchdog{}
	l, _, _, clock := newLeaderWith(t, nil, Config{Watchdog: wd})
	gen := l.lease.Gen()
	l.dropLease()
	l.renewed(gen, 2, clock.Now(), 0, 3*time.Second)
	if epoch, until := l.lease.TrustUntil(); epoch != 0 || !until.IsZero() {
		t.Fatalf("trust back after a drop: epoch %d until %v", epoch, until)
	}
}

// fenceHookPG runs hook the first time Fence finds no postmaster (a start
// in flight); a Fence on a running postmaster is delayed until the watchdog
// was disarmed or maxDelay passed, standing in for a loop goroutine that is
// slow to be scheduled.
type fenceHookPG struct {
	*fakePG
	once     sync.Once
	hook     func()
	maxDelay time.Duration
}

func (p *fenceHookPG) Fence(ctx context.Context) error {
	if !p.Observe(ctx).Running {
		p.record("fence-noop")
		p.once.Do(p.hook)
		return nil
	}
	deadline := time.Now().Add(p.maxDelay)
	for !p.called("disarm") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling interval
	}
	return p.fakePG.Fence(ctx)
}

// Review item 3: the guard's fence finds no postmaster while a start is in
// flight; during that fence the start returns writable and its step ends.
// The guard must not disarm the watchdog then: only after a fence that
// stopped the started postmaster.
func TestLoop_NoopFenceOverlapsTheStartsReturn_WatchdogStaysArmed(t *testing.T) {
	wd := &fakeWatchdog{}
	l, c, pg, clock := newLeaderWith(t, nil, Config{Watchdog: wd, GuardInterval: 2 * time.Millisecond, Boottime: noBoot})
	wd.pg = pg
	gate := make(chan struct{})
	hp := &fenceHookPG{fakePG: pg, maxDelay: 200 * time.Millisecond}
	l.pg = hp
	hp.hook = func() {
		close(gate) // the postmaster comes up while this fence runs
		eventually(t, "the start returned and its step ended", func() error {
			if !pg.called("start-returned") || l.pgStepInFlight() {
				return errors.New("start still in flight")
			}
			return nil
		})
	}
	pg.crash(gate)
	runLoop(t, l)
	eventually(t, "the loop starts PostgreSQL", func() error {
		if !pg.called("start") {
			return errors.New("not started")
		}
		return nil
	})
	c.setDown(true)
	clock.advance(3 * time.Second)
	eventually(t, "the watchdog is disarmed", func() error {
		if !pg.called("disarm") {
			return fmt.Errorf("calls %v", pg.log())
		}
		return nil
	})
	ret, dis := pg.indexOf("start-returned"), pg.indexOf("disarm")
	if ret < 0 || dis < ret {
		t.Fatalf("calls %v", pg.log())
	}
	for _, x := range pg.log()[ret:dis] {
		if x == "fence" {
			return
		}
	}
	t.Fatalf("watchdog disarmed after the start returned writable and before any fence stopped it: %v", pg.log())
}

// Review item 1: one renewal with an unknown outcome under ttl 3 (a Raft
// election) left its ttl as a ceiling for the rest of the tenure; after the
// ttl was raised to 30 (loop_wait 10) every renewal wrote ttl 30 but was
// trusted for 2.25 s only and renewed every 10 s: fenced after each one. A
// later committed renewal (a compare-and-swap on LeaderIndex) proves the
// uncertain one can never commit, so the ceiling goes.
func TestLoop_UnknownRenewalThenTTLRaised_NextCommitLiftsTheCeiling(t *testing.T) {
	l, c, _, clock := newLeaderWith(t, nil, Config{Boottime: noBoot})
	c.setDown(true)
	clock.advance(500 * time.Millisecond)
	l.turn(context.Background()) // renewal fails, outcome unknown: ceiling 3 s
	c.setDown(false)
	clock.advance(500 * time.Millisecond)
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Propose(context.Background(), fsm.SetConfig{Config: map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}}); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	sent := clock.Now()
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if key := c.State().Leader; key.TTL != 30 {
		t.Fatalf("key ttl %d, want 30", key.TTL)
	}
	_, until := l.lease.TrustUntil()
	if got, want := until.Sub(sent), 30*time.Second-750*time.Millisecond; got != want {
		t.Fatalf("holder trusts until sent+%v after a committed ttl-30 renewal, want sent+%v", got, want)
	}
}

// Review item 1: while the renewal with the unknown outcome may still
// commit (nothing committed since), its ttl stays a ceiling.
func TestLoop_UnknownRenewalNotSuperseded_CeilingStays(t *testing.T) {
	l, _, _, clock := newLeaderWith(t, map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}, Config{Boottime: noBoot})
	l.lease.Unknown(l.cluster.State().Leader.Epoch, 3*time.Second)
	sent := clock.Now()
	l.renewed(l.lease.Gen(), l.cluster.State().Leader.Epoch, sent, 0, 30*time.Second)
	if _, until := l.lease.TrustUntil(); until.Sub(sent) != 2250*time.Millisecond {
		t.Fatalf("trust sent+%v with an uncertain ttl-3 renewal outstanding, want sent+2.25s", until.Sub(sent))
	}
}

// Review item 1: the renewal with the unknown outcome did commit; the next
// one, expecting the older index, is refused and retried on the new index.
func TestLoop_UnknownRenewalCommittedLate_NextRenewalRetriesOnTheNewIndex(t *testing.T) {
	l, c, _, clock := newLeaderWith(t, nil, Config{Boottime: noBoot})
	st := c.State()
	// The renewal whose answer got lost commits now.
	if _, err := c.Propose(context.Background(), fsm.RenewLeader{Member: "n1", Epoch: st.Leader.Epoch, TTL: 3, ExpectIndex: st.LeaderIndex}); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	sent := clock.Now()
	if err := l.renewLease(context.Background(), st, l.dynamicConfig(st, false), time.Second, time.Time{}); err != nil {
		t.Fatalf("renewal on a stale snapshot: %v", err)
	}
	if _, until := l.lease.TrustUntil(); until.Sub(sent) != 2250*time.Millisecond {
		t.Fatalf("trust sent+%v, want sent+2.25s", until.Sub(sent))
	}
}

// Review item 4: Decide stops renewing (data directory unknown or
// missing: a wait plan), so the background renewer must stop too, or the
// key is kept for as long as turns keep completing and nobody fails over.
func TestLoop_PlanDoesNotKeepTheKey_BackgroundRenewerStops(t *testing.T) {
	for _, dd := range []DataDirState{DataDirUnknown, DataDirMissing} {
		l, c, pg, clock := newLeaderWith(t, nil, Config{Boottime: noBoot})
		// Control: with a plan that renews, the renewer renews when due.
		clock.advance(500 * time.Millisecond)
		if _, err := l.turn(context.Background()); err != nil {
			t.Fatal(err)
		}
		clock.advance(1100 * time.Millisecond)
		idx := c.State().LeaderIndex
		l.renewTick(context.Background())
		if c.State().LeaderIndex == idx {
			t.Fatal("control: the renewer did not renew for a plan that keeps the key")
		}
		pg.mu.Lock()
		pg.st = PGStatus{DataDir: dd, Err: errors.New("EIO")}
		pg.mu.Unlock()
		if _, err := l.turn(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p := Decide(l.observe(context.Background())); plansRenewal(p) {
			t.Fatalf("data dir %v: plan %s keeps the key", dd, p)
		}
		clock.advance(1100 * time.Millisecond)
		idx = c.State().LeaderIndex
		l.renewTick(context.Background())
		if got := c.State().LeaderIndex; got != idx {
			t.Fatalf("data dir %v: the background renewer renewed (index %d -> %d) although the plan does not keep the key", dd, idx, got)
		}
	}
}

// Review item 7: a renewal sent before a 20 s suspend commits after it.
// The guard counts the suspend as passed; the watchdog must be armed with
// the same, earlier deadline, not the unadjusted sent + ttl - margin.
func TestLoop_RenewalSentBeforeSuspend_WatchdogArmedWithTheAdjustedDeadline(t *testing.T) {
	var mu sync.Mutex
	boot := 100 * time.Second
	readBoot := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return boot
	}
	wd := &fakeWatchdog{}
	l, c, _, clock := newLeaderWith(t, map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}, Config{Watchdog: wd, Boottime: readBoot})
	sent, sentBoot := clock.Now(), readBoot()
	mu.Lock()
	boot += 20 * time.Second // suspended; the monotonic clock missed it
	mu.Unlock()
	l.renewed(l.lease.Gen(), c.State().Leader.Epoch, sent, sentBoot, 30*time.Second)
	if got, want := wd.last(), sent.Add(30*time.Second-750*time.Millisecond-20*time.Second); !got.Equal(want) {
		t.Fatalf("watchdog armed until sent+%v, want sent+%v (the suspend counted as passed)", got.Sub(sent), want.Sub(sent))
	}
}

// Review item 8: a hung agent keeps the key only about retry_timeout + ttl
// after its last progress: only steps that start, stop or promote
// PostgreSQL get the long bounds; SQL steps and the wait between turns get
// retry_timeout.
func TestLoop_StepBounds_OnlyStartsAndPromotionsGetTheLongBound(t *testing.T) {
	l, _, _, clock := newLeaderWith(t, map[string]any{"retry_timeout": 2, "loop_wait": 1, "ttl": 5, "primary_start_timeout": 300}, Config{Boottime: noBoot})
	o := l.observe(context.Background())
	for kind, want := range map[ActionKind]time.Duration{
		ActSyncSlots: 2 * time.Second, ActSetSyncStandbys: 2 * time.Second, ActSetSync: 2 * time.Second, ActRenew: 2 * time.Second,
		ActPromote: l.cfg.StepTimeout, ActStartReplica: l.cfg.StepTimeout, ActRecoverPrimary: 300 * time.Second,
	} {
		if got := l.stepBound(o, act(kind)); got != want {
			t.Errorf("%v: bound %v, want %v", kind, got, want)
		}
	}
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	deadline := l.progress.deadline
	l.mu.Unlock()
	if got, want := deadline.Sub(clock.Now()), 3*time.Second; got != want {
		t.Errorf("between turns the renewer renews for %v, want loop_wait + retry_timeout = %v", got, want)
	}
}

// Review item 9: the postmaster crashed during a Raft election. The
// renewal before the restart is retried within the trust (as the
// background renewer does), so PostgreSQL restarts as primary in place
// rather than read-only followed by a promotion to a new timeline.
func TestLoop_CrashDuringRaftElection_RecoverPrimaryRetriesTheRenewal(t *testing.T) {
	l, c, pg, clock := newLeaderWith(t, nil, Config{Boottime: noBoot})
	pg.crash(nil)
	clock.advance(500 * time.Millisecond)
	c.mu.Lock()
	c.failN = 2
	c.mu.Unlock()
	o := l.observe(context.Background())
	if err := l.recoverPrimary(context.Background(), o); err != nil {
		t.Fatalf("recover primary: %v", err)
	}
	if st := pg.Observe(context.Background()); !st.Running || st.InRecovery {
		t.Fatalf("PostgreSQL %+v after a Raft election inside the trust, want running as primary", st)
	}
}

// laggingCluster is a Raft follower whose local state has not applied the
// latest entries: State returns the frozen snapshot.
type laggingCluster struct {
	*fakeCluster
	frozen fsm.State
}

func (c *laggingCluster) State() fsm.State { return c.frozen.Clone() }

// Review item 1: every renewal expects LeaderIndex; a node whose local
// state has not applied its own last renewal yet expects the index that
// renewal committed at, so it is not refused.
func TestLoop_LocalStateLagsBehindOwnRenewal_NextRenewalExpectsItsIndex(t *testing.T) {
	l, c, _, clock := newLeaderWith(t, nil, Config{Boottime: noBoot})
	st := c.State()
	l.cluster = &laggingCluster{fakeCluster: c, frozen: st}
	for i := 0; i < 3; i++ {
		clock.advance(time.Second)
		if err := l.renewLease(context.Background(), st, l.dynamicConfig(st, false), time.Second, time.Time{}); err != nil {
			t.Fatalf("renewal %d with a lagging local state: %v", i+1, err)
		}
	}
}

// Decide's choice not to renew stands: paused with PostgreSQL down, the
// plan renews nothing, and neither does the background renewer.
func TestLoop_PausedWithPostgresDown_BackgroundRenewerDoesNotRenew(t *testing.T) {
	l, c, pg, clock := newLeaderWith(t, nil, Config{GuardInterval: 2 * time.Millisecond})
	if _, err := c.Propose(context.Background(), fsm.SetConfig{Config: map[string]any{"pause": true}}); err != nil {
		t.Fatal(err)
	}
	pg.crash(nil)
	before := l.Snapshot().LastRun
	runLoop(t, l)
	eventually(t, "a paused turn ran", func() error {
		if !l.Snapshot().LastRun.After(before) {
			return errors.New("no turn yet")
		}
		return nil
	})
	idx := c.State().LeaderIndex
	clock.advance(1500 * time.Millisecond) // past loop_wait since the last renewal
	time.Sleep(50 * time.Millisecond)      // give the renewer a chance to do the wrong thing
	if got := c.State().LeaderIndex; got != idx {
		t.Fatalf("the key was renewed (index %d -> %d) although the paused plan renews nothing", idx, got)
	}
}

// Review item 1: when the trust is shorter than loop_wait (a ceiling left
// by an uncertain renewal under a lower ttl), the background renewer
// renews once less than half of it is left, not only every loop_wait.
func TestLoop_TrustShorterThanLoopWait_RenewerRenewsAtHalfTheTrust(t *testing.T) {
	l, c, _, clock := newLeaderWith(t, map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}, Config{Boottime: noBoot})
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	epoch := c.State().Leader.Epoch
	l.lease.Unknown(epoch, 3*time.Second)
	l.renewed(l.lease.Gen(), epoch, clock.Now(), 0, 30*time.Second) // trust: 2.25 s under the ceiling
	l.mu.Lock()
	l.progress.renewing = true
	l.mu.Unlock()
	clock.advance(time.Second) // 1.25 s left: more than half
	idx := c.State().LeaderIndex
	l.renewTick(context.Background())
	if c.State().LeaderIndex != idx {
		t.Fatal("renewed with more than half of the trust left and loop_wait not passed")
	}
	clock.advance(200 * time.Millisecond) // 1.05 s left: less than half
	l.renewTick(context.Background())
	if c.State().LeaderIndex == idx {
		t.Fatal("not renewed with less than half of a 2.25 s trust left (loop_wait 10 s)")
	}
	if left := trustLeft(l, clock); left != 30*time.Second-750*time.Millisecond {
		t.Fatalf("trust left %v after the renewal, want 29.25s (ceiling lifted)", left)
	}
}

// appendReportingCluster says that every failed proposal appended nothing
// (as raftstore does for ErrNoLeader / ErrNotLeader).
type appendReportingCluster struct{ *fakeCluster }

func (appendReportingCluster) NothingAppended(err error) bool { return err != nil }

// Review item 1: a renewal that certainly appended nothing (no Raft
// leader) can never commit, so it leaves no ttl ceiling; one whose
// outcome is unknown does.
func TestLoop_RenewalFailedWithNothingAppended_LeavesNoCeiling(t *testing.T) {
	for _, reports := range []bool{true, false} {
		l, c, _, _ := newLeaderWith(t, map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}, Config{Boottime: noBoot})
		if reports {
			l.cluster = appendReportingCluster{c}
		}
		st := c.State()
		dyn := l.dynamicConfig(st, false)
		dyn.TTL = 3
		c.setDown(true)
		if err := l.renewLease(context.Background(), st, dyn, time.Second, time.Time{}); err == nil {
			t.Fatal("renewal succeeded without Raft")
		}
		got := l.lease.FailsafeTTL(st.Leader.Epoch, 30*time.Second)
		if reports && got != 30*time.Second {
			t.Errorf("nothing appended: ceiling %v left, want none (30s)", got)
		}
		if !reports && got != 3*time.Second {
			t.Errorf("unknown outcome: ceiling %v, want 3s", got)
		}
	}
}

// Review (final) finding 1: a renewal sent without ExpectIndex (an older
// agent was listed) can commit after any later renewal, so a committed CAS
// renewal must not lift its ceiling.
func TestLoop_RenewalWithoutExpectIndexUnknown_KeepsItsCeilingAfterACASRenewal(t *testing.T) {
	l, c, _, clock := newLeaderWith(t, nil, Config{Boottime: noBoot})
	ctx := context.Background()
	if _, err := c.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "old", Protocol: 0}}); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	if st.AllSupport(fsm.ProtocolRenewCAS) {
		t.Fatal("setup")
	}
	epoch := st.Leader.Epoch
	c.setDown(true)
	clock.advance(500 * time.Millisecond)
	_ = l.renewLease(ctx, st, l.dynamicConfig(st, false), time.Second, time.Time{}) // R1: ExpectIndex 0, unknown
	c.setDown(false)
	if _, err := c.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "old", Protocol: fsm.Protocol}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Propose(ctx, fsm.SetConfig{Config: map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}}); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	st = c.State()
	sent := clock.Now()
	if err := l.renewLease(ctx, st, l.dynamicConfig(st, false), time.Second, time.Time{}); err != nil {
		t.Fatal(err)
	}
	_, until := l.lease.TrustUntil()
	// R1 (no ExpectIndex, ttl 3) finally commits.
	if _, err := c.Propose(ctx, fsm.RenewLeader{Member: "n1", Epoch: epoch, TTL: 3, ProposedAt: time.Now()}); err != nil {
		t.Fatalf("R1 could not commit: %v", err)
	}
	if k := c.State().Leader; k.TTL == 3 && until.Sub(sent) > 3*time.Second {
		t.Fatalf("holder trusts until sent+%v while the key's last committed renewal has ttl %ds: others may take the key first", until.Sub(sent), k.TTL)
	}
}
