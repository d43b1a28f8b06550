package ha

import (
	"reflect"
	"strings"
	"testing"
)

// asLeader turns scenario() into the view of n1, the primary holding a
// trusted lease.
func asLeader(o *Observation) {
	o.Self = "n1"
	o.PG.InRecovery, o.PG.Streaming, o.PG.Following = false, false, ""
	o.Lease.Held, o.Lease.Valid = true, true
}

func TestDecideOperation(t *testing.T) {
	cases := []struct {
		name   string
		modify func(o *Observation)
		want   []ActionKind
		target string
		reason string // substring of the refusal
	}{
		{"Restart_Primary_RenewsAndRestartsInPlace", func(o *Observation) {
			asLeader(o)
			o.Operation = Operation{Kind: OpRestart}
		}, []ActionKind{ActRenew, ActRestart}, "", ""},
		{"Restart_PrimaryPaused_StillRestartsOnRequest", func(o *Observation) {
			asLeader(o)
			o.Config.Pause = true
			o.Operation = Operation{Kind: OpRestart}
		}, []ActionKind{ActRenew, ActRestart}, "", ""},
		{"Restart_PrimaryLeaseNotTrusted_Refused", func(o *Observation) {
			asLeader(o)
			o.Lease.Valid = false
			o.Operation = Operation{Kind: OpRestart}
		}, []ActionKind{ActRefuseOperation}, "", "not trusted"},
		{"Restart_Replica_RestartsFollowingTheLeader", func(o *Observation) {
			o.Operation = Operation{Kind: OpRestart}
		}, []ActionKind{ActRestart}, "n1", ""},
		{"Restart_RoleMismatch_Refused", func(o *Observation) {
			o.Operation = Operation{Kind: OpRestart, Role: "primary"}
		}, []ActionKind{ActRefuseOperation}, "", "host role mismatch"},
		{"Restart_PrimaryRoleReplica_RefusedButKeepsRenewing", func(o *Observation) {
			asLeader(o)
			o.Operation = Operation{Kind: OpRestart, Role: "replica"}
		}, []ActionKind{ActRenew, ActRefuseOperation}, "", "host role mismatch"},
		{"Restart_PendingOnlyWithoutPending_Refused", func(o *Observation) {
			o.Operation = Operation{Kind: OpRestart, PendingOnly: true}
		}, []ActionKind{ActRefuseOperation}, "", "pending restart flag is not set"},
		{"Restart_PendingOnlyWithPending_Restarts", func(o *Observation) {
			o.PG.PendingRestart = true
			o.Operation = Operation{Kind: OpRestart, PendingOnly: true}
		}, []ActionKind{ActRestart}, "n1", ""},
		{"Restart_VersionNotBelow_Refused", func(o *Observation) {
			o.PG.ServerVersion = 150010
			o.Operation = Operation{Kind: OpRestart, BelowVersion: 150010}
		}, []ActionKind{ActRefuseOperation}, "", "postgres version mismatch"},
		{"Restart_VersionBelow_Restarts", func(o *Observation) {
			o.PG.ServerVersion = 150009
			o.Operation = Operation{Kind: OpRestart, BelowVersion: 150010}
		}, []ActionKind{ActRestart}, "n1", ""},
		{"Restart_Stopped_Refused", func(o *Observation) {
			o.PG.Running = false
			o.Operation = Operation{Kind: OpRestart}
		}, []ActionKind{ActRefuseOperation}, "", "not running"},
		{"Restart_WritableWithoutKey_Refused", func(o *Observation) {
			o.PG.InRecovery = false
			o.Operation = Operation{Kind: OpRestart}
		}, []ActionKind{ActRefuseOperation}, "", "does not hold the leader key"},
		{"Reinit_Replica_MovesAsideClonesStarts", func(o *Observation) {
			o.Operation = Operation{Kind: OpReinit}
		}, []ActionKind{ActReinit, ActClone, ActStartReplica}, "n1", ""},
		{"Reinit_Leader_Refused", func(o *Observation) {
			asLeader(o)
			o.Operation = Operation{Kind: OpReinit}
		}, []ActionKind{ActRenew, ActRefuseOperation}, "", "I am the leader, can not reinitialize"},
		{"Reinit_NoLeader_Refused", func(o *Observation) {
			o.State.Leader = nil
			o.Operation = Operation{Kind: OpReinit}
		}, []ActionKind{ActRefuseOperation}, "", "Cluster has no leader, can not reinitialize"},
		{"Reinit_LeaderExpired_Refused", func(o *Observation) {
			o.Lease.Expired = true
			o.Operation = Operation{Kind: OpReinit}
		}, []ActionKind{ActRefuseOperation}, "", "Cluster has no leader"},
		{"Reinit_RecordedSyncStandby_Refused", func(o *Observation) {
			o.Config.SynchronousMode = true
			o.State.Sync.Leader, o.State.Sync.Members = "n1", []string{"n2"}
			o.Operation = Operation{Kind: OpReinit}
		}, []ActionKind{ActRefuseOperation}, "", "synchronous standby"},
		{"Reinit_SyncModeNotRecorded_Reinitializes", func(o *Observation) {
			o.Config.SynchronousMode = true
			o.State.Sync.Leader, o.State.Sync.Members = "n1", []string{"n3"}
			o.Operation = Operation{Kind: OpReinit}
		}, []ActionKind{ActReinit, ActClone, ActStartReplica}, "n1", ""},
		{"Reinit_LeaderNotRunning_Refused", func(o *Observation) {
			m := o.State.Members["n1"]
			m.State = "stopped"
			o.State.Members["n1"] = m
			o.Operation = Operation{Kind: OpReinit}
		}, []ActionKind{ActRefuseOperation}, "", "not running"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := scenario()
			c.modify(&o)
			before := o.State.Clone()
			p := Decide(o)
			if !reflect.DeepEqual(before, o.State.Clone()) {
				t.Fatal("Decide mutated its input")
			}
			if !reflect.DeepEqual(p.Kinds(), c.want) {
				t.Fatalf("plan %s, want %v", p, c.want)
			}
			last := p.Actions[len(p.Actions)-1]
			if c.target != "" && !hasTarget(p, c.target) {
				t.Fatalf("plan %s: no action on %s", p, c.target)
			}
			if c.reason != "" && (last.Kind != ActRefuseOperation || !strings.Contains(last.Names[0], c.reason)) {
				t.Fatalf("plan %s: refusal %v does not say %q", p, last.Names, c.reason)
			}
		})
	}
}

func hasTarget(p Plan, name string) bool {
	for _, a := range p.Actions {
		if a.Target.Name == name {
			return true
		}
	}
	return false
}
