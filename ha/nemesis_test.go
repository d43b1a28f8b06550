package ha_test

// A randomized fault suite in the manner of hashicorp/raft's fuzzy tests and
// Jepsen's nemesis/checker split. N real ha.Loops run on the nodes of an
// in-process Raft cluster (raftstore/rafttest) with a simulated PostgreSQL
// each (nemesis_world_test.go) and a clock each. A nemesis driven by a
// seeded generator applies a random schedule of faults; a checker records
// every PostgreSQL's writable spans on one true clock and every
// acknowledged commit, and asserts after each step and at the end:
//
//   - at most one writable primary at any true instant (no two spans of
//     two nodes overlap, however briefly);
//   - no synchronously acknowledged commit is lost: every commit a
//     standby named in synchronous_standby_names had when the client got
//     its answer, made while synchronous_mode stayed on until the end, is
//     on the final primary.
//
// Clocks: each node's clock runs at a rate within ±clockDrift of the true
// clock and starts at its own offset. The lease is safe while
// 2 × clockDrift × ttl stays well below FenceMargin (750 ms): with
// clockDrift 1% and ttl at most 10 s that is 200 ms.
//
// Faults (one per step; with configuration kinds enabled, half the steps
// first change the dynamic configuration 0.3-3 s before the fault):
// partitions (the primary, the Raft leader or a random minority cut off),
// pauses of an agent (SIGSTOP: its HA loop, Raft node, clock and watchdog
// calls stop; its Raft links are cut; its PostgreSQL keeps running and only
// the watchdog, armed on the true clock, fences it), kill -9 of an agent or
// of a whole node, a node's Raft data wiped, kill -9 of the postmaster with a
// crash recovery of up to 2*ttl, forward jumps of the holder's clock, lossy
// and delayed links (raftstore/rafttest.Network), and changes of ttl,
// loop_wait, synchronous_mode and failsafe_mode. Operator steps meet the
// faults too (nemesis_ops_test.go): planned switchovers (the hand-over,
// sometimes scheduled), manual failovers, restarts in place (with and
// without a timeout) and pre_promote vetoes during a hand-over.
//
// Running it:
//
//	go test ./ha -run Nemesis_      the short sweep: seeds 1-5, 3 steps, defaultKinds (about 20 s)
//	NEMESIS_SEED=42 NEMESIS_KINDS=... NEMESIS_STEPS=6 go test ./ha -run Nemesis_ -v
//	                                replay one schedule (a failure prints this line)
//	make soak                       NEMESIS_SCHEDULES schedules with every kind
//
// NEMESIS_KINDS=a,b,c limits the fault kinds (default for a replay or a
// soak: all); NEMESIS_PARALLEL sets how many schedules run at once (default
// 5); NEMESIS_STEPS the steps per schedule (default 6, sweep 3);
// NEMESIS_BASE the first soak seed. A seed fixes the sequence of faults,
// durations and configuration changes; which node is the primary when a
// fault strikes depends on timing, so a replay usually, not always,
// reproduces a failure: run it a few times (-count=3).

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

var nemesisSeed = flag.Int64("nemesis.seed", 0, "run only this fault-suite seed (also NEMESIS_SEED)")

const clockDrift = 0.01

// Fault kinds. defaultKinds run in every go test; the soak and a replay use
// allKinds. "ttl" (issue 6 item 1: seeds 1027, 1004, 1033, 2022 failed before
// the holder trusted exactly the committed ttl) and "failsafe" (seed 3082:
// Decide honoured an accepted heartbeat only while failsafe_mode was on)
// joined the default sweep once those were fixed.
var (
	allKinds = []string{
		"partition-primary", "partition-minority", "partition-leader", "pause-primary", "pause",
		"crash-agent", "crash-node", "wipe", "slow-recovery", "clock-jump-primary", "loss", "delay", "ttl", "loop-wait", "sync", "failsafe",
		"switchover", "failover", "restart", "veto", "evict-rejoin", // operator steps (nemesis_ops_test.go)
	}
	defaultKinds = allKinds
	configKinds  = []string{"ttl", "loop-wait", "sync", "failsafe"}
	defaultSeeds = []int64{1, 2, 3, 4, 5}
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func TestNemesis_RandomFaults_NeverTwoWritablePrimariesNorLostSyncCommits(t *testing.T) {
	kinds, seeds, steps := defaultKinds, defaultSeeds, 3
	if s := os.Getenv("NEMESIS_SEED"); s != "" || *nemesisSeed != 0 {
		seed := *nemesisSeed
		if s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("NEMESIS_SEED=%q: %v", s, err)
			}
			seed = v
		}
		kinds, seeds, steps = allKinds, []int64{seed}, 6
	} else if n := envInt("NEMESIS_SCHEDULES", 0); n > 0 {
		base := int64(envInt("NEMESIS_BASE", int(time.Now().Unix()%1_000_000)))
		kinds, seeds, steps = allKinds, nil, 6
		for i := range n {
			seeds = append(seeds, base+int64(i))
		}
		t.Logf("soak: %d schedules, seeds %d..%d", n, base, base+int64(n)-1)
	}
	if k := os.Getenv("NEMESIS_KINDS"); k != "" {
		kinds = strings.Split(k, ",")
	}
	steps = envInt("NEMESIS_STEPS", steps)
	sem := make(chan struct{}, envInt("NEMESIS_PARALLEL", len(defaultSeeds)))
	// Schedules mostly wait on timers, so they run NEMESIS_PARALLEL at a
	// time whatever GOMAXPROCS is (t.Parallel would cap them at -parallel).
	var wg sync.WaitGroup
	for _, seed := range seeds {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runSchedule(t, seed, kinds, steps) })
		}()
	}
	wg.Wait()
}

// harness is one schedule's cluster, agents and nemesis state.
type harness struct {
	t      *testing.T
	seed   int64
	rng    *rand.Rand
	replay string // environment that replays this schedule
	n      int
	c      *rafttest.Cluster
	w      *world
	clocks []*nodeClock

	mu     sync.Mutex
	agents []*agentRun // nil while dead
	dcs    map[string]any
	groups [][]int // current partition, nil when none
	paused map[int]bool
	loss   float64
	delays map[[2]int]time.Duration
	veto   map[int]time.Time // pre_promote refuses on the node until then (nemesis_ops_test.go)
	log    []string          // the schedule as applied, for the report
}

type agentRun struct {
	g      *gate
	loop   *ha.Loop
	cancel context.CancelFunc
	done   chan struct{}
	// ready is set once the agent's state caught up (linearizable read):
	// the real agent serves its REST API, failsafe included, only then.
	ready atomic.Bool
}

func runSchedule(t *testing.T, seed int64, kinds []string, steps int) {
	rng := rand.New(rand.NewSource(seed))
	n := 3
	if rng.Intn(4) == 0 {
		n = 5
	}
	h := &harness{t: t, seed: seed, rng: rng, n: n, paused: map[int]bool{}, delays: map[[2]int]time.Duration{}, veto: map[int]time.Time{},
		replay: fmt.Sprintf("NEMESIS_SEED=%d NEMESIS_KINDS=%s NEMESIS_STEPS=%d", seed, strings.Join(kinds, ","), steps)}
	for range n {
		h.clocks = append(h.clocks, &nodeClock{
			origin: time.Now(),
			offset: time.Duration(rng.Int63n(int64(2*time.Hour))) - time.Hour,
			rate:   1 + clockDrift*(2*rng.Float64()-1),
		})
	}
	h.w = newWorld(n, h.clocks)
	h.c = rafttest.NewWithOptions(t, n, rafttest.Options{Edit: func(i int, cfg *raftstore.Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = 300*time.Millisecond, 300*time.Millisecond
		cfg.LeaderLeaseTimeout, cfg.CommitTimeout = 150*time.Millisecond, 10*time.Millisecond
		cfg.Logger = rafttest.LoggerAt(t, fmt.Sprintf("raft%d", i), hclog.Error)
		cfg.WasMember = h.w.ranAMember(i) // as the agent sets it (agent.Run)
	}})
	h.agents = make([]*agentRun, n)
	t.Logf("seed %d: %d nodes, clock rates %v; replay: %s go test ./ha -run Nemesis -v", seed, n, h.rates(), h.replay)

	ttl := []int{3, 3, 5, 10}[rng.Intn(4)]
	h.dcs = map[string]any{"ttl": ttl, "loop_wait": 1, "retry_timeout": 1, "synchronous_mode": rng.Intn(2) == 0}
	if !h.setConfig(fmt.Sprintf("initial dynamic configuration %v", h.dcs)) {
		t.Fatal("could not store the initial dynamic configuration")
	}
	for i := range n {
		h.startAgent(i)
	}
	stop := h.startClients()
	defer h.teardown(stop)

	// Let the cluster bootstrap and a primary appear before the faults.
	h.waitPrimary(20 * time.Second)
	// Each step is one fault; when configuration kinds are enabled, half
	// the faults are preceded by a configuration change a few seconds
	// earlier, so changes and faults meet (a ttl lowered, then the primary
	// cut off: issue 6 item 1) as they would in a Jepsen run.
	var faults, changes []string
	for _, k := range kinds {
		if slices.Contains(configKinds, k) {
			changes = append(changes, k)
		} else {
			faults = append(faults, k)
		}
	}
	for s := range steps {
		if len(changes) > 0 && (len(faults) == 0 || rng.Intn(2) == 0) {
			kind := changes[rng.Intn(len(changes))]
			h.step(s, kind)
			h.check(fmt.Sprintf("after step %d (%s)", s, kind))
		}
		if len(faults) > 0 {
			kind := faults[rng.Intn(len(faults))]
			h.step(s, kind)
			h.check(fmt.Sprintf("after step %d (%s)", s, kind))
		}
	}
	h.healAll()
	final := h.waitPrimary(time.Duration(30+h.ttl()) * time.Second)
	stop()
	h.check("after healing")
	if final < 0 {
		h.fail("liveness: no single primary within %ds of healing everything; writable %v; Raft states:\n%s",
			30+h.ttl(), h.namesOf(h.w.writableNodes()), h.storeStates())
		return
	}
	if lost := h.w.lostCommits(final); len(lost) > 0 {
		h.fail("rule 2: %d synchronously acknowledged commits missing on the final primary %s:\n%s",
			len(lost), h.w.names[final], strings.Join(lost, "\n"))
	}
	acked, syncAcked := h.w.counts()
	t.Logf("seed %d: passed; final primary %s; %d commits acknowledged, %d synchronously; schedule:\n%s",
		seed, h.w.names[final], acked, syncAcked, strings.Join(h.log, "\n"))
}

// storeStates says what each node's replicated state holds, for a liveness
// report (which leader each believes in, at which applied index).
func (h *harness) storeStates() string {
	var b strings.Builder
	for i := range h.n {
		s := h.c.Store(i)
		if s == nil {
			fmt.Fprintf(&b, "%s: stopped\n", h.w.names[i])
			continue
		}
		st := s.State()
		epoch := uint64(0)
		if st.Leader != nil {
			epoch = st.Leader.Epoch
		}
		fmt.Fprintf(&b, "%s: applied %d, raft leader %v, key %q epoch %d at index %d, pending %+v\n",
			h.w.names[i], st.Index, s.IsLeader(), st.LeaderName(), epoch, st.LeaderIndex, st.Pending)
	}
	return b.String()
}

func (h *harness) rates() []string {
	var out []string
	for _, c := range h.clocks {
		out = append(out, fmt.Sprintf("%.4f", c.rate))
	}
	return out
}

func (h *harness) ttl() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dcs["ttl"].(int)
}

// fail reports a violation with everything needed to replay and read it.
func (h *harness) fail(format string, args ...any) {
	h.t.Helper()
	h.t.Errorf("seed %d (replay: %s go test ./ha -run Nemesis -v): %s\nschedule:\n%s\nevents (true clock):\n%s",
		h.seed, h.replay, fmt.Sprintf(format, args...), strings.Join(h.log, "\n"), h.w.eventLog())
}

// check asserts rule 1 on everything recorded so far.
func (h *harness) check(when string) {
	h.t.Helper()
	if o := h.w.overlaps(); len(o) > 0 {
		// Let the overlap run its course (up to 30 s), so the report
		// gives its whole length, not just the moment it was seen.
		end := time.Now().Add(30 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for time.Now().Before(end) && h.w.overlapOpen() {
			<-tick.C
		}
		h.fail("rule 1: two writable primaries %s:\n%s", when, strings.Join(h.w.overlaps(), "\n"))
		h.t.FailNow()
	}
}

func (h *harness) note(format string, args ...any) {
	line := h.w.since(time.Now()) + " " + fmt.Sprintf(format, args...)
	h.mu.Lock()
	h.log = append(h.log, line)
	h.mu.Unlock()
	h.w.mu.Lock()
	h.w.events = append(h.w.events, line)
	h.w.mu.Unlock()
}

// hold lets d pass on the true clock, checking rule 1 every 100 ms.
func (h *harness) hold(d time.Duration, when string) {
	h.t.Helper()
	end := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(end) {
		<-tick.C
		h.check(when)
	}
}

// --- agents ---

func (h *harness) startAgent(i int) {
	g := newGate()
	store := h.c.Store(i)
	name := h.w.names[i]
	loop := ha.New(ha.Config{
		Name:       name,
		Member:     fsm.Member{Host: "127.0.0.1", Port: 5432 + i, RaftAddr: h.c.Addr(i)},
		Clock:      gatedClock{g: g, c: h.clocks[i]},
		Logger:     rafttest.LoggerAt(h.t, name, hclog.Info),
		Watchdog:   watchdog{w: h.w, i: i, g: g},
		Peers:      peers{h: h, from: i, g: g},
		PrePromote: h.prePromote(i),
	}, gatedCluster{g: g, c: store}, simPG{w: h.w, i: i, g: g})
	ctx, cancel := context.WithCancel(context.Background())
	a := &agentRun{g: g, loop: loop, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		// As the agent does: no decision before a linearizable read.
		for ctx.Err() == nil {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := store.LinearizableState(rctx)
			rcancel()
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return
		}
		a.ready.Store(true)
		if err := loop.Run(ctx); err != nil {
			h.note("%s: agent stopped: %v", name, err)
		}
	}()
	h.mu.Lock()
	h.agents[i] = a
	h.mu.Unlock()
}

// killAgent is kill -9 of node i's agent: PostgreSQL and the watchdog stay.
func (h *harness) killAgent(i int) {
	h.mu.Lock()
	a := h.agents[i]
	h.agents[i] = nil
	delete(h.paused, i)
	h.mu.Unlock()
	if a == nil {
		return
	}
	a.g.kill()
	a.cancel()
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		h.t.Fatalf("agent of %s did not stop within 30s after being killed", h.w.names[i])
	}
}

func (h *harness) agent(i int) *agentRun {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents[i]
}

func (h *harness) teardown(stopClients func()) {
	stopClients()
	for i := range h.n {
		h.killAgent(i)
	}
	h.w.stopWatchdogs()
}

func (h *harness) startClients() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				h.w.tick(false)
				return
			case <-tick.C:
				h.w.tick(true)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// answer is the agent's POST /failsafe (api.acceptFailsafe): decided on
// a Raft read-index when agent j is in contact with a Raft leader, else on
// its local state; refused when that state names a member the sender did
// not ask.
func (p peers) answer(ctx context.Context, j int, a *agentRun, sender string, to []fsm.Member) error {
	store := p.h.c.Store(j)
	st := store.State()
	if store.InContact() {
		rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		var err error
		if st, err = store.LinearizableState(rctx); err != nil {
			return fmt.Errorf("no fresh read of the Raft state: %w", err)
		}
	}
	names := []string{sender}
	for _, m := range to {
		names = append(names, m.Name)
	}
	if name := st.MemberNotIn(names...); name != "" {
		return fmt.Errorf("%s did not ask member %s", sender, name)
	}
	return a.loop.FailsafeHeartbeat(sender, st)
}

// peers delivers failsafe heartbeats to the other agents over the
// simulated network; a paused, dead or cut-off agent does not answer.
type peers struct {
	h    *harness
	from int
	g    *gate
}

func (p peers) Failsafe(ctx context.Context, self fsm.Member, to []fsm.Member) error {
	if err := p.g.wait(); err != nil {
		return err
	}
	for _, m := range to {
		j := p.h.w.index(m.Name)
		if j < 0 {
			return fmt.Errorf("%s: unknown member", m.Name)
		}
		a := p.h.agent(j)
		if a == nil || !a.ready.Load() || a.g.paused() || !p.h.c.Net().Reachable(p.h.c.Addr(p.from), p.h.c.Addr(j)) {
			return fmt.Errorf("%s: no answer", m.Name)
		}
		errc := make(chan error, 1)
		go func() { errc <- p.answer(ctx, j, a, self.Name, to) }()
		select {
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", m.Name, ctx.Err())
		}
	}
	return nil
}
