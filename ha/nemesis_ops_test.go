package ha_test

// Operator steps in the fault suite: planned switchovers (the hand-over),
// manual failovers, restarts in place and pre_promote vetoes, so that they
// meet the faults of nemesis_steps_test.go (a switchover while a restart
// runs, a veto during a hand-over, a hand-over whose candidate is cut off
// after the key was released…). They are requested the way the REST API
// does (SetPending, Loop.Restart) but without the API's checks, so the HA
// loop's own checks are what is tested.

import (
	"context"
	"errors"
	"time"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
)

// StopForHandOver is a fast shutdown: every standby that streams from this
// node and is reachable gets the WAL up to and including the shutdown
// checkpoint record (a commit id no client ever sees), then the server
// stops. It returns where that record starts; it fails unless the last stop
// was clean, as pg_control would say.
func (s simPG) StopForHandOver(context.Context) (uint64, error) {
	var lsn uint64
	err := s.do("stopped cleanly for a hand-over", func(p *pgSim) error {
		w := s.w
		if p.running {
			if !p.inRecovery {
				w.nextID++
				p.wal = append(p.wal, w.nextID) // the shutdown checkpoint record
				for j, r := range w.pg {
					if j == s.i || !r.valid || !r.running || !r.inRecovery || r.following != w.names[s.i] || !w.reachable(s.i, j) {
						continue
					}
					if len(r.wal) <= len(p.wal) && equalPrefix(r.wal, p.wal) {
						r.wal = append(r.wal, p.wal[len(r.wal):]...)
						r.timeline = max(r.timeline, p.timeline)
					}
				}
			}
			p.running = false
			p.stops++
			p.pending = nil
			p.clean = true
		}
		if !p.clean || len(p.wal) == 0 {
			return errors.New("not shut down cleanly")
		}
		lsn = uint64(len(p.wal) - 1)
		if lsn == 0 {
			return errors.New("no WAL before the checkpoint")
		}
		return nil
	})
	return lsn, err
}

func equalPrefix(a, b []uint64) bool {
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// vetoes reports whether node i's pre_promote refuses now.
func (h *harness) vetoes(i int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Before(h.veto[i])
}

func (h *harness) prePromote(i int) func(context.Context) error {
	return func(context.Context) error {
		if h.vetoes(i) {
			h.note("%s: pre_promote vetoes", h.w.names[i])
			return errors.New("pre_promote vetoed")
		}
		return nil
	}
}

// propose proposes cmd through the first live Raft node that takes it.
func (h *harness) propose(cmd fsm.Command) error {
	var err error
	for i := range h.n {
		s := h.c.Store(i)
		if s == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = s.Propose(ctx, cmd)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

func (h *harness) other(i int) int {
	if h.n < 2 {
		return i
	}
	j := h.rng.Intn(h.n - 1)
	if j >= i {
		j++
	}
	return j
}

// opStep applies an operator kind; false if kind is none.
func (h *harness) opStep(s int, kind, when string) bool {
	switch kind {
	case "switchover", "veto":
		i := h.primary()
		cand := ""
		if kind == "veto" || h.rng.Intn(3) != 0 {
			cand = h.w.names[h.other(i)]
		}
		if kind == "veto" {
			c := h.w.index(cand)
			until := time.Now().Add(time.Duration(h.ttl())*time.Second + h.dur())
			h.mu.Lock()
			h.veto[c] = until
			h.mu.Unlock()
			h.note("step %d: pre_promote of %s vetoes until %s", s, cand, h.w.since(until))
		}
		p := fsm.Pending{Kind: "switchover", Leader: h.w.names[i], Candidate: cand, RequestedAt: time.Now().UTC()}
		if h.rng.Intn(3) == 0 {
			at := time.Now().Add(time.Duration(h.rng.Intn(3000)) * time.Millisecond).UTC()
			p.ScheduledAt = &at
		}
		err := h.propose(fsm.SetPending{Pending: p})
		h.note("step %d: switchover %s -> %q requested (scheduled %v): %v", s, p.Leader, cand, p.ScheduledAt != nil, err)
		h.hold(h.dur(), when)
	case "failover":
		i := h.primary()
		cand := h.w.names[h.other(i)]
		leader := ""
		if h.rng.Intn(2) == 0 {
			leader = h.w.names[i]
		}
		err := h.propose(fsm.SetPending{Pending: fsm.Pending{Kind: "failover", Leader: leader, Candidate: cand, RequestedAt: time.Now().UTC()}})
		h.note("step %d: failover (leader %q) to %s requested: %v", s, leader, cand, err)
		h.hold(h.dur(), when)
	case "restart":
		i := h.rng.Intn(h.n)
		if h.rng.Intn(2) == 0 {
			i = h.primary()
		}
		a := h.agent(i)
		if a == nil {
			return true
		}
		op := ha.Operation{}
		if h.rng.Intn(2) == 0 {
			op.Timeout = h.dur()
		}
		h.note("step %d: restart %s (timeout %v)", s, h.w.names[i], op.Timeout)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := a.loop.Restart(ctx, op)
			h.note("restart of %s answered: %v", h.w.names[i], err)
		}()
		h.hold(h.dur(), when)
	case "evict-rejoin":
		// leave NAME --evict, then the node joins again with its Raft data
		// gone: its agent stops (PostgreSQL kept, as after a crash), its
		// Raft server and member record are removed, and it comes back as
		// a non-voter that withholds its vote until caught up and is
		// promoted once it has.
		i := h.other(h.primary())
		name := h.w.names[i]
		h.note("step %d: evict %s (leave --evict), wipe its Raft data and let it join again", s, name)
		h.killAgent(i)
		err := h.removeServer(i)
		if err == nil {
			err = h.propose(fsm.RemoveMember{Name: name})
		}
		h.note("step %d: eviction of %s: %v", s, name, err)
		h.c.Wipe(i)
		h.startAgent(i)
		h.hold(h.dur(), when)
	default:
		return false
	}
	return true
}

// removeServer removes node i from the Raft configuration through the
// first other live node that gets it done.
func (h *harness) removeServer(i int) error {
	err := errors.New("no live node")
	for j := range h.n {
		s := h.c.Store(j)
		if j == i || s == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.Remove(ctx, h.c.Addr(i))
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}
