package ha

import (
	"github.com/conclave-ha/conclave/fsm"

	"fmt"
	"strings"
	"time"
)

// Rebuilding the state after Raft data was lost, restored or forgotten
// (DESIGN.md, "Rebuilding the Raft state"). The initialize key is unset but
// the members' data directories are PostgreSQL's truth: their system
// identifier, which of them holds a primary's data, their timelines and WAL
// positions. A running primary is taken over as it runs (takeover.go). A
// stopped primary's data, which is what every agent leaves behind when it
// stops, is resumed in place, without a rewind, by decideResume.
//
// Why this cannot make two primaries or lose a synchronous commit:
//   - Only a member whose own data is a primary's (not in recovery) may seed;
//     a standby never does, whatever its position. In synchronous mode the
//     former primary is therefore the only member that may take the key,
//     and it has every commit it acknowledged.
//   - It seeds only when every Raft server (voter or non-voter) has reported since the state was
//     emptied, none reports a running primary of this system, and none
//     reports a later timeline or, on its timeline, more WAL: a primary
//     whose replica was promoted later (an older fork) waits, the newer one
//     seeds.
//   - The seed is a claim on the initialize key (a compare-and-swap in the
//     FSM), so two stopped primaries cannot both seed; the loser follows
//     the winner under the usual rules (rewind or re-clone, rule 4).
//   - It waits a full ttl after it first saw the unset key before seeding,
//     so a primary still writable under a lease of the lost state (its
//     agent hung, its watchdog not fired yet) has fenced itself first: the
//     holder never trusts a lease longer than ttl after its last renewal,
//     and that renewal was sent before this node observed the new state.
//   - It then takes the key with the usual compare-and-swap and starts its
//     PostgreSQL as primary in place (decideTakeover, decideHolder): the
//     same timeline, no promotion, so the replicas keep streaming from it.

// decideBootstrap runs for a member without data while the cluster is not
// initialized. A first formation and an emptied state look the same from
// here; only the members' data tells them apart. So a member without data
// initializes (initdb, or bootstrap.method such as a backup restore) only
// once every Raft server (voter or non-voter) has reported since the state was emptied and none
// reports data: while one does, that data is the cluster's and seeds it
// (decideSeed); a standby's data never seeds, and then the operator
// decides. Before, the member without data claimed the key at its first
// turn, ahead of the former primary's full-ttl wait: a new empty cluster,
// or, from a backup of this cluster (same system identifier, later
// timeline), a primary the former one was then rewound onto, losing every
// commit the backup lacked (rules 2 and 3).
func decideBootstrap(o Observation) Plan {
	if held := membersWithData(o); len(held) > 0 {
		return plan(fmt.Sprintf("cluster not initialized, but %s reported a data directory: waiting for that data to seed the cluster "+
			"(a member without data never initializes over existing data; if only standbys' data is left, promote one by hand)",
			strings.Join(held, ", ")))
	}
	if missing := unreported(o); len(missing) > 0 {
		return plan(fmt.Sprintf("cluster not initialized: waiting for the agents at %s to report before bootstrapping (their data, if any, is the cluster's)",
			strings.Join(missing, ", ")))
	}
	return plan("cluster not initialized: bootstrapping", act(ActBootstrap))
}

// membersWithData lists the other members whose last report names a
// PostgreSQL system identifier (their data directory holds a cluster).
func membersWithData(o Observation) []string {
	var out []string
	for _, name := range o.State.MemberNames() {
		if name != o.Self && o.State.Members[name].SystemID != "" {
			out = append(out, name)
		}
	}
	return out
}

// decideResume runs for a stopped primary's data while the cluster is not
// initialized.
func decideResume(o Observation) Plan {
	if live, silent := otherPrimaries(o); len(live)+len(silent) > 0 {
		return plan(fmt.Sprintf("cluster not initialized; local data is a stopped primary, but %s reported a running primary: waiting",
			strings.Join(append(live, silent...), ", ")))
	}
	if missing := unreported(o); len(missing) > 0 {
		return plan(fmt.Sprintf("cluster not initialized; local data is a stopped primary: waiting for the agents at %s to report before resuming it",
			strings.Join(missing, ", ")))
	}
	if ahead := membersAhead(o); len(ahead) > 0 {
		return plan(fmt.Sprintf("cluster not initialized; local data is a stopped primary, but %s reported a later timeline or more WAL: not resuming an older history",
			strings.Join(ahead, ", ")))
	}
	ttl := time.Duration(o.Config.TTL) * time.Second
	if o.KeyChangedAt.IsZero() || o.Now.Sub(o.KeyChangedAt) < ttl {
		return plan(fmt.Sprintf("cluster not initialized; local data is a stopped primary: waiting a full ttl (%s) before resuming it", ttl))
	}
	return plan("cluster not initialized: resuming the stopped primary (system identifier "+o.PG.SystemID+") in place", act(ActAdoptData))
}

// membersAhead lists the other members of this system whose last report is
// on a later timeline, or, stopped too, on the same timeline with a later
// checkpoint. A stopped server's position is its last checkpoint (from
// pg_control), so only stopped members compare like with like: a running
// standby has received the end of this primary's shutdown checkpoint
// record, past its start, without holding any WAL of the timeline that
// this primary, its writer, lacks.
func membersAhead(o Observation) []string {
	var out []string
	for _, name := range o.State.MemberNames() {
		m := o.State.Members[name]
		if name == o.Self || m.SystemID != o.PG.SystemID {
			continue
		}
		if m.Timeline > o.PG.Timeline || m.Timeline == o.PG.Timeline && m.State == "stopped" && m.WALPosition > o.PG.WALPosition {
			out = append(out, name)
		}
	}
	return out
}

// LeaderLeaseTrusted reports whether st names a leader whose lease this
// node cannot prove ended: held here, or not yet a full ttl since this
// node saw its last renewal. `conclave remove` is refused then.
func (l *Loop) LeaderLeaseTrusted(st fsm.State) bool {
	if st.Leader == nil {
		return false
	}
	v := l.lease.View(st, l.cfg.Name, l.cfg.Clock.Now())
	return v.Held || !v.Expired
}
