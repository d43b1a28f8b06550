package ha

import (
	"fmt"

	"github.com/conclave-ha/conclave/fsm"
)

// ineligible says why this node may not take the leader key ("" = it may).
func ineligible(o Observation) string {
	if o.Tags.NoFailover {
		return "tag nofailover is set"
	}
	if o.PromoteBackoff {
		return "pre_promote vetoed this node's promotion; backing off for a ttl"
	}
	// Rule 2: in synchronous mode only a recorded synchronous standby may be
	// promoted, so no acknowledged commit is lost. The previous leader itself
	// is also fine: it has every commit it acknowledged. A set no tenure
	// ever recorded (Sync.Leader "": synchronous_mode switched on while no
	// leader ran it) protects no commit, and the FSM accepts any member then
	// (applyAcquireLeader); refusing everyone left the cluster without a
	// primary for good.
	if o.Config.SynchronousMode && o.State.Sync.Leader != "" && !o.State.IsSync(o.Self) && o.State.Sync.Leader != o.Self {
		return "synchronous mode and not a recorded synchronous standby"
	}
	if ref := referencePosition(o); ref > o.PG.WALPosition {
		if lag := ref - o.PG.WALPosition; o.Config.MaximumLagOnFailover >= 0 && lag > uint64(o.Config.MaximumLagOnFailover) {
			return fmt.Sprintf("lag %d bytes exceeds maximum_lag_on_failover %d", lag, o.Config.MaximumLagOnFailover)
		}
	}
	return ""
}

// referencePosition is the last WAL position the old leader reported, or,
// without one, the highest any member reported.
func referencePosition(o Observation) uint64 {
	if l := o.State.Leader; l != nil {
		if m, ok := o.State.Members[l.Member]; ok && m.WALPosition > 0 {
			return m.WALPosition
		}
	}
	var best uint64
	for _, m := range o.State.Members {
		if m.WALPosition > best {
			best = m.WALPosition
		}
	}
	return best
}

// betterCandidate returns a live, eligible member that should win before
// this one, or "". Order: higher timeline, then higher WAL position, then
// higher failover_priority, then lower name (deterministic tie-break).
func betterCandidate(o Observation) string {
	self := candidate{name: o.Self, timeline: o.PG.Timeline, pos: o.PG.WALPosition, priority: o.Tags.FailoverPriority}
	oldLeader := o.State.LeaderName()
	for _, name := range o.State.MemberNames() {
		m := o.State.Members[name]
		if name == o.Self || name == oldLeader || !o.LiveMembers[name] {
			continue
		}
		if m.State != "running" && m.State != "streaming" || m.Tag("nofailover") {
			continue
		}
		if o.Config.SynchronousMode && o.State.Sync.Leader != "" && !o.State.IsSync(name) {
			continue
		}
		other := candidate{name: name, timeline: m.Timeline, pos: m.WALPosition, priority: tagInt(m, "failover_priority")}
		if other.beats(self) {
			return name
		}
	}
	return ""
}

type candidate struct {
	name     string
	timeline int
	pos      uint64
	priority int
}

func (c candidate) beats(o candidate) bool {
	if c.timeline != o.timeline {
		return c.timeline > o.timeline
	}
	if c.pos != o.pos {
		return c.pos > o.pos
	}
	if c.priority != o.priority {
		return c.priority > o.priority
	}
	return c.name < o.name
}

func tagInt(m fsm.Member, key string) int {
	switch v := m.Tags[key].(type) {
	case float64:
		return int(v)
	case int:
		return v
	}
	return 0
}
