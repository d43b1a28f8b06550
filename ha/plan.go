package ha

import (
	"fmt"
	"strings"

	"github.com/conclave-ha/conclave/fsm"
)

// ActionKind names one step of a Plan.
type ActionKind int

const (
	// ActWait does nothing this turn.
	ActWait ActionKind = iota
	// ActBootstrap claims the initialize key, runs initdb, records the
	// system identifier and takes the leader key.
	ActBootstrap
	// ActAdoptData publishes the system identifier of an existing primary's
	// data directory (taking over a running cluster).
	ActAdoptData
	// ActFinishInitialize records the system identifier of a data directory
	// this node created under its own claim before it restarted.
	ActFinishInitialize
	// ActClone copies the data directory from Target.
	ActClone
	// ActStartReplica starts PostgreSQL as a standby of Target (may be empty).
	ActStartReplica
	// ActAcquire takes the leader key with ExpectIndex, then promotes.
	ActAcquire
	// ActRenew renews this node's lease.
	ActRenew
	// ActPromote promotes the local standby (the lease is held and valid).
	ActPromote
	// ActFollow points the running standby at Target.
	ActFollow
	// ActDemote turns the local primary into a standby of Target.
	ActDemote
	// ActFence stops PostgreSQL at once: it may be writable without a valid lease.
	ActFence
	// ActRefuse stops the agent: continuing would break a safety rule.
	ActRefuse
	// ActSyncSlots keeps one physical slot per member on the primary.
	ActSyncSlots
	// ActRecoverPrimary renews the lease of a leader whose PostgreSQL is
	// down: started as primary when renewed, read-only (a standby
	// following nobody) when not.
	ActRecoverPrimary
	// ActRelease gives the leader key back.
	ActRelease
	// ActRewind runs pg_rewind onto Target's timeline.
	ActRewind
	// ActMoveAside renames a diverged data directory so it can be re-cloned.
	ActMoveAside
	// ActSetSync records Names as the synchronous standbys in the state.
	ActSetSync
	// ActSetSyncStandbys writes Names into synchronous_standby_names.
	ActSetSyncStandbys
	// ActStuckRewind runs pg_rewind onto Target's timeline for a standby
	// that does not stream, and remembers it did (decideStuck).
	ActStuckRewind
	// ActRemoveStaleMember removes Target from the member list if its last
	// report is still the one at ExpectIndex.
	ActRemoveStaleMember
	// ActStuckMoveAside is ActMoveAside for a standby that does not stream,
	// remembered so it happens at most once per leader tenure (decideStuck).
	ActStuckMoveAside
	// ActRecordHistory proposes again the entry of this tenure's promotion
	// that could not be recorded at once (history.go).
	ActRecordHistory
	// ActRecoverStandby renews the lease of a leader whose stopped
	// PostgreSQL has a standby's data and starts it read-only, to promote it
	// next turn (recover_standby.go).
	ActRecoverStandby
	// ActHandOver stops PostgreSQL cleanly and hands the leader key to
	// Target (switchover.go).
	ActHandOver
	// ActClearPending removes the pending switchover or failover.
	ActClearPending
	// ActTakeover takes the leader key for the running primary that seeded
	// the cluster, without restarting it (takeover.go).
	ActTakeover
	// ActAdopt writes Conclave's configuration for the taken-over primary
	// this member holds the key for and reloads it (Adopter; takeover.go):
	// the retry when it failed right after the key was taken.
	ActAdopt
)

var actionNames = map[ActionKind]string{
	ActWait: "wait", ActBootstrap: "bootstrap", ActAdoptData: "adopt-data",
	ActFinishInitialize: "finish-initialize", ActClone: "clone", ActStartReplica: "start-replica", ActAcquire: "acquire", ActRenew: "renew", ActPromote: "promote",
	ActFollow: "follow", ActDemote: "demote", ActFence: "fence", ActRefuse: "refuse", ActSyncSlots: "sync-slots",
	ActRecoverPrimary: "recover-primary", ActRelease: "release", ActRewind: "rewind", ActMoveAside: "move-aside",
	ActSetSync: "set-sync", ActSetSyncStandbys: "set-sync-standbys", ActStuckRewind: "stuck-rewind",
	ActRemoveStaleMember: "remove-stale-member", ActStuckMoveAside: "stuck-move-aside",
	ActRecordHistory: "record-history", ActRecoverStandby: "recover-standby",
	ActHandOver: "hand-over", ActClearPending: "clear-pending", ActTakeover: "takeover", ActAdopt: "adopt",
	ActRestart: "restart", ActReinit: "reinitialize", ActRefuseOperation: "refuse-operation",
}

func (k ActionKind) String() string {
	if s, ok := actionNames[k]; ok {
		return s
	}
	return fmt.Sprintf("action(%d)", int(k))
}

// Action is one step. Target is the member to clone from or follow.
type Action struct {
	Kind        ActionKind
	Target      fsm.Member
	ExpectIndex uint64
	Names       []string // ActSetSync, ActSetSyncStandbys; ActSyncSlots: members keeping a slot
}

// Plan is Decide's answer: the steps to run in order, and why.
type Plan struct {
	Actions []Action
	Reason  string
}

func (p Plan) String() string {
	kinds := make([]string, len(p.Actions))
	for i, a := range p.Actions {
		kinds[i] = a.Kind.String()
		if a.Target.Name != "" {
			kinds[i] += "(" + a.Target.Name + ")"
		}
		if a.Kind == ActSetSync || a.Kind == ActSetSyncStandbys || a.Kind == ActSyncSlots {
			kinds[i] += "[" + strings.Join(a.Names, " ") + "]"
		}
	}
	return strings.Join(kinds, ",") + ": " + p.Reason
}

// Kinds lists the action kinds, for tests and logs.
func (p Plan) Kinds() []ActionKind {
	out := make([]ActionKind, len(p.Actions))
	for i, a := range p.Actions {
		out[i] = a.Kind
	}
	return out
}

func plan(reason string, actions ...Action) Plan {
	if len(actions) == 0 {
		actions = []Action{{Kind: ActWait}}
	}
	return Plan{Actions: actions, Reason: reason}
}

func act(kind ActionKind) Action { return Action{Kind: kind} }

func actOn(kind ActionKind, target fsm.Member) Action { return Action{Kind: kind, Target: target} }
