package ha

import (
	"sync"
	"time"
)

// Events receives what the loop did, for metrics (the agent passes the
// API's collectors). Calls come from the loop's and the lease guard's
// goroutines and must return at once: they only count. Nothing here feeds
// back into a decision, so no safety rule depends on it.
type Events interface {
	// TurnDone: one HA loop turn (observe, decide, execute, publish) took d.
	TurnDone(d time.Duration)
	// Promoted: this node promoted its PostgreSQL after taking the leader
	// key; kind is "switchover" when it carried out a switchover request
	// naming it, else "failover" (a lost leader, or a failover request).
	Promoted(kind string)
	// Fenced: this node stopped its PostgreSQL at once because it could be
	// writable without a trusted lease: once per fence event, however many
	// steps see it (fenceCount).
	Fenced()
}

type noEvents struct{}

func (noEvents) TurnDone(time.Duration) {}
func (noEvents) Promoted(string)        {}
func (noEvents) Fenced()                {}

// promotionKind names a promotion for Events.Promoted.
func promotionKind(o Observation) string {
	if p := o.State.Pending; p != nil && p.Kind == "switchover" && p.Candidate == o.Self {
		return "switchover"
	}
	return "failover"
}

// fenceCount makes one fence event count, and log, once.
//
// An event is keyed by the tenure that was fenced: the last one this node
// held (Lease.Tenure), which a dropped lease does not forget. The guard, a
// failed renewal, a start that came up without trust and a plan's fence
// may all see one lost lease, some before and some after the lease was
// dropped; keyed by the epoch each saw (the lease's current one, 0 once
// dropped), they counted it twice. An event ends when the loop sees
// PostgreSQL stopped: a fence after that is a new event, even of the same
// tenure (PostgreSQL came back writable).
type fenceCount struct {
	mu     sync.Mutex
	open   bool
	tenure uint64
}

// fenced reports a fence (reason: why PostgreSQL may be writable without
// trust) unless it belongs to the event reported last.
func (l *Loop) fenced(reason string) {
	tenure := l.lease.Tenure()
	l.fences.mu.Lock()
	dup := l.fences.open && l.fences.tenure == tenure
	l.fences.open, l.fences.tenure = true, tenure
	l.fences.mu.Unlock()
	if dup {
		return
	}
	l.log.Error("fencing PostgreSQL", "member", l.cfg.Name, "epoch", tenure, "reason", reason)
	l.cfg.Events.Fenced()
}

// fenceOver ends the current fence event: PostgreSQL was seen stopped.
func (l *Loop) fenceOver() {
	l.fences.mu.Lock()
	l.fences.open = false
	l.fences.mu.Unlock()
}
