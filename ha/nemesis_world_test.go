package ha_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// The fault suite's world: one true clock (this process's monotonic clock),
// a simulated PostgreSQL per node, the writers that commit on whoever is
// writable, and the record the checker reads. One lock (world.mu) guards all
// of it, so every transition has one place in a single history.
//
// A simulated PostgreSQL keeps running while its agent is paused or dead,
// as a real postmaster does under SIGSTOP or kill -9 of the agent; only its
// watchdog (armed by the agent with the trust deadline, counted on the true
// clock from the node's clock reading) or an explicit crash stops it.

var errDead = errors.New("agent is dead")

// span is one interval during which a node's PostgreSQL was writable.
type span struct {
	node     int
	from, to time.Time // to is zero while open
	why      string    // what opened it
	end      string    // what closed it
}

// ack is one commit a client saw acknowledged.
type ack struct {
	id   uint64
	node int
	at   time.Time
	sync bool // a standby named in synchronous_standby_names had it
}

type pending struct {
	id        uint64
	underSync bool // synchronous_standby_names was set when it was written
}

// pgSim is one node's simulated PostgreSQL (fields guarded by world.mu).
type pgSim struct {
	valid      bool
	running    bool
	inRecovery bool
	timeline   int
	wal        []uint64 // commit ids in order; the WAL position is len(wal)
	following  string
	streaming  bool
	syncNames  []string
	syncAny    bool
	pending    []pending
	stops      uint64        // fences, stops and crashes so far
	slowStart  time.Duration // how long a start takes (crash recovery)
	clean      bool          // the last stop was a clean (hand-over) shutdown: pg_control says "shut down"
	// watchdog: armed with a deadline on the true clock.
	wdGen   uint64
	wdTimer *time.Timer
	wdUntil time.Time // node clock reading it fires at
}

func (p *pgSim) writable() bool { return p.valid && p.running && !p.inRecovery }

type world struct {
	origin time.Time
	names  []string
	mu     sync.Mutex
	pg     []*pgSim
	clocks []*nodeClock
	spans  []*span
	open   []*span // per node, nil when not writable
	acks   []ack
	nextID uint64
	cut    map[[2]int]bool // PostgreSQL-level links cut (partitions only)
	events []string        // true-time log for failure reports
	syncOn []toggle        // synchronous_mode history
}

type toggle struct {
	at time.Time
	on bool
}

func newWorld(n int, clocks []*nodeClock) *world {
	w := &world{origin: time.Now(), cut: map[[2]int]bool{}, clocks: clocks}
	for i := range n {
		w.names = append(w.names, fmt.Sprintf("n%d", i))
		w.pg = append(w.pg, &pgSim{})
		w.open = append(w.open, nil)
	}
	return w
}

// ranAMember is what the agent tells Raft formation (raftstore.Config.
// WasMember): node i has a data directory, which only a member makes.
func (w *world) ranAMember(i int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pg[i].valid
}

func (w *world) since(t time.Time) string {
	return fmt.Sprintf("%.3fs", t.Sub(w.origin).Seconds())
}

// logf records an event at the current true time (w.mu held).
func (w *world) logf(format string, args ...any) {
	w.events = append(w.events, w.since(time.Now())+" "+fmt.Sprintf(format, args...))
}

func (w *world) index(name string) int { return slices.Index(w.names, name) }

func (w *world) reachable(a, b int) bool {
	if a > b {
		a, b = b, a
	}
	return !w.cut[[2]int{a, b}]
}

// transition applies f to node i's PostgreSQL and opens or closes its
// writable span at this instant (w.mu held).
func (w *world) transition(i int, why string, f func(p *pgSim)) {
	p := w.pg[i]
	before := p.writable()
	f(p)
	after := p.writable()
	now := time.Now()
	switch {
	case !before && after:
		s := &span{node: i, from: now, why: why}
		w.spans = append(w.spans, s)
		w.open[i] = s
		w.logf("%s writable (%s)", w.names[i], why)
	case before && !after:
		w.open[i].to, w.open[i].end = now, why
		w.open[i] = nil
		p.pending = nil // waiting commits fail with the server
		w.logf("%s not writable (%s)", w.names[i], why)
	}
}

// tick replicates WAL to standbys and writes and acknowledges commits.
func (w *world) tick(write bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, p := range w.pg {
		p.streaming = false
		if !p.valid || !p.running || !p.inRecovery || p.following == "" {
			continue
		}
		src := w.index(p.following)
		if src < 0 || src == i || !w.reachable(i, src) {
			continue
		}
		sp := w.pg[src]
		if !sp.valid || !sp.running || len(p.wal) > len(sp.wal) || !slices.Equal(p.wal, sp.wal[:len(p.wal)]) {
			continue // diverged or ahead: PostgreSQL refuses to stream
		}
		p.wal = append(p.wal, sp.wal[len(p.wal):]...)
		p.timeline = max(p.timeline, sp.timeline)
		p.streaming = true
	}
	for i, p := range w.pg {
		if !p.writable() {
			continue
		}
		if write {
			w.nextID++
			p.wal = append(p.wal, w.nextID)
			p.pending = append(p.pending, pending{id: w.nextID, underSync: len(p.syncNames) > 0 || p.syncAny})
		}
		var still []pending
		for _, c := range p.pending {
			switch ok, sync := w.acknowledged(i, c); {
			case ok:
				w.acks = append(w.acks, ack{id: c.id, node: i, at: time.Now(), sync: sync})
			case sync:
				still = append(still, c)
			}
		}
		p.pending = still
	}
}

// acknowledged says whether commit c on primary i returns to its client
// now, and whether that counts as a synchronous acknowledgement. A commit
// written under synchronous_standby_names that were emptied since is
// released with only a warning (FAULTS.md §4.8): not acknowledged.
func (w *world) acknowledged(i int, c pending) (ok, sync bool) {
	p := w.pg[i]
	has := func(j int) bool {
		s := w.pg[j]
		return s.valid && s.running && s.inRecovery && s.following == w.names[i] && w.reachable(i, j) && slices.Contains(s.wal, c.id)
	}
	switch {
	case len(p.syncNames) > 0:
		for _, name := range p.syncNames {
			if j := w.index(name); j < 0 || !has(j) {
				return false, true
			}
		}
		return true, true
	case p.syncAny:
		for j := range w.pg {
			if j != i && has(j) {
				return true, true
			}
		}
		return false, true
	case c.underSync:
		return false, false // released by emptying the list: dropped
	}
	return true, false
}

// overlaps returns every pair of writable spans of two nodes that overlap.
func (w *world) overlaps() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	end := func(s *span) time.Time {
		if s.to.IsZero() {
			return now
		}
		return s.to
	}
	var out []string
	for a, x := range w.spans {
		for _, y := range w.spans[a+1:] {
			if x.node == y.node {
				continue
			}
			from, to := maxTime(x.from, y.from), minTime(end(x), end(y))
			if from.Before(to) {
				out = append(out, fmt.Sprintf("%s writable %s–%s (%s, ended by %q) and %s writable %s–%s (%s, ended by %q) overlap for %v from %s",
					w.names[x.node], w.since(x.from), w.since(end(x)), x.why, x.end,
					w.names[y.node], w.since(y.from), w.since(end(y)), y.why, y.end,
					to.Sub(from).Round(time.Millisecond), w.since(from)))
			}
		}
	}
	return out
}

// overlapOpen tells whether two nodes are writable right now.
func (w *world) overlapOpen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	open := 0
	for _, s := range w.open {
		if s != nil {
			open++
		}
	}
	return open > 1
}

// lostCommits returns the synchronously acknowledged commits, made while
// synchronous mode stayed on until the end, that primary i lacks.
func (w *world) lostCommits(i int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, a := range w.acks {
		if !a.sync || !w.syncStayedOn(a.at) || slices.Contains(w.pg[i].wal, a.id) {
			continue
		}
		out = append(out, fmt.Sprintf("commit %d acknowledged by %s at %s", a.id, w.names[a.node], w.since(a.at)))
	}
	return out
}

func (w *world) syncStayedOn(t time.Time) bool {
	on := false
	for _, tg := range w.syncOn {
		if !tg.at.After(t) {
			on = tg.on
		} else if !tg.on {
			return false
		}
	}
	return on
}

func (w *world) counts() (acked, syncAcked int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.acks {
		acked++
		if a.sync {
			syncAcked++
		}
	}
	return
}

func (w *world) writableNodes() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []int
	for i, p := range w.pg {
		if p.writable() {
			out = append(out, i)
		}
	}
	return out
}

func (w *world) crashPG(i int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.disarmLocked(i)
	w.transition(i, "crashed", func(p *pgSim) { p.running = false; p.stops++ })
}

// killPostmaster is kill -9 of node i's postmaster alone (the agent and the
// watchdog live on); its next start replays WAL for slow.
func (w *world) killPostmaster(i int, slow time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pg[i].slowStart = slow
	w.transition(i, "postmaster killed", func(p *pgSim) { p.running = false; p.stops++ })
}

func (w *world) setSlowStart(i int, slow time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pg[i].slowStart = slow
}

func (w *world) eventLog() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.events, "\n")
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
