package ha

import (
	"context"
	"fmt"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Switchover and manual failover (Pending in the state, set over REST).
//
// Planned switchover (and a manual failover while the leader runs): the
// holder stops PostgreSQL cleanly (fast shutdown: its walsenders send every
// record up to the shutdown checkpoint and wait for the standbys to confirm
// it), reads the shutdown checkpoint's LSN from pg_control, and releases the
// key with HandOver naming the candidate and that LSN. It then starts as a
// standby of the candidate: a primary shut down cleanly before the
// candidate promoted has nothing the candidate lacks, so it follows the new
// timeline without pg_rewind. The candidate takes the key (the usual
// compare-and-swap) once its own WAL position passed the checkpoint's LSN,
// and promotes. Everyone else holds back for one ttl after the hand-over so
// that only the candidate takes the key; after that the election is the
// usual one (the candidate died, or never got the WAL).
//
// Manual failover without a leader (the key free or expired: never sooner,
// rule 1's wait is not shortened): the named candidate takes the key if it
// may (ineligible: nofailover, lag, rule 2 in synchronous mode), the others
// hold back while it reports. Also while paused, as Patroni does.
//
// The safety argument is in DESIGN.md, "Switchover and manual failover".

// HandOverStopper is implemented by a Postgres that can stop for a
// hand-over: a clean (fast) shutdown, returning the LSN at which the
// shutdown checkpoint record starts. It fails when the shutdown was not
// clean (pg_control not "shut down"), so nothing is handed over then.
type HandOverStopper interface {
	StopForHandOver(ctx context.Context) (checkpointLSN uint64, err error)
}

// handOverRecheck is how soon a candidate waiting for the old primary's
// last WAL looks again.
const handOverRecheck = 50 * time.Millisecond

// decidePending returns a plan when a pending switchover or failover
// decides this turn.
func decidePending(o Observation) (Plan, bool) {
	p := o.State.Pending
	if p == nil || o.PG.DataDir != DataDirValid || o.State.SystemID() == "" {
		return Plan{}, false
	}
	switch {
	case o.Lease.Held:
		return decidePendingHolder(o, p)
	case handOverOpen(o.State):
		return decideHandedOver(o, p)
	case p.Kind == "failover" && p.Candidate != "" && !p.HandedOver() && (o.State.Leader == nil || o.Lease.Expired) &&
		o.State.LeaderIndex != 0:
		// Never while nobody has taken the key yet: during a takeover the
		// running primary is writable with no lease, so a promoted
		// candidate would be a second writable primary (takeover.go).
		return decideManualFailover(o, p)
	}
	return Plan{}, false
}

// decidePendingHolder: the key holder carries the request out, or clears
// one that is done, not for it, or failed.
func decidePendingHolder(o Observation, p *fsm.Pending) (Plan, bool) {
	if !o.PG.Running || o.PG.InRecovery || !o.Lease.Valid {
		return Plan{}, false // the holder's own steps first (promote, recover, renew)
	}
	clear := func(why string) (Plan, bool) {
		return plan(why, act(ActRenew), act(ActClearPending)), true
	}
	switch {
	case p.HandedOver() || p.Candidate == o.Self:
		return clear(fmt.Sprintf("%s to this node done: clearing the request", p.Kind))
	case p.Leader != "" && p.Leader != o.Self:
		return clear(fmt.Sprintf("%s requested from %s but this node holds the key: cancelling it", p.Kind, p.Leader))
	case o.PendingFailed:
		return clear(fmt.Sprintf("%s failed: cancelling it; this node stays the leader", p.Kind))
	case !p.Due(o.Now.UnixNano()):
		return Plan{}, false
	case o.Config.Pause && p.Kind == "switchover":
		return clear("switchover not carried out while paused (maintenance mode): cancelling it")
	case !o.Supports(fsm.ProtocolHandOver):
		return clear(fmt.Sprintf("%s not possible: a member's agent is older than the hand-over (protocol level %d): cancelling it",
			p.Kind, fsm.ProtocolHandOver))
	}
	target, why := handOverTarget(o, p)
	if target == "" && lagReportAwaited(o, p) {
		h := usualHolderTurn(o)
		h.Reason = fmt.Sprintf("%s: %s, measured against a newer report of this node: waiting for the candidate's next report; %s",
			p.Kind, why, h.Reason)
		return h, true
	}
	if target == "" {
		return clear(fmt.Sprintf("%s not possible: %s: cancelling it", p.Kind, why))
	}
	if why := connectProblem(o, target); why != "" {
		if connectAwaited(o) {
			h := usualHolderTurn(o)
			h.Reason = fmt.Sprintf("%s to %s: %s: waiting; %s", p.Kind, target, why, h.Reason)
			return h, true
		}
		return clear(fmt.Sprintf("%s not possible: candidate %s: %s: cancelling it", p.Kind, target, why))
	}
	return plan(fmt.Sprintf("%s to %s: stopping PostgreSQL cleanly and handing the leader key over", p.Kind, target),
		act(ActRenew), actOn(ActHandOver, o.State.Members[target])), true
}

// handOverTarget picks the candidate: the requested one if it may take
// over, else (none requested) the best live one ("" and why when none).
// Whether it streams is judged by this primary's pg_stat_replication
// (connectProblem, checked by the caller), not by the candidate's record:
// the record can say streaming from before a connection broke, or running
// for the seconds its WAL receiver takes to connect again.
func handOverTarget(o Observation, p *fsm.Pending) (string, string) {
	if p.Candidate != "" {
		if why := o.State.CandidateProblem(o.Config, p.Candidate, false); why != "" {
			return "", why
		}
		if !o.LiveMembers[p.Candidate] {
			return "", fmt.Sprintf("candidate %s does not report", p.Candidate)
		}
		return p.Candidate, ""
	}
	// One streaming from this primary right now beats one whose record
	// alone says streaming; a member neither does is no candidate.
	var connected, recorded *candidate
	for _, name := range o.State.MemberNames() {
		if name == o.Self || !o.LiveMembers[name] || o.State.CandidateProblem(o.Config, name, false) != "" {
			continue
		}
		m := o.State.Members[name]
		c := candidate{name: name, timeline: m.Timeline, pos: m.WALPosition, priority: tagInt(m, "failover_priority")}
		if connectProblem(o, name) == "" && (connected == nil || c.beats(*connected)) {
			connected = &c
		}
		if m.State == "streaming" && (recorded == nil || c.beats(*recorded)) {
			recorded = &c
		}
	}
	switch {
	case connected != nil:
		return connected.name, ""
	case recorded != nil:
		return recorded.name, ""
	}
	return "", "no good candidates have been found"
}

// connectProblem says why the holder cannot tell that name receives its
// WAL now ("" when it can): only a connected standby receives the shutdown
// checkpoint of the clean stop that hands the key over.
//   - No streaming row in this primary's pg_stat_replication: the record can
//     say streaming from before its WAL receiver dropped (this primary
//     restarted a moment ago); stopping now would write the checkpoint to
//     nobody, the candidate would never promote, and a ttl later this node
//     would take the key back on a new timeline.
//   - A streaming row but a record that says otherwise, and no reconnection
//     seen here since the request became due: a row outlives a connection
//     broken without a reset (until wal_sender_timeout), and the fast
//     shutdown would wait that long on it. The candidate's next report, or
//     its row seen gone and back, settles it.
func connectProblem(o Observation, name string) string {
	if !streamingFrom(o, name) {
		return fmt.Sprintf("not streaming from this primary (pg_stat_replication: %s)", replicationState(o, name))
	}
	if m := o.State.Members[name]; m.State != "streaming" && !o.PendingUnconnected[name] {
		return fmt.Sprintf("streaming in pg_stat_replication but its record says %s, and no reconnection was seen", m.State)
	}
	return ""
}

// replicationState is name's state in this primary's pg_stat_replication
// as read this turn ("not connected" when it has no row).
func replicationState(o Observation, name string) string {
	for _, r := range o.PG.Replicas {
		if r.Name == name {
			return r.State
		}
	}
	return "not connected"
}

// connectAwaited reports whether the request became due recently enough to
// wait for its candidate's WAL receiver to connect (fsm.HandOverConnectWait),
// or for its next report (loop_wait + lagReportGrace) when its record lags
// behind a connection made just before the request.
// It counts from when this node first found the request due, on its own
// clock: RequestedAt is the answering node's wall clock, and one ahead of
// this node's would stretch the wait past the REST caller's, whose
// "status unknown" would then be followed by a switchover nobody expected.
func connectAwaited(o Observation) bool {
	wait := max(fsm.HandOverConnectWait, time.Duration(o.Config.LoopWait)*time.Second+lagReportGrace)
	return !o.PendingDueSince.IsZero() && o.Now.Sub(o.PendingDueSince) < wait
}

// lagReportAwaited reports whether a candidate refused for lag alone last
// reported before this holder did, while the request is younger than
// loop_wait + lagReportGrace: right after a WAL segment switch this node's
// report can be up to a segment ahead of the candidate's older one,
// although the candidate caught up within milliseconds. Its next report
// (once per loop_wait) decides; a lag that persists in it cancels the
// request as before. Counted on this node's clock, as connectAwaited.
func lagReportAwaited(o Observation, p *fsm.Pending) bool {
	if o.PendingDueSince.IsZero() || o.Now.Sub(o.PendingDueSince) >= time.Duration(o.Config.LoopWait)*time.Second+lagReportGrace {
		return false
	}
	names := []string{p.Candidate}
	if p.Candidate == "" {
		names = o.State.MemberNames()
	}
	for _, name := range names {
		if name != o.Self && o.LiveMembers[name] && o.State.LagOnlyProblem(o.Config, name, true) && o.State.ReportedBeforeLeader(name) {
			return true
		}
	}
	return false
}

// lagReportGrace is added to loop_wait for a candidate's next report.
const lagReportGrace = 2 * time.Second

// handOverOpen reports whether the key is still as HandOver left it: free,
// and not taken since (LeaderIndex is the HandOver's own index). Once the
// candidate took it and gave it back (pre_promote vetoed) the hand-over is
// used up and the election is the usual one: a window begun again at every
// release let a candidate whose script kept vetoing take the key back every
// ttl, and nobody else ever got it.
func handOverOpen(st fsm.State) bool {
	p := st.Pending
	return p.HandedOver() && st.Leader == nil && st.LeaderIndex == p.HandedOverIndex
}

// handOverWindow is how long after a hand-over only its candidate may take
// the key: one ttl from when this node saw the key released.
func handOverWindow(o Observation) (time.Time, bool) {
	if o.KeyChangedAt.IsZero() {
		return time.Time{}, true
	}
	end := o.KeyChangedAt.Add(time.Duration(o.Config.TTL) * time.Second)
	return end, o.Now.Before(end)
}

// decideHandedOver runs while the key is free after a HandOver.
func decideHandedOver(o Observation, p *fsm.Pending) (Plan, bool) {
	_, inWindow := handOverWindow(o)
	if p.Candidate == o.Self {
		if !o.PG.Running || !o.PG.InRecovery {
			return Plan{}, false
		}
		if o.PG.WALPosition > p.CheckpointLSN {
			if why := ineligible(o); why != "" {
				return Plan{}, false // the usual election decides (nofailover set since, rule 2)
			}
			return plan(fmt.Sprintf("%s leader %s handed the key to this node and every byte up to its shutdown checkpoint %s is here: taking the key",
				p.Kind, p.Leader, formatLSN(p.CheckpointLSN)), Action{Kind: ActAcquire, ExpectIndex: o.State.LeaderIndex}), true
		}
		if inWindow {
			return plan(fmt.Sprintf("%s leader %s handed the key to this node: waiting for WAL up to %s (at %s)",
				p.Kind, p.Leader, formatLSN(p.CheckpointLSN), formatLSN(o.PG.WALPosition))), true
		}
		return Plan{}, false
	}
	cand, ok := o.State.Members[p.Candidate]
	if p.Leader == o.Self && !o.PG.Running && ok && cand.Host != "" {
		// The old primary, if its own start after the hand-over failed.
		return plan(fmt.Sprintf("handed the leader key to %s: starting as its standby", p.Candidate), actOn(ActStartReplica, cand)), true
	}
	if inWindow && !(o.PG.Running && !o.PG.InRecovery) {
		return plan(fmt.Sprintf("leader key handed to %s for a %s: not taking it", p.Candidate, p.Kind)), true
	}
	return Plan{}, false
}

// decideManualFailover runs while a failover to a named candidate is
// requested and nobody holds a valid key.
func decideManualFailover(o Observation, p *fsm.Pending) (Plan, bool) {
	if p.Candidate != o.Self {
		// Hold back only while the candidate reports and its report says
		// it can take over (a running replica it may promote): an agent
		// that reports while its PostgreSQL stays down would otherwise
		// keep the cluster without a primary until an operator overrode
		// the request (DESIGN.md, "Switchover and manual failover").
		if o.LiveMembers[p.Candidate] && o.State.CandidateProblem(o.Config, p.Candidate, false) == "" {
			return plan(fmt.Sprintf("failover to %s requested: not taking the key", p.Candidate)), true
		}
		return Plan{}, false
	}
	if !o.PG.Running || !o.PG.InRecovery {
		return Plan{}, false
	}
	if prev := o.State.LeaderName(); prev != "" && o.FailsafeLeader == prev {
		return Plan{}, false
	}
	if why := ineligible(o); why != "" {
		return plan("failover to this node not possible: "+why+": cancelling it", act(ActClearPending)), true
	}
	return plan("failover to this node requested and no leader: taking the key",
		Action{Kind: ActAcquire, ExpectIndex: o.State.LeaderIndex}), true
}

// nextTurnAfterPending shortens the wait before the next turn while a
// hand-over concerns this node: the candidate looks again soon for the WAL
// it waits for, the others wake when the candidate's window ends.
func nextTurnAfterPending(o Observation, next time.Duration) time.Duration {
	p := o.State.Pending
	if connectAwaitedByHolder(o) {
		return min(next, connectRecheck)
	}
	if !handOverOpen(o.State) {
		return next
	}
	end, inWindow := handOverWindow(o)
	switch {
	case !inWindow:
		return next
	case p.Candidate == o.Self:
		return min(next, handOverRecheck)
	default:
		return min(next, max(end.Sub(o.Now)+10*time.Millisecond, handOverRecheck))
	}
}

// usualHolderTurn is what the holder does while it waits to carry a
// request out: its usual turn (sync standbys, slots), or only the renewal
// while paused (rule 5: nothing is changed or removed).
func usualHolderTurn(o Observation) Plan {
	if o.Config.Pause {
		return decidePaused(o)
	}
	return decideHolder(o)
}

// connectAwaitedByHolder reports whether this node holds the key and waits
// for a due request's candidate to stream from it: it looks again soon
// rather than a loop_wait later.
func connectAwaitedByHolder(o Observation) bool {
	p := o.State.Pending
	if p == nil || p.HandedOver() || o.State.LeaderName() != o.Self || !o.PG.Running || o.PG.InRecovery || !o.Lease.Valid ||
		!p.Due(o.Now.UnixNano()) || !connectAwaited(o) {
		return false
	}
	target, _ := handOverTarget(o, p)
	return target != "" && connectProblem(o, target) != ""
}

// connectRecheck is how often a holder looks at pg_stat_replication while
// it waits for a candidate to connect.
const connectRecheck = 250 * time.Millisecond
