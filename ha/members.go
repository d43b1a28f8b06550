package ha

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Rule 6: what we show is true. And a member that is gone must not pin
// WAL on the primary forever.
//
// Every agent publishes its member record each loop turn. Whether a member
// still reports is measured on the observing node's monotonic clock: Lease
// notes when each member's record last changed as seen here (UpdatedIndex
// moves at every report), so wall clocks of different hosts are never
// compared. From that silence:
//
//   - silent longer than ttl: shown as stopped with unknown lag in /cluster,
//     `list` and the per-member metrics (api), at most ttl after its last
//     report reached this node, so within ttl + loop_wait of its death;
//   - silent longer than member_slots_ttl (and than ttl): the primary drops
//     its replication slot (0 drops it as soon as the member counts as gone);
//   - silent longer than memberGrace: the leader key holder removes it from
//     the member list with RemoveStaleMember, a compare-and-swap on the
//     report it judged stale, so a member that came back meanwhile stays.
//     Apply never removes the key holder or a recorded synchronous standby.
//
// Slots and removal are decided only by the holder of a trusted lease: it
// is the one primary, and it observed the members while it was a replica
// too. A new primary that did not observe a member counts its silence from
// its own first observation, which only keeps a slot longer.

// minGraceTTLs is the floor of memberGrace in ttls: a restarting agent
// (seconds) or a short network cut never makes its member leave the list.
const minGraceTTLs = 10

// memberGrace is how long a member may be silent before it leaves the
// list: member_slots_ttl (so its slot, kept as long, leaves with it), and
// at least 10 ttl (30 s with the defaults).
func memberGrace(c fsm.DynamicConfig) time.Duration {
	return max(c.MemberSlotsTTL, minGraceTTLs*time.Duration(c.TTL)*time.Second)
}

// silence returns, per member, how long ago its record last changed as
// observed here.
func (l *Lease) silence(now time.Time) map[string]time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]time.Duration, len(l.members))
	for name, seen := range l.members {
		out[name] = now.Sub(seen.at)
	}
	return out
}

// MemberSilence returns how long each member has not reported, measured on
// this node's monotonic clock (for the API: rule 6).
func (l *Loop) MemberSilence() map[string]time.Duration {
	return l.lease.silence(l.cfg.Clock.Now())
}

// slotMembers lists the members whose slots the primary keeps: every other
// member that reported within member_slots_ttl, or within ttl (still live).
// A member not observed yet counts as live. A witness gets none.
func slotMembers(o Observation) []string {
	ttl := time.Duration(o.Config.TTL) * time.Second
	var out []string
	for _, name := range o.State.MemberNames() {
		s, known := o.MemberSilence[name]
		if o.State.Members[name].Role == fsm.RoleWitness {
			continue // no PostgreSQL, nothing to stream
		}
		if name != o.Self && (!known || s < ttl || s <= o.Config.MemberSlotsTTL) {
			out = append(out, name)
		}
	}
	return out
}

// staleRemovals proposes the removal of members silent for longer than
// memberGrace, each against the report it judged stale.
func staleRemovals(o Observation) []Action {
	grace := memberGrace(o.Config)
	var out []Action
	for _, name := range o.State.MemberNames() {
		s, known := o.MemberSilence[name]
		if name == o.Self || !known || s <= grace || o.State.IsSync(name) {
			continue
		}
		out = append(out, Action{Kind: ActRemoveStaleMember, Target: fsm.Member{Name: name},
			ExpectIndex: o.State.Members[name].UpdatedIndex})
	}
	return out
}

// removeStaleMember proposes the removal; a member that reported since is
// kept (the compare-and-swap fails) and that is not an error.
func (l *Loop) removeStaleMember(ctx context.Context, o Observation, a Action) error {
	_, err := l.propose(ctx, o, fsm.RemoveStaleMember{Name: a.Target.Name, ExpectIndex: a.ExpectIndex})
	switch {
	case err == nil:
		l.log.Info("removed a member that stopped reporting", "node", a.Target.Name, "grace", memberGrace(o.Config))
		return nil
	case errors.Is(err, fsm.ErrMemberChanged), errors.Is(err, fsm.ErrInvalidCommand):
		l.log.Debug("member not removed", "node", a.Target.Name, "error", err)
		return nil
	}
	return err
}

// syncSlots keeps a physical slot for every member of a.Names (slotMembers)
// and for the permanent slots of the dynamic configuration; the others are
// dropped once inactive.
func (l *Loop) syncSlots(ctx context.Context, o Observation, a Action) error {
	var permanent []string
	for name, slot := range o.Config.Slots {
		if slot.Type == "" || slot.Type == "physical" {
			permanent = append(permanent, name)
		}
	}
	sort.Strings(permanent)
	err := l.pg.SyncSlots(ctx, a.Names, permanent)
	if err == nil {
		l.slotsMade = append([]string(nil), a.Names...) // published: a standby taken over waits for its slot
	}
	return err
}

// reports tells the members whose report changed since this agent started
// from those whose record may be hours old. Silence is counted from the
// first observation (Lease.Observe), which makes a member dead long before
// the restart look live for up to ttl; for display only (rule 6), such a
// member counts as gone until its record changes once. Elections, slots and
// removals keep using the silence as measured (LiveMembers, MemberSilence).
//
// This node's own record is no exception: until its first publish it is
// what the agent last published before it stopped (a replica restarted after
// a Raft data wipe was shown streaming while its PostgreSQL was still down).
// The records are noted when the loop is made (New), before the API answers:
// noted only at the first turn, every record would count as confirmed until
// that turn's observation.
type reports struct {
	mu        sync.Mutex
	started   bool
	first     map[string]uint64 // UpdatedIndex at the first observation after start
	confirmed map[string]bool   // reported since start
}

func (r *reports) observe(st fsm.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first == nil {
		r.first, r.confirmed = map[string]uint64{}, map[string]bool{}
	}
	for name, m := range st.Members {
		idx, ok := r.first[name]
		switch {
		case !ok:
			r.first[name] = m.UpdatedIndex
			// Listed only after start: its record is new.
			r.confirmed[name] = r.started
		case idx != m.UpdatedIndex:
			r.confirmed[name] = true
		}
	}
	for name := range r.first {
		if _, ok := st.Members[name]; !ok {
			delete(r.first, name)
			delete(r.confirmed, name)
		}
	}
	r.started = true
}

// unconfirmed lists the members that have not reported since start.
func (r *reports) unconfirmed() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for name := range r.first {
		if !r.confirmed[name] {
			out[name] = true
		}
	}
	return out
}

// UnconfirmedMembers lists the members that have not reported since this
// agent started (for the API: shown stopped, rule 6).
func (l *Loop) UnconfirmedMembers() map[string]bool {
	return l.reports.unconfirmed()
}

// MemberWatch is rule 6's view of the members for an agent that runs no
// Loop (a witness, whose /cluster and metrics must not show a dead member
// as it last published either): each member's silence on this node's
// monotonic clock, and which members have not reported since it was made.
type MemberWatch struct {
	lease   *Lease
	reports reports
}

// NewMemberWatch notes the records as the agent starts (st, at now).
func NewMemberWatch(st fsm.State, now time.Time) *MemberWatch {
	w := &MemberWatch{lease: NewLease(0)}
	w.Observe(st, now)
	return w
}

// Observe notes st as applied here at now; call it at every change.
func (w *MemberWatch) Observe(st fsm.State, now time.Time) {
	w.lease.Observe(st, now)
	w.reports.observe(st)
}

// Silence is how long each member has not reported as of now.
func (w *MemberWatch) Silence(now time.Time) map[string]time.Duration { return w.lease.silence(now) }

// Unconfirmed lists the members that have not reported since the watch was made.
func (w *MemberWatch) Unconfirmed() map[string]bool { return w.reports.unconfirmed() }

// reportSilence is how long ago member name's report at index was first
// observed here; false when this node has not observed that report (a
// newer one than it measured, or none at all).
func (l *Lease) reportSilence(name string, index uint64, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen, ok := l.members[name]
	if !ok || seen.index != index {
		return 0, false
	}
	return now.Sub(seen.at), true
}

// ReportSilence is how long member name has been silent since its report
// at index, measured here (rule 6); false when this node has not observed
// that report yet, as for a state read from the leader a moment before
// the loop's watch notes it: the report is then newer than any silence
// measured here.
func (l *Loop) ReportSilence(name string, index uint64) (time.Duration, bool) {
	return l.lease.reportSilence(name, index, l.cfg.Clock.Now())
}
