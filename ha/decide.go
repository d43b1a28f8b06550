package ha

import (
	"fmt"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Decide is the whole HA policy: a pure function of the observation. It
// never mutates its input.
func Decide(o Observation) Plan {
	if o.Operation.Kind != OpNone {
		return decideOperation(o)
	}
	if p, ok := decidePending(o); ok {
		return p
	}
	if o.Config.Pause {
		return decidePaused(o)
	}
	if o.PG.BootstrapCutShort {
		if p, ok := decideBootstrapCutShort(o); ok {
			return p
		}
	}
	switch o.PG.DataDir {
	case DataDirInvalid:
		return plan("data directory holds files but no PostgreSQL cluster: refusing to touch it")
	case DataDirUnknown:
		return plan(fmt.Sprintf("data directory state unknown: %v", o.PG.Err))
	}
	if p, done := decideInitialize(o); done {
		return p
	}
	if o.PG.DataDir != DataDirValid {
		return decideClone(o)
	}
	if o.Lease.Held {
		return decideHolder(o)
	}
	if l := o.State.Leader; l != nil && !o.Lease.Expired {
		return decideFollower(o, l.Member)
	}
	return decideElection(o)
}

// Rule 5: when paused the agent touches neither PostgreSQL nor the roles.
// A running primary keeps renewing the key so that resume finds it in place.
func decidePaused(o Observation) Plan {
	if o.Lease.Held && o.PG.Running && !o.PG.InRecovery {
		return plan("paused: keeping the leader key, no automatic action", act(ActRenew))
	}
	return plan("paused: no automatic action")
}

// Rule 3: initdb happens once per cluster. Only the member that won the
// initialize claim runs it, and never over a data directory that exists.
func decideInitialize(o Observation) (Plan, bool) {
	init := o.State.Initialize
	hasData := o.PG.DataDir == DataDirValid
	if hasData && o.PG.Running && o.PG.ForeignConfig != "" {
		return plan(foreignConfigReason(o), act(ActRefuse)), true // takeover.go
	}
	switch {
	case init == nil && hasData:
		return decideSeed(o), true // takeover.go
	case init == nil && o.Tags.NoFailover:
		return plan("cluster not initialized: nofailover members do not bootstrap"), true
	case init == nil:
		return decideBootstrap(o), true // rebuild.go
	case init.SystemID == "" && init.Member != o.Self:
		return plan(fmt.Sprintf("cluster is being initialized by %s", init.Member)), true
	case init.SystemID == "" && hasData:
		return plan("finishing interrupted initialization", act(ActFinishInitialize)), true
	case init.SystemID == "":
		return plan("retrying interrupted initialization", act(ActBootstrap)), true
	case hasData && o.PG.SystemID != "" && o.PG.SystemID != init.SystemID:
		return plan(fmt.Sprintf("data directory has system identifier %s but the cluster has %s: refusing to join",
			o.PG.SystemID, init.SystemID), act(ActRefuse)), true
	}
	return decideTakeover(o) // takeover.go

}

func decideClone(o Observation) Plan {
	l := o.State.Leader
	if l == nil || l.Member == o.Self {
		return cloneWithoutLeader(o, "no data directory: waiting for a leader to clone from")
	}
	src, ok := o.State.Members[l.Member]
	if !ok || src.Role != fsm.RolePrimary || src.State != "running" {
		return cloneWithoutLeader(o, fmt.Sprintf("no data directory: waiting for leader %s to run", l.Member))
	}
	if from, ok := cloneFrom(o); ok && !recordedSyncWithoutData(o) {
		return plan(fmt.Sprintf("no data directory: cloning from %s (tag clonefrom), then following the leader", from.Name),
			actOn(ActClone, from), actOn(ActStartReplica, src))
	}
	return plan("no data directory: cloning from the leader",
		actOn(ActClone, src), actOn(ActStartReplica, src))
}

// cloneFrom picks the member a new replica copies its data directory from
// when one is tagged clonefrom (Patroni's tag): the first by name that
// reports and streams, to spare the primary the copy. Only where the copy
// comes from changes: the new replica follows the leader, and a copy of a
// standby holds no more than the primary's history (the clone is started as
// a replica, rule 4 applies as for any replica).
func cloneFrom(o Observation) (fsm.Member, bool) {
	for _, name := range o.State.MemberNames() {
		m := o.State.Members[name]
		if name != o.Self && m.Tag("clonefrom") && o.LiveMembers[name] && m.Role == fsm.RoleReplica && m.State == "streaming" && m.Host != "" {
			return m, true
		}
	}
	return fsm.Member{}, false
}

// recordedSyncWithoutData reports a member without data that the state
// still records as a synchronous standby. Rule 2 counts it as holding every
// acknowledged commit, so its new data directory must hold them too: only a
// copy from the running leader does (a base backup holds everything
// committed before it started; if the leader dies mid-copy the copy
// fails). A copy from a clonefrom replica (asynchronous, behind) or from a
// backup (no_leader) ends where its source was, and would be promotable
// under the recorded name if the leader died before dropping it, as
// reinitialize is refused for it (operations.go). The leader drops it at
// its next turn (it no longer streams), after which any source will do.
func recordedSyncWithoutData(o Observation) bool {
	return o.Config.SynchronousMode && o.State.IsSync(o.Self)
}

// cloneWithoutLeader: with a no_leader replica method (backup repository)
// a member without data is built and started as a standby following
// nobody while no primary runs; else it waits (why). The cluster is
// initialized here (decideInitialize ran first), a restored directory of
// another cluster is refused on the next turn (system identifier check),
// and such a standby wins no election it should not: ineligible measures
// its WAL position against the last one the old leader reported.
func cloneWithoutLeader(o Observation, why string) Plan {
	if !o.Tags.CloneWithoutLeader {
		return plan(why)
	}
	if recordedSyncWithoutData(o) {
		return plan(why + "; not creating it from a backup: this member is a recorded synchronous standby, and a copy " +
			"without the commits it acknowledged could be promoted (rule 2)")
	}
	return plan("no data directory and no running leader: creating the replica with a no_leader method",
		actOn(ActClone, fsm.Member{}), actOn(ActStartReplica, fsm.Member{}))
}

// decideHolder runs when the state names this node as the leader. Renewal
// comes first; if it fails while PostgreSQL is writable and the lease is no
// longer trusted, the executor fences (rule 1).
func decideHolder(o Observation) Plan {
	renew := Action{Kind: ActRenew}
	switch {
	case !o.PG.Running && !o.PrimaryDownSince.IsZero() &&
		o.Now.Sub(o.PrimaryDownSince) >= time.Duration(o.Config.PrimaryStartTimeout)*time.Second:
		return plan(fmt.Sprintf("PostgreSQL did not start within primary_start_timeout (%ds): giving up the leader key",
			o.Config.PrimaryStartTimeout), act(ActRelease))
	case !o.PG.Running && o.PG.InRecovery:
		// A standby's data (it took the key and its PostgreSQL died before
		// the promotion): started as primary in place it would come up on
		// the old primary's timeline number with no history entry, a second
		// fork nobody can detect (rule 4). Start it as a standby; the next
		// turn promotes it (new timeline, history entry). Read-only, so
		// safe without a trusted lease; the key is renewed meanwhile, so a
		// long recovery does not cost a failover (recover_standby.go). A
		// tenure that promoted has no standby's data: promotion ends
		// recovery (standby.signal is gone).
		return plan("leader with a standby's data directory stopped: starting it as a standby to promote it",
			act(ActRecoverStandby))
	case !o.PG.Running:
		// Renewed: start as primary in place. Not renewed (no quorum): start
		// read-only, so the data stays readable but nothing is acknowledged.
		return plan("leader with PostgreSQL stopped: starting it (as primary if the lease is renewed, else read-only)",
			act(ActRecoverPrimary))
	case o.PG.InRecovery:
		if o.Config.SynchronousMode {
			// Promote only with a synchronous_standby_names that cannot
			// acknowledge commits no recorded standby has (rule 2).
			return plan("leader with PostgreSQL in recovery: promoting", renew,
				Action{Kind: ActSetSyncStandbys}, act(ActPromote))
		}
		return plan("leader with PostgreSQL in recovery: promoting", renew, act(ActPromote))
	case !o.Lease.Valid:
		return plan("leader without a trusted lease: renewing, fencing if that fails", renew)
	}
	actions := []Action{renew}
	reason := "no action: I am the leader with the lease"
	if o.Config.UseSlots {
		actions = append(actions, Action{Kind: ActSyncSlots, Names: slotMembers(o)})
	}
	if a, why := syncStep(o); a != nil {
		actions = append(actions, *a)
		reason = why
	}
	if o.PG.Unmanaged {
		// A taken-over primary whose configuration was not written yet
		// (Adopt failed right after the key was taken): by reload, never a
		// restart (takeover.go).
		actions = append(actions, act(ActAdopt))
		reason = "takeover: writing Conclave's configuration for the running primary (reload, no restart)"
	}
	if o.HistoryPending {
		// Rule 4: the standby fork check needs this tenure's entry.
		actions = append(actions, act(ActRecordHistory))
	}
	if rm := staleRemovals(o); len(rm) > 0 && o.Supports(fsm.ProtocolSwapSync) {
		actions = append(actions, rm...)
		if reason == "no action: I am the leader with the lease" {
			reason = "removing members that stopped reporting longer ago than the grace period"
		}
	}
	return plan(reason, actions...)
}

func decideFollower(o Observation, leaderName string) Plan {
	target, ok := o.State.Members[leaderName]
	if !ok {
		target = fsm.Member{Name: leaderName}
	}
	if p, ok := decideDiverged(o, target); ok {
		return p
	}
	if p, ok := decideStuck(o, target); ok {
		return p
	}
	if !o.PG.Running && o.RewindPending {
		return decideRewindAgain(o, target)
	}
	switch {
	case !o.PG.Running && !o.PG.InRecovery && o.PG.Timeline > 0 && !runsAsPrimary(target):
		// Rule 4: a stopped former primary's history is compared with the
		// leader's only once the leader runs as primary (decideDiverged).
		// Started as a standby before, it looks like any standby: a
		// timeline it created without its tenure marker (its agent stopped
		// mid-promotion) then shares the leader's number unnoticed, and
		// its own records past the fork would sit under the leader's WAL.
		return plan(fmt.Sprintf("this data directory was last a primary (timeline %d): waiting for leader %s to run as primary to compare histories before starting it",
			o.PG.Timeline, leaderName))
	case !o.PG.Running && target.Host != "" && slotsPending(o, target):
		return plan(fmt.Sprintf("taking over the stopped standby: waiting for leader %s to create its replication slot before starting it", leaderName))
	case !o.PG.Running:
		return plan(fmt.Sprintf("starting as a replica of %s", leaderName), actOn(ActStartReplica, target))
	case !o.PG.InRecovery:
		// A writable primary while another member holds the key: demote at once.
		return plan(fmt.Sprintf("%s holds the leader key: demoting the local primary", leaderName), actOn(ActDemote, target))
	case o.PG.Following != leaderName && target.Host != "" && slotsPending(o, target):
		return plan(fmt.Sprintf("taking over the running standby: waiting for leader %s to create its replication slot before following it", leaderName))
	case o.PG.Following != leaderName && target.Host != "":
		return plan(fmt.Sprintf("following the new leader %s", leaderName), actOn(ActFollow, target))
	}
	return plan(fmt.Sprintf("no action: streaming from leader %s", leaderName))
}

func decideElection(o Observation) Plan {
	prev := o.State.LeaderName()
	if o.PG.Running && !o.PG.InRecovery && prev != "" {
		// The key is named to someone else whose lease ran out, yet this node
		// is writable: it must not stay so without a lease of its own.
		return plan(fmt.Sprintf("writable without the leader key (held by %s, expired): fencing", prev), act(ActFence))
	}
	if !o.PG.Running && o.RewindPending {
		// A partly rewritten directory is never started (rule 4): it
		// waits for a leader to rewind onto or clone from.
		return plan("no leader; pg_rewind did not complete: waiting for a leader to repair the data directory from")
	}
	if !o.PG.Running {
		return plan("no leader: starting as a standby first", actOn(ActStartReplica, fsm.Member{}))
	}
	// An accepted heartbeat is honoured for its ttl even when failsafe_mode
	// was switched off since: the holder extended its trust when this node
	// answered it (fault suite seed 3082).
	if prev != "" && o.FailsafeLeader == prev {
		return plan(fmt.Sprintf("leader %s keeps its role in failsafe mode (its heartbeat arrived): not taking over", prev))
	}
	if why := ineligible(o); why != "" {
		return plan("no leader; not a candidate: " + why)
	}
	if better := betterCandidate(o); better != "" {
		return plan(fmt.Sprintf("no leader; %s is a better candidate", better))
	}
	a := Action{Kind: ActAcquire, ExpectIndex: o.State.LeaderIndex}
	if prev == "" {
		return plan("no leader: taking the leader key", a)
	}
	return plan(fmt.Sprintf("leader %s lease expired: taking over", prev), a)
}
