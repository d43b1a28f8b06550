package ha_test

// The simulated node: watchdog, clock, pause gate and PostgreSQL of the fault
// suite (nemesis_test.go), each seen by one agent incarnation.

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
)

// --- the watchdog: the simulated PostgreSQL's own deadline ---

func (w *world) arm(i int, until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pg[i].wdTimer == nil {
		w.logf("%s watchdog armed (fires in %v)", w.names[i], until.Sub(w.clocks[i].Now()).Round(time.Millisecond))
	}
	w.armLocked(i, until)
}

// armLocked sets node i's watchdog to fire when its clock reads until.
func (w *world) armLocked(i int, until time.Time) {
	w.disarmLocked(i)
	deadline := w.clocks[i].trueAt(until)
	gen := w.pg[i].wdGen
	w.pg[i].wdUntil = until
	w.pg[i].wdTimer = time.AfterFunc(time.Until(deadline), func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.pg[i].wdGen != gen {
			return
		}
		w.pg[i].wdTimer = nil
		w.transition(i, "watchdog fired", func(p *pgSim) { p.running = false; p.stops++ })
	})
}

// jumpClock moves node i's clock forward by d; its armed watchdog, which
// counts on the same host clock, fires that much earlier.
func (w *world) jumpClock(i int, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clocks[i].jump(d)
	if w.pg[i].wdTimer != nil {
		w.armLocked(i, w.pg[i].wdUntil)
	}
}

func (w *world) disarmLocked(i int) {
	p := w.pg[i]
	p.wdGen++
	if p.wdTimer != nil {
		p.wdTimer.Stop()
		p.wdTimer = nil
	}
}

func (w *world) stopWatchdogs() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.pg {
		w.disarmLocked(i)
	}
}

type watchdog struct {
	w *world
	i int
	g *gate
}

func (d watchdog) Arm(until time.Time) error {
	if err := d.g.wait(); err != nil {
		return err
	}
	d.w.arm(d.i, until)
	return nil
}

func (d watchdog) Disarm() error {
	if err := d.g.wait(); err != nil {
		return err
	}
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	if d.w.pg[d.i].wdTimer != nil {
		d.w.logf("%s watchdog disarmed (writable: %v)", d.w.names[d.i], d.w.pg[d.i].writable())
	}
	d.w.disarmLocked(d.i)
	return nil
}

// --- clocks ---

// nodeClock is one host's monotonic clock: it runs at rate times the true
// clock and starts at an offset. Its readings carry Go's monotonic reading
// (they are derived from time.Now by Add), so Sub between two readings of
// one node is exact.
type nodeClock struct {
	origin time.Time
	rate   float64
	mu     sync.Mutex
	offset time.Duration
}

func (c *nodeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.origin.Add(c.offset + time.Duration(float64(time.Since(c.origin))*c.rate))
}

// trueAt is the true instant at which this clock reads t.
func (c *nodeClock) trueAt(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.origin.Add(time.Duration(float64(t.Sub(c.origin)-c.offset) / c.rate))
}

// jump moves the clock forward by d (a monotonic clock never goes back).
func (c *nodeClock) jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// --- the pause gate: SIGSTOP of an agent ---

// gate stops an agent's every call into the world (Raft, PostgreSQL, clock,
// watchdog) while paused; once killed, every call fails without effect.
type gate struct {
	mu     sync.Mutex
	open   chan struct{} // closed while running
	killed bool
}

func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func (g *gate) kill() {
	g.mu.Lock()
	g.killed = true
	g.mu.Unlock()
	g.resume()
}

func (g *gate) wait() error {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.killed {
		return errDead
	}
	return nil
}

func (g *gate) paused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		return false
	default:
		return true
	}
}

type gatedClock struct {
	g *gate
	c *nodeClock
}

func (c gatedClock) Now() time.Time {
	_ = c.g.wait()
	return c.c.Now()
}

// gatedCluster is the agent's view of its Raft node.
type gatedCluster struct {
	g *gate
	c ha.Cluster
}

func (c gatedCluster) State() fsm.State {
	_ = c.g.wait()
	return c.c.State()
}

func (c gatedCluster) Changed() <-chan struct{} {
	_ = c.g.wait()
	return c.c.Changed()
}

// RaftServerIDs passes the Raft configuration through, so the protocol
// gates (ha/protocol.go) run as in the agent.
func (c gatedCluster) RaftServerIDs() ([]string, error) {
	_ = c.g.wait()
	return c.c.(ha.ServerLister).RaftServerIDs()
}

func (c gatedCluster) Propose(ctx context.Context, cmd fsm.Command) (uint64, error) {
	if err := c.g.wait(); err != nil {
		return 0, err
	}
	idx, err := c.c.Propose(ctx, cmd)
	if gerr := c.g.wait(); gerr != nil {
		return 0, gerr
	}
	return idx, err
}

// --- PostgreSQL ---

// simPG is node i's ha.Postgres, as seen by one agent incarnation.
type simPG struct {
	w *world
	i int
	g *gate
}

var errUnreachable = errors.New("source not reachable or not running")

func (s simPG) do(why string, f func(p *pgSim) error) error {
	if err := s.g.wait(); err != nil {
		return err
	}
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	var err error
	s.w.transition(s.i, why, func(p *pgSim) { err = f(p) })
	return err
}

func (s simPG) Observe(context.Context) ha.PGStatus {
	if err := s.g.wait(); err != nil {
		return ha.PGStatus{DataDir: ha.DataDirUnknown, Err: err}
	}
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pg[s.i]
	if !p.valid {
		return ha.PGStatus{DataDir: ha.DataDirMissing}
	}
	st := ha.PGStatus{
		DataDir: ha.DataDirValid, SystemID: "7001", Running: p.running, InRecovery: p.inRecovery,
		Timeline: p.timeline, WALPosition: uint64(len(p.wal)), Following: p.following,
		SyncStandbys: slices.Clone(p.syncNames), SyncAny: p.syncAny,
	}
	if p.inRecovery {
		st.ReceivedLSN, st.ReplayedLSN = st.WALPosition, st.WALPosition
		st.Streaming = p.running && p.streaming
	}
	if p.running && !p.inRecovery {
		for j, r := range w.pg {
			if j == s.i || !r.running || !r.inRecovery || !r.streaming || r.following != w.names[s.i] || !w.reachable(s.i, j) {
				continue
			}
			state := "async"
			if slices.Contains(p.syncNames, w.names[j]) {
				state = "sync"
			}
			st.Replicas = append(st.Replicas, ha.Replica{Name: w.names[j], State: "streaming", SyncState: state, FlushLSN: uint64(len(r.wal))})
		}
		sort.Slice(st.Replicas, func(a, b int) bool { return st.Replicas[a].Name < st.Replicas[b].Name })
	}
	return st
}

func (s simPG) Bootstrap(context.Context) (string, error) {
	err := s.do("bootstrap", func(p *pgSim) error {
		if p.valid {
			return errors.New("data directory exists")
		}
		*p = pgSim{valid: true, running: true, timeline: 1, wdGen: p.wdGen, wdTimer: p.wdTimer, stops: p.stops, slowStart: p.slowStart}
		return nil
	})
	return "7001", err
}

func (s simPG) Clone(_ context.Context, from fsm.Member) error {
	return s.do("clone", func(p *pgSim) error {
		src := s.w.index(from.Name)
		if src < 0 || !s.w.reachable(s.i, src) || !s.w.pg[src].running || !s.w.pg[src].valid {
			return errUnreachable
		}
		p.valid, p.running, p.inRecovery, p.clean = true, false, true, false
		p.wal = slices.Clone(s.w.pg[src].wal)
		p.timeline = s.w.pg[src].timeline
		return nil
	})
}

// Start starts PostgreSQL. With a slow start set (crash recovery with a lot
// of WAL to replay), pg_ctl start -w returns only after it; a fence or stop
// meanwhile kills the recovering postmaster and the start fails.
func (s simPG) Start(_ context.Context, follow *fsm.Member) error {
	why := "started as primary"
	if follow != nil {
		why = "started as standby"
	}
	if err := s.g.wait(); err != nil {
		return err
	}
	s.w.mu.Lock()
	slow, stops := s.w.pg[s.i].slowStart, s.w.pg[s.i].stops
	s.w.mu.Unlock()
	if slow > 0 {
		t := time.NewTimer(slow)
		<-t.C
	}
	return s.do(why, func(p *pgSim) error {
		if !p.valid {
			return errors.New("no data directory")
		}
		if p.stops != stops {
			return errors.New("postmaster stopped during crash recovery")
		}
		p.running = true
		p.clean = false
		p.inRecovery = follow != nil
		p.following = ""
		if follow != nil {
			p.following = follow.Name
		}
		return nil
	})
}

func (s simPG) Follow(_ context.Context, primary fsm.Member) error {
	return s.do("follow", func(p *pgSim) error {
		p.following = primary.Name
		return nil
	})
}

func (s simPG) Promote(context.Context) (uint64, error) {
	var lsn uint64
	err := s.do("promoted", func(p *pgSim) error {
		if !p.running || !p.inRecovery {
			return errors.New("not a running standby")
		}
		p.inRecovery = false
		p.following = ""
		p.timeline++
		lsn = uint64(len(p.wal))
		return nil
	})
	return lsn, err
}

func (s simPG) Demote(_ context.Context, primary *fsm.Member) error {
	return s.do("demoted", func(p *pgSim) error {
		p.running, p.inRecovery, p.following, p.clean = true, true, "", false
		if primary != nil {
			p.following = primary.Name
		}
		return nil
	})
}

func (s simPG) Rewind(_ context.Context, primary fsm.Member) error {
	return s.do("rewind", func(p *pgSim) error {
		src := s.w.index(primary.Name)
		p.running = false
		if src < 0 || !s.w.reachable(s.i, src) || !s.w.pg[src].running {
			return errUnreachable
		}
		sw := s.w.pg[src].wal
		k := 0
		for k < len(p.wal) && k < len(sw) && p.wal[k] == sw[k] {
			k++
		}
		p.wal = slices.Clone(p.wal[:k])
		p.clean = false
		p.timeline = s.w.pg[src].timeline
		p.inRecovery = true
		return nil
	})
}

func (s simPG) MoveAside(context.Context) (string, error) {
	err := s.do("moved aside", func(p *pgSim) error {
		p.valid, p.running, p.wal, p.timeline = false, false, nil, 0
		return nil
	})
	return "aside", err
}

func (s simPG) SetSyncStandbys(_ context.Context, names []string, strict bool) error {
	return s.do("set synchronous_standby_names", func(p *pgSim) error {
		p.syncNames = slices.Clone(names)
		p.syncAny = strict && len(names) == 0
		return nil
	})
}

func (s simPG) MarkTimeline(context.Context, int, uint64) error { return nil }

func (s simPG) Fence(context.Context) error {
	return s.do("fenced", func(p *pgSim) error {
		p.running = false
		p.stops++
		return nil
	})
}

func (s simPG) Stop(context.Context) error {
	return s.do("stopped", func(p *pgSim) error {
		p.running = false
		p.stops++
		return nil
	})
}

func (s simPG) SyncSlots(context.Context, []string, []string) error {
	return s.g.wait()
}
