package ha

import (
	"reflect"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// scenario builds observations for node "n2" of a three-node cluster.
func scenario() Observation {
	st := fsm.State{
		Initialize:  &fsm.Initialize{Member: "n1", SystemID: "7000"},
		Leader:      &fsm.Leader{Member: "n1", Epoch: 10, TTL: 3},
		LeaderIndex: 40,
		Members: map[string]fsm.Member{
			"n1": {Name: "n1", Host: "127.0.0.1", Port: 5432, Role: fsm.RolePrimary, State: "running", Timeline: 1, WALPosition: 1000},
			"n2": {Name: "n2", Host: "127.0.0.1", Port: 5433, Role: fsm.RoleReplica, State: "streaming", Timeline: 1, WALPosition: 1000},
			"n3": {Name: "n3", Host: "127.0.0.1", Port: 5434, Role: fsm.RoleReplica, State: "streaming", Timeline: 1, WALPosition: 900},
		},
	}
	return Observation{
		Self: "n2", Now: t0, State: st, Config: fsm.DefaultDynamicConfig(),
		PG:          PGStatus{DataDir: DataDirValid, SystemID: "7000", Running: true, InRecovery: true, Timeline: 1, WALPosition: 1000, Streaming: true, Following: "n1"},
		LiveMembers: map[string]bool{"n1": true, "n2": true, "n3": true},
	}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name   string
		modify func(o *Observation)
		want   []ActionKind
		target string
	}{
		{"EmptyCluster_EmptyDataDir_Bootstraps", func(o *Observation) {
			o.State = fsm.State{Members: map[string]fsm.Member{}}
			o.PG = PGStatus{DataDir: DataDirMissing}
		}, []ActionKind{ActBootstrap}, ""},
		{"EmptyCluster_NoFailover_DoesNotBootstrap", func(o *Observation) {
			o.State = fsm.State{Members: map[string]fsm.Member{}}
			o.PG = PGStatus{DataDir: DataDirEmpty}
			o.Tags.NoFailover = true
		}, []ActionKind{ActWait}, ""},
		{"EmptyCluster_ExistingPrimaryData_Adopts", func(o *Observation) {
			o.State = fsm.State{Members: map[string]fsm.Member{}}
			o.PG.InRecovery = false
		}, []ActionKind{ActAdoptData}, ""},
		{"EmptyCluster_ExistingStandbyData_Waits", func(o *Observation) {
			o.State = fsm.State{Members: map[string]fsm.Member{}}
		}, []ActionKind{ActWait}, ""},
		{"InitializingByOther_Waits", func(o *Observation) {
			o.State.Initialize = &fsm.Initialize{Member: "n1"}
			o.State.Leader = nil
			o.PG = PGStatus{DataDir: DataDirEmpty}
		}, []ActionKind{ActWait}, ""},
		{"OwnClaimWithData_FinishesInitialize", func(o *Observation) {
			o.State.Initialize = &fsm.Initialize{Member: "n2"}
			o.State.Leader = nil
		}, []ActionKind{ActFinishInitialize}, ""},
		{"OwnClaimWithoutData_RetriesBootstrap", func(o *Observation) {
			o.State.Initialize = &fsm.Initialize{Member: "n2"}
			o.PG = PGStatus{DataDir: DataDirEmpty}
		}, []ActionKind{ActBootstrap}, ""},
		{"OtherSystemID_Refuses", func(o *Observation) {
			o.PG.SystemID = "9999"
		}, []ActionKind{ActRefuse}, ""},
		{"InvalidDataDir_LeavesItAlone", func(o *Observation) {
			o.PG = PGStatus{DataDir: DataDirInvalid}
		}, []ActionKind{ActWait}, ""},
		{"EmptyDataDir_LeaderRunning_ClonesAndStarts", func(o *Observation) {
			o.PG = PGStatus{DataDir: DataDirEmpty}
		}, []ActionKind{ActClone, ActStartReplica}, "n1"},
		{"EmptyDataDir_ReplicaTaggedClonefrom_ClonesFromIt", func(o *Observation) {
			o.PG = PGStatus{DataDir: DataDirEmpty}
			setMember(o, "n3", func(m *fsm.Member) { m.Tags = map[string]any{"clonefrom": true} })
		}, []ActionKind{ActClone, ActStartReplica}, "n3"},
		{"EmptyDataDir_ClonefromMemberSilent_ClonesFromLeader", func(o *Observation) {
			o.PG = PGStatus{DataDir: DataDirEmpty}
			setMember(o, "n3", func(m *fsm.Member) { m.Tags = map[string]any{"clonefrom": true} })
			o.LiveMembers["n3"] = false
		}, []ActionKind{ActClone, ActStartReplica}, "n1"},
		{"EmptyDataDir_LeaderNotRunning_Waits", func(o *Observation) {
			o.PG = PGStatus{DataDir: DataDirEmpty}
			m := o.State.Members["n1"]
			m.State = "stopped"
			o.State.Members["n1"] = m
		}, []ActionKind{ActWait}, ""},
		{"EmptyDataDir_NoLeader_Waits", func(o *Observation) {
			o.PG = PGStatus{DataDir: DataDirEmpty}
			o.State.Leader = nil
		}, []ActionKind{ActWait}, ""},
		{"EmptyDataDir_NoLeader_NoLeaderMethod_ClonesFromRepository", func(o *Observation) {
			o.PG = PGStatus{DataDir: DataDirEmpty}
			o.State.Leader = nil
			o.Tags.CloneWithoutLeader = true
		}, []ActionKind{ActClone, ActStartReplica}, ""},
		{"EmptyDataDir_LeaderNotRunning_NoLeaderMethod_ClonesFromRepository", func(o *Observation) {
			o.PG = PGStatus{DataDir: DataDirEmpty}
			setMember(o, "n1", func(m *fsm.Member) { m.State = "stopped" })
			o.Tags.CloneWithoutLeader = true
		}, []ActionKind{ActClone, ActStartReplica}, ""},
		{"EmptyCluster_NoLeaderMethod_StillBootstraps", func(o *Observation) {
			o.State = fsm.State{Members: map[string]fsm.Member{}}
			o.PG = PGStatus{DataDir: DataDirMissing}
			o.Tags.CloneWithoutLeader = true
		}, []ActionKind{ActBootstrap}, ""},
		{"Replica_Streaming_Waits", func(o *Observation) {}, []ActionKind{ActWait}, ""},
		{"Replica_Stopped_StartsAsReplicaOfLeader", func(o *Observation) {
			o.PG.Running = false
		}, []ActionKind{ActStartReplica}, "n1"},
		{"Replica_FollowingOldLeader_Follows", func(o *Observation) {
			o.PG.Following = "n3"
		}, []ActionKind{ActFollow}, "n1"},
		{"Primary_WhileOtherHoldsKey_Demotes", func(o *Observation) {
			o.PG.InRecovery = false
			setMember(o, "n1", func(m *fsm.Member) { m.Timeline = 2 }) // n1 promoted past us
		}, []ActionKind{ActDemote}, "n1"},
		{"Holder_NotRenewedRecently_KeepsTryingToRenew", func(o *Observation) {
			o.Self = "n1"
			o.PG.InRecovery = false
			o.Lease = LeaseView{Held: true}
			o.Config.UseSlots = false
		}, []ActionKind{ActRenew}, ""},
		{"Holder_RunningPrimary_Renews", func(o *Observation) {
			o.Self = "n1"
			o.PG.InRecovery = false
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_RunningPrimaryWithoutSlots_OnlyRenews", func(o *Observation) {
			o.Self = "n1"
			o.PG.InRecovery = false
			o.Config.UseSlots = false
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRenew}, ""},
		{"Holder_WithoutTrustedLease_RenewsOrFences", func(o *Observation) {
			o.Self = "n1"
			o.PG.InRecovery = false
			o.Lease = LeaseView{Held: true}
		}, []ActionKind{ActRenew}, ""},
		{"Holder_PostgresStopped_RecoversInPlace", func(o *Observation) {
			o.Self = "n1"
			o.PG.Running = false
			o.PG.InRecovery = false
			o.PrimaryDownSince = t0.Add(-10 * time.Second)
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRecoverPrimary}, ""},
		{"Holder_StoppedStandbyData_StartsAsStandbyToPromote", func(o *Observation) {
			o.Self = "n1"
			o.PG.Running = false
			o.PG.InRecovery = true
			o.PrimaryDownSince = t0.Add(-10 * time.Second)
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRecoverStandby}, ""},
		{"Holder_PostgresDownLongerThanStartTimeout_ReleasesKey", func(o *Observation) {
			o.Self = "n1"
			o.PG.Running = false
			o.Config.PrimaryStartTimeout = 30
			o.PrimaryDownSince = t0.Add(-30 * time.Second)
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRelease}, ""},
		{"Holder_PostgresDown_StartTimeoutZero_ReleasesAtOnce", func(o *Observation) {
			o.Self = "n1"
			o.PG.Running = false
			o.Config.PrimaryStartTimeout = 0
			o.PrimaryDownSince = t0
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRelease}, ""},
		{"Holder_InRecovery_SyncMode_SetsSafeSyncNamesBeforePromoting", func(o *Observation) {
			o.Self = "n1"
			o.Config.SynchronousMode = true
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRenew, ActSetSyncStandbys, ActPromote}, ""},
		{"Follower_CrashedOldPrimaryOnOlderTimeline_Rewinds", func(o *Observation) {
			o.Config.UsePgRewind = true
			o.PG.Running = false
			o.PG.InRecovery = false
			setMember(o, "n1", func(m *fsm.Member) { m.Timeline = 2 })
		}, []ActionKind{ActRewind, ActStartReplica}, "n1"},
		{"Follower_DivergedWithoutRewind_MovesDataAside", func(o *Observation) {
			o.Config.UsePgRewind = false
			o.PG.Running = false
			o.PG.InRecovery = false
			setMember(o, "n1", func(m *fsm.Member) { m.Timeline = 2 })
		}, []ActionKind{ActMoveAside}, ""},
		{"Follower_RewindFailed_MovesDataAside", func(o *Observation) {
			o.Config.UsePgRewind = true
			o.RewindFailed = true
			o.PG.Running = false
			o.PG.InRecovery = false
			setMember(o, "n1", func(m *fsm.Member) { m.Timeline = 2 })
		}, []ActionKind{ActMoveAside}, ""},
		{"Follower_StandbyPastTheForkPoint_Rewinds", func(o *Observation) {
			o.Config.UsePgRewind = true
			o.PG.Streaming = false
			o.PG.WALPosition = 1200
			o.State.History = []fsm.HistoryEntry{{Timeline: 1, LSN: 1100}}
			setMember(o, "n1", func(m *fsm.Member) { m.Timeline = 2 })
		}, []ActionKind{ActRewind, ActStartReplica}, "n1"},
		{"Follower_StandbyBeforeTheForkPoint_JustFollows", func(o *Observation) {
			o.Config.UsePgRewind = true
			o.PG.Streaming = false
			o.PG.WALPosition = 1000
			o.PG.Following = "n3"
			o.State.History = []fsm.HistoryEntry{{Timeline: 1, LSN: 1100}}
			setMember(o, "n1", func(m *fsm.Member) { m.Timeline = 2 })
		}, []ActionKind{ActFollow}, "n1"},
		{"Follower_StreamingOnNewTimeline_NoRewind", func(o *Observation) {
			o.Config.UsePgRewind = true
			o.PG.Timeline = 2
			setMember(o, "n1", func(m *fsm.Member) { m.Timeline = 2 })
		}, []ActionKind{ActWait}, ""},
		{"Holder_InRecovery_RenewsAndPromotes", func(o *Observation) {
			o.Self = "n1"
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRenew, ActPromote}, ""},
		{"LeaseValid_NoElection", func(o *Observation) {
			o.Lease = LeaseView{ExpiresAt: t0.Add(time.Second)}
		}, []ActionKind{ActWait}, ""},
		{"LeaseExpired_BestCandidate_Acquires", func(o *Observation) {
			o.Lease = LeaseView{Expired: true}
		}, []ActionKind{ActAcquire}, ""},
		{"LeaseExpired_MoreAdvancedReplica_Waits", func(o *Observation) {
			o.Lease = LeaseView{Expired: true}
			o.PG.WALPosition = 800
		}, []ActionKind{ActWait}, ""},
		{"LeaseExpired_MoreAdvancedReplicaDead_Acquires", func(o *Observation) {
			o.Lease = LeaseView{Expired: true}
			o.PG.WALPosition = 950
			m := o.State.Members["n3"]
			m.WALPosition = 1000
			o.State.Members["n3"] = m
			delete(o.LiveMembers, "n3")
		}, []ActionKind{ActAcquire}, ""},
		{"LeaseExpired_EqualPosition_LowerNameWins", func(o *Observation) {
			o.Self = "n3"
			o.Lease = LeaseView{Expired: true}
		}, []ActionKind{ActWait}, ""},
		{"LeaseExpired_HigherFailoverPriorityWins", func(o *Observation) {
			o.Lease = LeaseView{Expired: true}
			m := o.State.Members["n3"]
			m.WALPosition = 1000
			m.Tags = map[string]any{"failover_priority": float64(5)}
			o.State.Members["n3"] = m
		}, []ActionKind{ActWait}, ""},
		{"LeaseExpired_NoFailover_Waits", func(o *Observation) {
			o.Lease = LeaseView{Expired: true}
			o.Tags.NoFailover = true
		}, []ActionKind{ActWait}, ""},
		{"LeaseExpired_TooMuchLag_Waits", func(o *Observation) {
			o.Lease = LeaseView{Expired: true}
			o.Config.MaximumLagOnFailover = 10
			o.PG.WALPosition = 500
			delete(o.LiveMembers, "n3")
		}, []ActionKind{ActWait}, ""},
		{"LeaseExpired_SyncModeNotSyncStandby_Waits", func(o *Observation) {
			o.Lease = LeaseView{Expired: true}
			o.Config.SynchronousMode = true
			o.State.Sync = fsm.Sync{Leader: "n1", Members: []string{"n3"}}
		}, []ActionKind{ActWait}, ""},
		{"LeaseExpired_SyncModeSyncStandby_AcquiresEvenIfBehindAsync", func(o *Observation) {
			o.Self = "n3"
			o.PG.WALPosition = 900
			o.Lease = LeaseView{Expired: true}
			o.Config.SynchronousMode = true
			o.State.Sync = fsm.Sync{Leader: "n1", Members: []string{"n3"}}
		}, []ActionKind{ActAcquire}, ""},
		{"NoLeader_PostgresStopped_StartsAsStandbyFirst", func(o *Observation) {
			o.State.Leader = nil
			o.PG.Running = false
		}, []ActionKind{ActStartReplica}, ""},
		{"NoLeader_RunningPrimaryWithoutKey_Acquires", func(o *Observation) {
			o.State.Leader = nil
			o.PG.InRecovery = false
			delete(o.LiveMembers, "n1")
		}, []ActionKind{ActAcquire}, ""},
		{"ExpiredKeyOfOther_LocalPrimaryWritable_Fences", func(o *Observation) {
			o.Lease = LeaseView{Expired: true}
			o.PG.InRecovery = false
		}, []ActionKind{ActFence}, ""},
		{"Paused_Replica_DoesNothing", func(o *Observation) {
			o.Config.Pause = true
			o.PG.Running = false
		}, []ActionKind{ActWait}, ""},
		{"Paused_LeaseExpired_NoElection", func(o *Observation) {
			o.Config.Pause = true
			o.Lease = LeaseView{Expired: true}
		}, []ActionKind{ActWait}, ""},
		{"Paused_Holder_KeepsRenewing", func(o *Observation) {
			o.Config.Pause = true
			o.Self = "n1"
			o.PG.InRecovery = false
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRenew}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := scenario()
			tc.modify(&o)
			before := o.State.Clone()
			p := Decide(o)
			if got := p.Kinds(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan %v (%s), want %v", got, p.Reason, tc.want)
			}
			if p.Reason == "" {
				t.Error("plan has no reason")
			}
			if tc.target != "" && p.Actions[0].Target.Name != tc.target {
				t.Errorf("target %q, want %q", p.Actions[0].Target.Name, tc.target)
			}
			if !reflect.DeepEqual(before, o.State.Clone()) {
				t.Error("Decide mutated its input")
			}
		})
	}
}

func TestDecide_AcquireCarriesObservedLeaderIndex(t *testing.T) {
	o := scenario()
	o.Lease = LeaseView{Expired: true}
	p := Decide(o)
	if p.Actions[0].ExpectIndex != o.State.LeaderIndex {
		t.Fatalf("ExpectIndex %d, want %d", p.Actions[0].ExpectIndex, o.State.LeaderIndex)
	}
}

func setMember(o *Observation, name string, edit func(m *fsm.Member)) {
	m := o.State.Members[name]
	edit(&m)
	o.State.Members[name] = m
}

func TestDecide_ClonefromReplica_NewReplicaStillFollowsTheLeader(t *testing.T) {
	o := scenario()
	o.PG = PGStatus{DataDir: DataDirEmpty}
	setMember(&o, "n3", func(m *fsm.Member) { m.Tags = map[string]any{"clonefrom": true} })
	p := Decide(o)
	if len(p.Actions) != 2 || p.Actions[0].Target.Name != "n3" || p.Actions[1].Kind != ActStartReplica || p.Actions[1].Target.Name != "n1" {
		t.Fatalf("plan %+v, want clone from n3 then start following n1", p.Actions)
	}
}
