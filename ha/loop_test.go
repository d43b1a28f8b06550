package ha

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// fakeCluster applies commands with the real fsm code, or fails them all
// while down (no Raft quorum).
type fakeCluster struct {
	mu      sync.Mutex
	st      fsm.State
	index   uint64
	down    bool
	failN   int // the next failN proposals fail as without quorum
	refused int // proposals failed for lack of quorum
	changed chan struct{}
}

func (c *fakeCluster) refusedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{st: fsm.State{Members: map[string]fsm.Member{}}, changed: make(chan struct{})}
}

func (c *fakeCluster) State() fsm.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Clone()
}

func (c *fakeCluster) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *fakeCluster) Propose(_ context.Context, cmd fsm.Command) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		c.refused++
		return 0, errors.New("no quorum")
	}
	if c.failN > 0 {
		c.failN--
		c.refused++
		return 0, errors.New("no quorum")
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		return 0, err
	}
	c.index++
	if err := fsm.ApplyEntry(&c.st, data, c.index); err != nil {
		return 0, err
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return c.index, nil
}

// fakePG is a PostgreSQL that obeys at once and records what it was told.
type fakePG struct {
	mu    sync.Mutex
	st    PGStatus
	calls []string
	// startGate, when set, holds Start (as primary) until it is closed; Start
	// records "start" on entry and "start-returned" when it returns.
	startGate chan struct{}
}

func (p *fakePG) record(call string) {
	p.mu.Lock()
	p.calls = append(p.calls, call)
	p.mu.Unlock()
}

func (p *fakePG) called(call string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.calls {
		if c == call {
			return true
		}
	}
	return false
}

func (p *fakePG) Observe(context.Context) PGStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

func (p *fakePG) Bootstrap(context.Context) (string, error) {
	p.record("bootstrap")
	p.mu.Lock()
	p.st = PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, Timeline: 1}
	p.mu.Unlock()
	return "7001", nil
}

func (p *fakePG) Clone(context.Context, fsm.Member) error { p.record("clone"); return nil }
func (p *fakePG) Start(_ context.Context, follow *fsm.Member) error {
	p.record("start")
	p.mu.Lock()
	gate := p.startGate
	p.mu.Unlock()
	if gate != nil && follow == nil {
		<-gate
		defer p.record("start-returned")
	}
	p.mu.Lock()
	p.st.Running, p.st.InRecovery = true, follow != nil
	if follow != nil {
		p.st.Following = follow.Name
	}
	p.mu.Unlock()
	return nil
}
func (p *fakePG) Follow(_ context.Context, m fsm.Member) error {
	p.record("follow")
	p.mu.Lock()
	p.st.Following = m.Name
	p.mu.Unlock()
	return nil
}
func (p *fakePG) Promote(context.Context) (uint64, error) {
	p.record("promote")
	p.mu.Lock()
	p.st.InRecovery = false
	p.st.Timeline++
	p.mu.Unlock()
	return 100, nil
}
func (p *fakePG) Demote(_ context.Context, m *fsm.Member) error {
	p.record("demote")
	p.mu.Lock()
	p.st.InRecovery = true
	if m != nil {
		p.st.Following = m.Name
	}
	p.mu.Unlock()
	return nil
}
func (p *fakePG) MarkTimeline(context.Context, int, uint64) error { return nil }
func (p *fakePG) Rewind(context.Context, fsm.Member) error        { p.record("rewind"); return nil }
func (p *fakePG) MoveAside(context.Context) (string, error)       { p.record("move-aside"); return "x", nil }
func (p *fakePG) SetSyncStandbys(context.Context, []string, bool) error {
	p.record("set-sync-standbys")
	return nil
}
func (p *fakePG) SyncSlots(context.Context, []string, []string) error { return nil }
func (p *fakePG) Stop(context.Context) error                          { p.record("stop"); return nil }
func (p *fakePG) Fence(context.Context) error {
	p.record("fence")
	p.mu.Lock()
	p.st.Running = false
	p.mu.Unlock()
	return nil
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeBoottime is a CLOCK_BOOTTIME that follows the fake monotonic clock
// (no suspend): mixing the fake clock with the real CLOCK_BOOTTIME made
// real time that passed count as a suspend (review item 11).
func fakeBoottime(clock *fakeClock) func() time.Duration {
	return func() time.Duration { return 100*time.Second + clock.Now().Sub(t0) }
}

type fakePeers struct{ err error }

func (p fakePeers) Failsafe(context.Context, fsm.Member, []fsm.Member) error { return p.err }

// newLeader bootstraps a one-member cluster through the loop itself and
// returns it holding the key with PostgreSQL running as primary.
func newLeader(t *testing.T, dcs map[string]any, peers Peers) (*Loop, *fakeCluster, *fakePG, *fakeClock) {
	return newLeaderWith(t, dcs, Config{Peers: peers})
}

// newLeaderWith is newLeader with more of the Config (Name and Clock are set here).
func newLeaderWith(t *testing.T, dcs map[string]any, cfg Config) (*Loop, *fakeCluster, *fakePG, *fakeClock) {
	t.Helper()
	c, pg, clock := newFakeCluster(), &fakePG{st: PGStatus{DataDir: DataDirMissing}}, &fakeClock{now: t0}
	if _, err := c.Propose(context.Background(), fsm.SetConfig{Config: dcs}); err != nil {
		t.Fatal(err)
	}
	cfg.Name, cfg.Clock = "n1", clock
	if cfg.Boottime == nil {
		cfg.Boottime = fakeBoottime(clock)
	}
	l := New(cfg, c, pg)
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	if st.SystemID() != "7001" || st.LeaderName() != "n1" || !pg.called("bootstrap") {
		t.Fatalf("bootstrap: system id %q, leader %q, calls %v", st.SystemID(), st.LeaderName(), pg.calls)
	}
	return l, c, pg, clock
}

func TestLoop_Bootstrap_ClaimsInitializesAndTakesTheKey(t *testing.T) {
	l, c, _, _ := newLeader(t, nil, nil)
	if !l.trusted() {
		t.Fatal("the new leader does not trust its lease")
	}
	if m := c.State().Members["n1"]; m.Role != fsm.RolePrimary || m.State != "running" {
		t.Fatalf("published member %+v", m)
	}
}

func TestLoop_NoQuorum_FencesOnceTheLeaseIsNoLongerTrusted(t *testing.T) {
	l, c, pg, clock := newLeader(t, nil, nil)
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	clock.advance(time.Second)
	l.turn(context.Background())
	if pg.called("fence") {
		t.Fatal("fenced while the lease was still trusted")
	}
	clock.advance(2 * time.Second) // past sent + ttl - FenceMargin
	l.turn(context.Background())
	if !pg.called("fence") {
		t.Fatal("not fenced after the lease ran out without a renewal")
	}
	// Next turn: the key is still named ours, PostgreSQL is down, no quorum:
	// it comes back read-only.
	l.turn(context.Background())
	if st := pg.Observe(context.Background()); !st.Running || !st.InRecovery {
		t.Fatalf("after fencing without quorum PostgreSQL is %+v, want running read-only", st)
	}
}

func TestLoop_FailsafeMode_EveryMemberAnswers_KeepsThePrimary(t *testing.T) {
	l, c, pg, clock := newLeader(t, map[string]any{"failsafe_mode": true}, fakePeers{})
	c.Propose(context.Background(), fsm.UpsertMember{Member: fsm.Member{Name: "n2"}})
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	for i := 0; i < 5; i++ {
		clock.advance(time.Second)
		l.turn(context.Background())
	}
	if pg.called("fence") || !l.trusted() {
		t.Fatalf("failsafe with every member answering: fenced=%v trusted=%v", pg.called("fence"), l.trusted())
	}
	if !l.Snapshot().FailsafeActive {
		t.Error("snapshot does not report failsafe as active")
	}
}

func TestLoop_FailsafeMode_AMemberDoesNotAnswer_Fences(t *testing.T) {
	l, c, pg, clock := newLeader(t, map[string]any{"failsafe_mode": true}, fakePeers{err: errors.New("n2: connection refused")})
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	for i := 0; i < 4; i++ {
		clock.advance(time.Second)
		l.turn(context.Background())
	}
	if !pg.called("fence") {
		t.Fatal("not fenced although a member did not accept the failsafe heartbeat")
	}
}

func TestLoop_FailsafeHeartbeat_HolderRefusesIt(t *testing.T) {
	l, c, _, _ := newLeader(t, nil, nil)
	if err := l.FailsafeHeartbeat("n2", c.State()); !errors.Is(err, ErrHoldsKey) {
		t.Fatalf("holder accepted a heartbeat: %v", err)
	}
}

func TestDecide_FailsafeHeartbeatFromTheHolder_NoTakeover(t *testing.T) {
	o := scenario()
	o.Lease = LeaseView{Expired: true}
	o.Config.FailsafeMode = true
	o.FailsafeLeader = "n1"
	if p := Decide(o); p.Actions[0].Kind != ActWait {
		t.Fatalf("plan %v (%s), want wait", p.Kinds(), p.Reason)
	}
	// failsafe_mode switched off after the heartbeat was accepted: the
	// holder still trusts the extension it got from this node (seed 3082).
	o.Config.FailsafeMode = false
	if p := Decide(o); p.Actions[0].Kind != ActWait {
		t.Fatalf("failsafe mode switched off after the heartbeat: plan %v (%s), want wait", p.Kinds(), p.Reason)
	}
	o.FailsafeLeader = ""
	if p := Decide(o); p.Actions[0].Kind != ActAcquire {
		t.Fatalf("no heartbeat: plan %v (%s), want acquire", p.Kinds(), p.Reason)
	}
}

// Review item 6: Shutdown while a start as primary is in flight, or right
// after one was cut short by the shutdown, must not release the key or
// disarm the watchdog: Stop may not see a postmaster that is still coming
// up. Once PostgreSQL was seen running, Stop finds it and the key goes back.
func TestLoop_ShutdownAfterAStartWasCutShort_KeepsTheKeyAndTheWatchdog(t *testing.T) {
	for _, inFlight := range []bool{true, false} {
		wd := &fakeWatchdog{}
		l, c, pg, _ := newLeaderWith(t, nil, Config{Watchdog: wd, Boottime: noBoot})
		wd.pg = pg
		done := l.beginPGStep()
		if !inFlight {
			done(context.Canceled)
		}
		pg.crash(nil) // no postmaster.pid yet
		if err := l.Shutdown(context.Background()); err == nil {
			t.Errorf("in flight %v: Shutdown reported success", inFlight)
		}
		if got := c.State().LeaderName(); got != "n1" || pg.called("disarm") {
			t.Fatalf("in flight %v: leader %q, calls %v: key released or watchdog disarmed while a start may come up", inFlight, got, pg.log())
		}
		if inFlight {
			done(nil)
		}
		pg.mu.Lock()
		pg.st.Running = true
		pg.mu.Unlock()
		l.observe(context.Background())
		if err := l.Shutdown(context.Background()); err != nil {
			t.Fatalf("in flight %v: Shutdown after PostgreSQL was seen running: %v", inFlight, err)
		}
		if got := c.State().LeaderName(); got != "" {
			t.Fatalf("in flight %v: leader %q after a clean shutdown", inFlight, got)
		}
	}
}
