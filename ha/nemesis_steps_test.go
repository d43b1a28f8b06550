package ha_test

// The nemesis: the fault kinds of the suite (nemesis_test.go) and how each is
// applied and undone.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// --- the nemesis ---

func (h *harness) primary() int {
	if w := h.w.writableNodes(); len(w) > 0 {
		return w[h.rng.Intn(len(w))]
	}
	for i := range h.n {
		if s := h.c.Store(i); s != nil {
			if name := s.State().LeaderName(); name != "" {
				return h.w.index(name)
			}
		}
	}
	return h.rng.Intn(h.n)
}

func (h *harness) raftLeader() int {
	for i := range h.n {
		if s := h.c.Store(i); s != nil && s.IsLeader() {
			return i
		}
	}
	return h.rng.Intn(h.n)
}

// dur draws a fault duration: often shorter than ttl, often longer (at
// most 12 s, to keep schedules short).
func (h *harness) dur() time.Duration {
	ttl := time.Duration(h.ttl()) * time.Second
	return time.Duration(h.rng.Int63n(int64(min(2*ttl, 12*time.Second)))) + 500*time.Millisecond
}

// settle draws the pause after a configuration change: 0.3 to 3 s.
func (h *harness) settle() time.Duration {
	return 300*time.Millisecond + time.Duration(h.rng.Int63n(int64(2700*time.Millisecond)))
}

func (h *harness) step(s int, kind string) {
	h.t.Helper()
	when := fmt.Sprintf("during step %d (%s)", s, kind)
	switch kind {
	case "partition-primary", "partition-leader", "partition-minority":
		var minority []int
		switch kind {
		case "partition-primary":
			minority = []int{h.primary()}
		case "partition-leader":
			minority = []int{h.raftLeader()}
		default:
			perm := h.rng.Perm(h.n)
			minority = perm[:1+h.rng.Intn((h.n-1)/2)]
		}
		var rest []int
		for i := range h.n {
			if !slices.Contains(minority, i) {
				rest = append(rest, i)
			}
		}
		d := h.dur()
		h.note("step %d: partition %v | %v for %v", s, h.namesOf(minority), h.namesOf(rest), d)
		h.setNet(func() { h.groups = [][]int{minority, rest} })
		h.hold(d, when)
		h.note("step %d: heal", s)
		h.setNet(func() { h.groups = nil })
	case "pause-primary", "pause":
		i := h.rng.Intn(h.n)
		if kind == "pause-primary" {
			i = h.primary()
		}
		a := h.agent(i)
		if a == nil {
			return
		}
		d := h.dur()
		h.note("step %d: pause agent of %s for %v", s, h.w.names[i], d)
		a.g.pause()
		h.setNet(func() { h.paused[i] = true })
		h.hold(d, when)
		h.note("step %d: resume %s", s, h.w.names[i])
		h.setNet(func() { delete(h.paused, i) })
		a.g.resume()
	case "crash-agent", "crash-node":
		i := h.rng.Intn(h.n)
		if h.rng.Intn(2) == 0 {
			i = h.primary()
		}
		d := h.dur()
		h.note("step %d: %s %s for %v", s, kind, h.w.names[i], d)
		h.killAgent(i)
		if kind == "crash-node" {
			h.w.crashPG(i)
		}
		h.c.Stop(i)
		h.hold(d, when)
		h.note("step %d: restart %s", s, h.w.names[i])
		h.c.Restart(i)
		h.startAgent(i)
	case "wipe":
		i := h.rng.Intn(h.n)
		h.note("step %d: wipe the Raft data of %s (agent killed, PostgreSQL kept) and restart it", s, h.w.names[i])
		h.killAgent(i)
		h.c.Wipe(i)
		h.startAgent(i)
		h.hold(h.dur(), when)
	case "slow-recovery":
		i := h.primary()
		slow := h.dur()
		h.note("step %d: kill -9 the postmaster of %s; its next start takes %v (crash recovery)", s, h.w.names[i], slow)
		h.w.killPostmaster(i, slow)
		h.hold(slow+time.Duration(h.ttl())*time.Second+time.Second, when)
		h.w.setSlowStart(i, 0)
		h.note("step %d: starts of %s are fast again", s, h.w.names[i])
	case "clock-jump-primary":
		// Forward only, and only on the holder: a monotonic clock never
		// goes back, and a jump makes the holder stop trusting earlier.
		// A forward jump on another node shortens the lease it waits out;
		// that is not a fault this design claims to survive (issue 6
		// item 5 covers a clock that stops instead).
		i := h.primary()
		d := time.Duration(200+h.rng.Intn(4800)) * time.Millisecond
		h.note("step %d: the clock of %s jumps forward by %v", s, h.w.names[i], d)
		h.w.jumpClock(i, d)
		h.hold(h.dur(), when)
	case "loss":
		p := 0.05 + 0.25*h.rng.Float64()
		d := h.dur()
		h.note("step %d: lose %.0f%% of writes on every link for %v", s, 100*p, d)
		h.setNet(func() { h.loss = p })
		h.hold(d, when)
		h.note("step %d: no loss", s)
		h.setNet(func() { h.loss = 0 })
	case "delay":
		d := h.dur()
		delays := map[[2]int]time.Duration{}
		for a := range h.n {
			for b := range h.n {
				if a != b && h.rng.Intn(2) == 0 {
					delays[[2]int{a, b}] = time.Duration(10+h.rng.Intn(190)) * time.Millisecond
				}
			}
		}
		h.note("step %d: delay %d links by 10-200ms for %v", s, len(delays), d)
		h.setNet(func() { h.delays = delays })
		h.hold(d, when)
		h.note("step %d: no delay", s)
		h.setNet(func() { h.delays = map[[2]int]time.Duration{} })
	case "ttl":
		ttl := []int{3, 4, 5, 10}[h.rng.Intn(4)]
		h.changeConfig(s, "ttl", ttl)
		h.hold(h.settle(), when)
	case "loop-wait":
		h.mu.Lock()
		maxLW := h.dcs["ttl"].(int) - 2*h.dcs["retry_timeout"].(int)
		h.mu.Unlock()
		h.changeConfig(s, "loop_wait", 1+h.rng.Intn(max(1, min(maxLW, 3))))
		h.hold(h.settle(), when)
	case "sync":
		h.mu.Lock()
		on := !h.dcs["synchronous_mode"].(bool)
		h.mu.Unlock()
		h.changeConfig(s, "synchronous_mode", on)
		h.hold(h.settle(), when)
	case "failsafe":
		h.mu.Lock()
		on, _ := h.dcs["failsafe_mode"].(bool)
		h.mu.Unlock()
		h.changeConfig(s, "failsafe_mode", !on)
		h.hold(h.settle(), when)
	default:
		if !h.opStep(s, kind, when) {
			h.t.Fatalf("unknown fault kind %q", kind)
		}
	}
}

func (h *harness) namesOf(nodes []int) []string {
	var out []string
	for _, i := range nodes {
		out = append(out, h.w.names[i])
	}
	return out
}

// setNet changes the nemesis's network state and applies all of it: Raft
// links are cut by partitions and around paused agents (a stopped process
// answers nobody); PostgreSQL links only by partitions.
func (h *harness) setNet(change func()) {
	h.mu.Lock()
	change()
	net := h.c.Net()
	net.Heal()
	cut := map[[2]int]bool{}
	var groups [][]string
	for _, g := range h.groups {
		var addrs []string
		for _, i := range g {
			addrs = append(addrs, h.c.Addr(i))
		}
		groups = append(groups, addrs)
	}
	for gi, g := range h.groups {
		for _, other := range h.groups[gi+1:] {
			for _, a := range g {
				for _, b := range other {
					cut[[2]int{min(a, b), max(a, b)}] = true
				}
			}
		}
	}
	if len(groups) > 0 {
		net.Partition(groups...)
	}
	for i := range h.paused {
		net.Isolate(h.c.Addr(i))
	}
	if h.loss > 0 {
		net.SetLoss(h.loss, h.rng.Int63())
	}
	for k, d := range h.delays {
		net.SetDelay(h.c.Addr(k[0]), h.c.Addr(k[1]), d)
	}
	h.mu.Unlock()
	h.w.mu.Lock()
	h.w.cut = cut
	h.w.mu.Unlock()
}

// changeConfig sets one dynamic configuration key, keeping the rest, as
// PATCH /config does.
func (h *harness) changeConfig(s int, key string, v any) {
	h.mu.Lock()
	old := h.dcs[key]
	h.dcs[key] = v
	h.mu.Unlock()
	if !h.setConfig(fmt.Sprintf("step %d: set %s %v", s, key, v)) {
		h.mu.Lock()
		h.dcs[key] = old
		h.mu.Unlock()
	}
}

// setConfig stores the whole dynamic configuration through any running
// node; it reports whether that committed.
func (h *harness) setConfig(what string) bool {
	h.mu.Lock()
	doc := map[string]any{}
	for k, v := range h.dcs {
		doc[k] = v
	}
	h.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for i := range h.n {
			s := h.c.Store(i)
			if s == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := s.Propose(ctx, fsm.SetConfig{Config: doc})
			cancel()
			if err == nil {
				at := time.Now()
				h.note("%s: committed", what)
				h.w.mu.Lock()
				h.w.syncOn = append(h.w.syncOn, toggle{at: at, on: doc["synchronous_mode"] == true})
				h.w.mu.Unlock()
				return true
			}
			if errors.Is(err, fsm.ErrInvalidConfig) {
				h.note("%s: refused: %v", what, err)
				return false
			}
		}
	}
	h.note("%s: not committed within 5s", what)
	return false
}

// healAll ends every fault: links healed, agents resumed, dead ones restarted.
func (h *harness) healAll() {
	h.note("heal everything")
	h.mu.Lock()
	var resume []*gate
	for i := range h.paused {
		if a := h.agents[i]; a != nil {
			resume = append(resume, a.g)
		}
	}
	h.mu.Unlock()
	h.setNet(func() {
		h.groups, h.paused, h.loss, h.delays = nil, map[int]bool{}, 0, map[[2]int]time.Duration{}
	})
	for _, g := range resume {
		g.resume()
	}
	for i := range h.n {
		if h.agent(i) == nil {
			h.c.Restart(i)
			h.startAgent(i)
		}
	}
}

// waitPrimary waits until exactly one PostgreSQL is writable and the leader
// key names it on every running node, checking rule 1 meanwhile; -1 when
// that did not happen within d.
func (h *harness) waitPrimary(d time.Duration) int {
	h.t.Helper()
	end := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(end) {
		<-tick.C
		h.check("while waiting for a primary")
		w := h.w.writableNodes()
		if len(w) != 1 {
			continue
		}
		agree := true
		for i := range h.n {
			if s := h.c.Store(i); s == nil || s.State().LeaderName() != h.w.names[w[0]] {
				agree = false
			}
		}
		if agree {
			return w[0]
		}
	}
	return -1
}
