package ha

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// switchoverScenario is scenario() seen from the holder n1, every member at
// the hand-over's protocol level, with a switchover to n2 requested.
func switchoverScenario() Observation {
	o := scenario()
	o.Self = "n1"
	o.PG = PGStatus{DataDir: DataDirValid, SystemID: "7000", Running: true, Timeline: 1, WALPosition: 1000,
		Replicas: []Replica{{Name: "n2", State: "streaming", SyncState: "async"}, {Name: "n3", State: "streaming", SyncState: "async"}}}
	o.Lease = LeaseView{Held: true, Valid: true}
	for n, m := range o.State.Members {
		m.Protocol = fsm.Protocol
		o.State.Members[n] = m
	}
	o.State.Pending = &fsm.Pending{Kind: "switchover", Leader: "n1", Candidate: "n2", RequestedAt: t0}
	o.PendingDueSince = t0
	return o
}

// handedOver is the state right after n1 handed the key to n2 at LSN 1000,
// seen from n2 (a standby that has every byte) at t0, the hand-over seen at t0.
func handedOver() Observation {
	o := scenario()
	o.State.Leader = nil
	o.State.LeaderIndex = 50
	o.State.Pending = &fsm.Pending{Kind: "switchover", Leader: "n1", Candidate: "n2", RequestedAt: t0, HandedOverIndex: 50, CheckpointLSN: 1000}
	o.PG.WALPosition = 1040
	o.PG.Streaming = false
	o.KeyChangedAt = t0
	return o
}

func TestDecide_Switchover(t *testing.T) {
	later := t0.Add(time.Minute)
	cases := []struct {
		name   string
		obs    func() Observation
		modify func(o *Observation)
		want   []ActionKind
		target string
	}{
		{"Holder_CandidateStreaming_HandsOver", switchoverScenario, nil, []ActionKind{ActRenew, ActHandOver}, "n2"},
		{"Holder_NoCandidateNamed_PicksTheMostAdvanced", switchoverScenario, func(o *Observation) {
			o.State.Pending.Candidate = ""
			m := o.State.Members["n3"]
			m.WALPosition = 1000
			o.State.Members["n3"] = m
			m = o.State.Members["n2"]
			m.WALPosition = 990
			o.State.Members["n2"] = m
		}, []ActionKind{ActRenew, ActHandOver}, "n3"},
		{"Holder_NoCandidateNamed_PicksOneStreamingFromIt", switchoverScenario, func(o *Observation) {
			o.State.Pending.Candidate = ""
			setMember(o, "n3", func(m *fsm.Member) { m.WALPosition = 1000 })
			setMember(o, "n2", func(m *fsm.Member) { m.WALPosition = 990 })
			o.PG.Replicas = o.PG.Replicas[:1] // n3's record says streaming; its WAL receiver dropped
		}, []ActionKind{ActRenew, ActHandOver}, "n2"},
		{"Holder_CandidateRecordStreamingButNotConnected_WaitsForItToConnect", switchoverScenario, func(o *Observation) {
			o.PG.Replicas = o.PG.Replicas[1:]
			o.Now = t0.Add(fsm.HandOverConnectWait - time.Millisecond)
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_CandidateConnectingNotYetStreaming_Waits", switchoverScenario, func(o *Observation) {
			o.PG.Replicas[0].State = "catchup"
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_CandidateNotConnectedWithinTheGrace_Cancels", switchoverScenario, func(o *Observation) {
			o.PG.Replicas = o.PG.Replicas[1:]
			o.Now = t0.Add(fsm.HandOverConnectWait)
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_ScheduledCandidateNotConnected_WaitCountsFromWhenItBecameDue", switchoverScenario, func(o *Observation) {
			o.State.Pending.ScheduledAt = &later
			o.PG.Replicas = o.PG.Replicas[1:]
			o.Now, o.PendingDueSince = later.Add(time.Second), later
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_RequesterClockAhead_WaitCountsOnThisNodesClock", switchoverScenario, func(o *Observation) {
			o.State.Pending.RequestedAt = t0.Add(time.Hour)
			o.PG.Replicas = o.PG.Replicas[1:]
			o.Now = t0.Add(fsm.HandOverConnectWait)
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_RequesterClockBehind_StillWaitsOnThisNodesClock", switchoverScenario, func(o *Observation) {
			o.State.Pending.RequestedAt = t0.Add(-time.Hour)
			o.PG.Replicas = o.PG.Replicas[1:]
			o.Now = t0.Add(time.Second)
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_PausedFailoverCandidateNotConnected_WaitsWithoutChangingAnything", switchoverScenario, func(o *Observation) {
			o.Config.Pause = true
			o.State.Pending.Kind, o.State.Pending.Leader = "failover", ""
			o.PG.Replicas = o.PG.Replicas[1:]
		}, []ActionKind{ActRenew}, ""},
		{"Holder_ScheduledLater_DoesNothingYet", switchoverScenario, func(o *Observation) {
			o.State.Pending.ScheduledAt = &later
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_ScheduledTimeReached_HandsOver", switchoverScenario, func(o *Observation) {
			o.State.Pending.ScheduledAt = &later
			o.Now = later
		}, []ActionKind{ActRenew, ActHandOver}, "n2"},
		{"Holder_CandidateRecordRunningAndNotConnected_WaitsForItToConnect", switchoverScenario, func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.State = "running" }) // its WAL receiver reconnects
			o.PG.Replicas = o.PG.Replicas[1:]
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_CandidateNotStreamingWithinTheGrace_Cancels", switchoverScenario, func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.State = "running" })
			o.PG.Replicas = o.PG.Replicas[1:]
			o.Now = t0.Add(fsm.HandOverConnectWait)
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_CandidateRecordRunning_StreamingAfterAReconnectionSeenHere_HandsOver", switchoverScenario, func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.State = "running" }) // reported just before it connected
			o.PendingUnconnected = map[string]bool{"n2": true}
		}, []ActionKind{ActRenew, ActHandOver}, "n2"},
		{"Holder_CandidateRecordRunning_StreamingRowNeverSeenGone_WaitsForItsReport", switchoverScenario, func(o *Observation) {
			// A row can outlive a connection broken without a reset.
			setMember(o, "n2", func(m *fsm.Member) { m.State = "running" })
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_CandidateRecordRunning_StreamingRowNeverSeenGone_CancelsAfterTheWait", switchoverScenario, func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.State = "running" })
			o.Now = t0.Add(fsm.HandOverConnectWait)
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_CandidateRecordRunning_LongLoopWait_WaitsForItsNextReport", switchoverScenario, func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.State = "running" })
			o.Config.LoopWait = 10
			o.Now = t0.Add(10*time.Second + lagReportGrace - time.Millisecond)
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_NoCandidateNamed_ConnectedRunningRecordBeatsAMoreAdvancedStreamingRecord", switchoverScenario, func(o *Observation) {
			o.State.Pending.Candidate = ""
			setMember(o, "n2", func(m *fsm.Member) { m.State, m.WALPosition = "running", 990 })
			setMember(o, "n3", func(m *fsm.Member) { m.WALPosition = 1000 })
			o.PG.Replicas = o.PG.Replicas[:1]
			o.PendingUnconnected = map[string]bool{"n2": true}
		}, []ActionKind{ActRenew, ActHandOver}, "n2"},
		{"Holder_NoCandidateNamed_NoneConnected_WaitsForTheBestStreamingRecord", switchoverScenario, func(o *Observation) {
			o.State.Pending.Candidate = ""
			o.PG.Replicas = nil
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_CandidateStopped_Cancels", switchoverScenario, func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.State = "stopped" })
			o.PG.Replicas = o.PG.Replicas[1:]
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_NoCandidateNamed_NoneStreamingByRecordOrConnection_Cancels", switchoverScenario, func(o *Observation) {
			o.State.Pending.Candidate = ""
			setMember(o, "n2", func(m *fsm.Member) { m.State = "running" })
			setMember(o, "n3", func(m *fsm.Member) { m.State = "running" })
			o.PG.Replicas = nil
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_CandidateSilent_Cancels", switchoverScenario, func(o *Observation) {
			delete(o.LiveMembers, "n2")
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_CandidateNoFailover_Cancels", switchoverScenario, func(o *Observation) {
			m := o.State.Members["n2"]
			m.Tags = map[string]any{"nofailover": true}
			o.State.Members["n2"] = m
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_CandidateLags_Cancels", switchoverScenario, func(o *Observation) {
			o.Config.MaximumLagOnFailover = 10
			m := o.State.Members["n2"]
			m.WALPosition = 500
			o.State.Members["n2"] = m
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_CandidateLagsAgainstANewerReportOfThisNode_WaitsForItsNextReport", switchoverScenario, func(o *Observation) {
			o.Config.MaximumLagOnFailover = 10
			setMember(o, "n2", func(m *fsm.Member) { m.WALPosition, m.UpdatedIndex = 500, 30 })
			setMember(o, "n1", func(m *fsm.Member) { m.UpdatedIndex = 38 })
		}, []ActionKind{ActRenew, ActSyncSlots}, ""},
		{"Holder_CandidateLagsInAReportNewerThanThisNodes_Cancels", switchoverScenario, func(o *Observation) {
			o.Config.MaximumLagOnFailover = 10
			setMember(o, "n2", func(m *fsm.Member) { m.WALPosition, m.UpdatedIndex = 500, 39 })
			setMember(o, "n1", func(m *fsm.Member) { m.UpdatedIndex = 38 })
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_CandidateLagsAndNoNewReportWithinLoopWait_Cancels", switchoverScenario, func(o *Observation) {
			o.Config.MaximumLagOnFailover = 10
			setMember(o, "n2", func(m *fsm.Member) { m.WALPosition, m.UpdatedIndex = 500, 30 })
			setMember(o, "n1", func(m *fsm.Member) { m.UpdatedIndex = 38 })
			o.Now = t0.Add(time.Duration(o.Config.LoopWait)*time.Second + lagReportGrace)
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_PausedFailoverCandidateLagsAgainstANewerReport_WaitsWithoutChangingAnything", switchoverScenario, func(o *Observation) {
			o.Config.Pause, o.Config.MaximumLagOnFailover = true, 10
			o.State.Pending.Kind, o.State.Pending.Leader = "failover", ""
			setMember(o, "n2", func(m *fsm.Member) { m.WALPosition, m.UpdatedIndex = 500, 30 })
			setMember(o, "n1", func(m *fsm.Member) { m.UpdatedIndex = 38 })
		}, []ActionKind{ActRenew}, ""},
		{"Holder_CandidateLagsAndIsNotStreaming_CancelsAtOnce", switchoverScenario, func(o *Observation) {
			o.Config.MaximumLagOnFailover = 10
			setMember(o, "n2", func(m *fsm.Member) { m.WALPosition, m.UpdatedIndex, m.State = 500, 30, "running" })
			setMember(o, "n1", func(m *fsm.Member) { m.UpdatedIndex = 38 })
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_SynchronousMode_CandidateNotRecorded_Cancels", switchoverScenario, func(o *Observation) {
			o.Config.SynchronousMode = true
			o.State.Sync = fsm.Sync{Leader: "n1", Members: []string{"n3"}}
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_SynchronousMode_CandidateRecorded_HandsOver", switchoverScenario, func(o *Observation) {
			o.Config.SynchronousMode = true
			o.State.Sync = fsm.Sync{Leader: "n1", Members: []string{"n2"}}
		}, []ActionKind{ActRenew, ActHandOver}, "n2"},
		{"Holder_RequestForAnotherLeader_Cancels", switchoverScenario, func(o *Observation) {
			o.State.Pending.Leader = "n3"
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_Paused_SwitchoverCancelled", switchoverScenario, func(o *Observation) {
			o.Config.Pause = true
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_Paused_FailoverWithLeaderRunning_HandsOver", switchoverScenario, func(o *Observation) {
			o.Config.Pause = true
			o.State.Pending.Kind = "failover"
			o.State.Pending.Leader = ""
		}, []ActionKind{ActRenew, ActHandOver}, "n2"},
		{"Holder_OlderAgentListed_Cancels", switchoverScenario, func(o *Observation) {
			m := o.State.Members["n3"]
			m.Protocol = fsm.ProtocolTenureHistory
			o.State.Members["n3"] = m
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_FailedBefore_Cancels", switchoverScenario, func(o *Observation) {
			o.PendingFailed = true
		}, []ActionKind{ActRenew, ActClearPending}, ""},
		{"Holder_PostgreSQLDown_RecoversFirst", switchoverScenario, func(o *Observation) {
			o.PG.Running = false
		}, []ActionKind{ActRecoverPrimary}, ""},
		{"Holder_LeaseNotTrusted_RenewsFirst", switchoverScenario, func(o *Observation) {
			o.Lease.Valid = false
		}, []ActionKind{ActRenew}, ""},
		{"NewHolder_HandedOverToIt_ClearsTheRequest", switchoverScenario, func(o *Observation) {
			o.State.Pending = &fsm.Pending{Kind: "switchover", Leader: "n3", Candidate: "n1", HandedOverIndex: 9, CheckpointLSN: 5}
		}, []ActionKind{ActRenew, ActClearPending}, ""},

		{"Candidate_HasTheCheckpoint_TakesTheKey", handedOver, nil, []ActionKind{ActAcquire}, ""},
		{"Candidate_NotThereYet_Waits", handedOver, func(o *Observation) {
			o.PG.WALPosition = 1000 // the checkpoint record starts here: not received
		}, []ActionKind{ActWait}, ""},
		{"Candidate_NotThereAfterTheWindow_UsualElection", handedOver, func(o *Observation) {
			o.PG.WALPosition = 1000
			o.Now = t0.Add(4 * time.Second)
			m := o.State.Members["n1"] // the old primary did not come back
			m.State = "stopped"
			o.State.Members["n1"] = m
		}, []ActionKind{ActAcquire}, ""},
		{"Candidate_NoFailoverSince_UsualElection", handedOver, func(o *Observation) {
			o.Tags.NoFailover = true
		}, []ActionKind{ActWait}, ""},
		{"Candidate_SynchronousModeNotRecorded_DoesNotTakeIt", handedOver, func(o *Observation) {
			o.Config.SynchronousMode = true
			o.State.Sync = fsm.Sync{Leader: "n1", Members: []string{"n3"}}
		}, []ActionKind{ActWait}, ""},
		{"Other_InTheWindow_HoldsBack", handedOver, func(o *Observation) {
			o.Self = "n3"
			o.PG.WALPosition = 2000 // even more advanced: still the candidate's turn
		}, []ActionKind{ActWait}, ""},
		{"Other_AfterTheWindow_UsualElection", handedOver, func(o *Observation) {
			o.Self = "n3"
			o.PG.WALPosition = 2000
			o.Now = t0.Add(4 * time.Second)
		}, []ActionKind{ActAcquire}, ""},
		{"OldPrimary_Stopped_StartsAsStandbyOfTheCandidate", handedOver, func(o *Observation) {
			o.Self = "n1"
			o.PG = PGStatus{DataDir: DataDirValid, SystemID: "7000", Timeline: 1}
		}, []ActionKind{ActStartReplica}, "n2"},
		// The candidate took the handed-over key and gave it back (its
		// pre_promote vetoed): the hand-over is used up. Before, the window
		// began again at every such release while the candidate's own
		// backoff (one ttl from the veto) ended just before it, so with a
		// script that kept vetoing the candidate took the key back every
		// ttl and the others never got it: no primary for as long.
		{"Other_CandidateTookAndGaveBackTheKey_UsualElection", handedOver, func(o *Observation) {
			o.Self = "n3"
			o.PG.WALPosition = 2000
			o.State.LeaderIndex = 57 // acquired at 52, released at 57
		}, []ActionKind{ActAcquire}, ""},
		{"Candidate_TookAndGaveBackTheKey_NoSecondHandOverTurn", handedOver, func(o *Observation) {
			o.State.LeaderIndex = 57
			m := o.State.Members["n3"] // a better candidate reports
			m.WALPosition = 5000
			m.State = "streaming"
			o.State.Members["n3"] = m
		}, []ActionKind{ActWait}, ""},
		{"KeyTakenAfterTheHandOver_Follows", handedOver, func(o *Observation) {
			o.Self = "n1"
			o.State.Leader = &fsm.Leader{Member: "n2", Epoch: 51, TTL: 3}
			o.PG.Following = "n2"
			o.PG.Streaming = true
		}, []ActionKind{ActWait}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.obs()
			if tc.modify != nil {
				tc.modify(&o)
			}
			before := o.State.Clone()
			p := Decide(o)
			if !reflect.DeepEqual(p.Kinds(), tc.want) {
				t.Fatalf("plan %v (%s), want %v", p.Kinds(), p.Reason, tc.want)
			}
			if tc.target != "" {
				var got string
				for _, a := range p.Actions {
					if a.Target.Name != "" {
						got = a.Target.Name
					}
				}
				if got != tc.target {
					t.Errorf("target %q, want %q (%s)", got, tc.target, p)
				}
			}
			if !reflect.DeepEqual(before, o.State.Clone()) {
				t.Error("Decide mutated the state")
			}
		})
	}
}

// failoverScenario: n1's lease ran out (paused or not), a failover to n2 is
// requested, seen from n2.
func failoverScenario() Observation {
	o := scenario()
	o.Lease = LeaseView{Expired: true}
	o.PG.Streaming = false
	o.State.Pending = &fsm.Pending{Kind: "failover", Candidate: "n2", RequestedAt: t0}
	return o
}

func TestDecide_ManualFailover(t *testing.T) {
	cases := []struct {
		name   string
		modify func(o *Observation)
		want   []ActionKind
	}{
		{"Candidate_LeaseExpired_TakesTheKey", nil, []ActionKind{ActAcquire}},
		{"Candidate_Paused_TakesTheKey", func(o *Observation) { o.Config.Pause = true }, []ActionKind{ActAcquire}},
		{"Candidate_EvenWhenAnotherIsMoreAdvanced", func(o *Observation) {
			m := o.State.Members["n3"]
			m.WALPosition = 5000
			o.State.Members["n3"] = m
		}, []ActionKind{ActAcquire}},
		{"Candidate_LeaseNotExpiredYet_NeverSooner", func(o *Observation) { o.Lease = LeaseView{} }, []ActionKind{ActWait}},
		{"Candidate_SynchronousModeNotRecorded_Cancels", func(o *Observation) {
			o.Config.SynchronousMode = true
			o.State.Sync = fsm.Sync{Leader: "n1", Members: []string{"n3"}}
		}, []ActionKind{ActClearPending}},
		{"Candidate_NoFailover_Cancels", func(o *Observation) { o.Tags.NoFailover = true }, []ActionKind{ActClearPending}},
		{"Candidate_FailsafeHeartbeatFromTheHolder_NoTakeover", func(o *Observation) {
			o.FailsafeLeader = "n1"
		}, []ActionKind{ActWait}},
		{"Other_CandidateReports_HoldsBack", func(o *Observation) {
			o.Self = "n3"
			o.PG.WALPosition = 5000
		}, []ActionKind{ActWait}},
		{"Other_CandidateSilent_UsualElection", func(o *Observation) {
			o.Self = "n3"
			o.PG.WALPosition = 5000
			delete(o.LiveMembers, "n2")
		}, []ActionKind{ActAcquire}},
		// The candidate's agent reports, but its PostgreSQL is down (crashed
		// after the request, cannot start, being cloned): holding back
		// while it merely reports left the cluster without a primary
		// until an operator overrode the request (DELETE refuses an
		// unscheduled one).
		{"Other_CandidateReportsPostgresStopped_UsualElection", func(o *Observation) {
			o.Self = "n3"
			o.PG.WALPosition = 5000
			m := o.State.Members["n2"]
			m.State = "stopped"
			o.State.Members["n2"] = m
		}, []ActionKind{ActAcquire}},
		{"Other_CandidateReportsNoFailoverSince_UsualElection", func(o *Observation) {
			o.Self = "n3"
			o.PG.WALPosition = 5000
			m := o.State.Members["n2"]
			m.Tags = map[string]any{"nofailover": true}
			o.State.Members["n2"] = m
		}, []ActionKind{ActAcquire}},
		{"Other_Paused_CandidateSilent_HandsOff", func(o *Observation) {
			o.Self = "n3"
			o.Config.Pause = true
			delete(o.LiveMembers, "n2")
		}, []ActionKind{ActWait}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := failoverScenario()
			if tc.modify != nil {
				tc.modify(&o)
			}
			if p := Decide(o); !reflect.DeepEqual(p.Kinds(), tc.want) {
				t.Fatalf("plan %v (%s), want %v", p.Kinds(), p.Reason, tc.want)
			}
		})
	}
}

func TestNextTurnAfterPending(t *testing.T) {
	o := handedOver()
	if got := nextTurnAfterPending(o, time.Second); got != handOverRecheck {
		t.Errorf("candidate waits %v, want %v", got, handOverRecheck)
	}
	o.Self = "n3"
	o.Now = t0.Add(2 * time.Second)
	if got := nextTurnAfterPending(o, 5*time.Second); got != time.Second+10*time.Millisecond {
		t.Errorf("other member waits %v, want the end of the window", got)
	}
	o.Now = t0.Add(10 * time.Second)
	if got := nextTurnAfterPending(o, time.Second); got != time.Second {
		t.Errorf("after the window %v, want loop_wait", got)
	}
}

func TestWakeFor(t *testing.T) {
	base := scenario().State
	cases := []struct {
		name string
		edit func(s *fsm.State)
		want bool
	}{
		{"renewal", func(s *fsm.State) { s.LeaderIndex++; s.Leader.RenewedAt = t0.Add(time.Second) }, false},
		{"replica report", func(s *fsm.State) { m := s.Members["n3"]; m.WALPosition++; s.Members["n3"] = m }, false},
		{"leader report without news", func(s *fsm.State) { m := s.Members["n1"]; m.WALPosition++; s.Members["n1"] = m }, false},
		{"key released", func(s *fsm.State) { s.Leader = nil }, true},
		{"key taken by another tenure", func(s *fsm.State) { s.Leader = &fsm.Leader{Member: "n1", Epoch: 99} }, true},
		{"switchover requested", func(s *fsm.State) { s.Pending = &fsm.Pending{Kind: "switchover", Leader: "n1"} }, true},
		{"configuration changed", func(s *fsm.State) { s.ConfigIndex++ }, true},
		{"leader now running on a new timeline", func(s *fsm.State) { m := s.Members["n1"]; m.Timeline = 2; s.Members["n1"] = m }, true},
		{"member joined", func(s *fsm.State) { s.Members["n4"] = fsm.Member{Name: "n4"} }, true},
		{"member removed", func(s *fsm.State) { delete(s.Members, "n3") }, true},
		{"member replaced by another name", func(s *fsm.State) { delete(s.Members, "n3"); s.Members["n4"] = fsm.Member{Name: "n4"} }, true},
	}
	for _, tc := range cases {
		cur := base.Clone()
		tc.edit(&cur)
		if got := wakeFor(base, cur); got != tc.want {
			t.Errorf("%s: wakeFor = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// handOverPG is a fakePG that can stop for a hand-over.
type handOverPG struct {
	*fakePG
	lsn     uint64
	stopErr error
	during  func() // called while the clean shutdown runs
}

func (p *handOverPG) StopForHandOver(context.Context) (uint64, error) {
	p.record("stop-for-hand-over")
	if p.during != nil {
		p.during()
	}
	if p.stopErr != nil {
		return 0, p.stopErr
	}
	p.mu.Lock()
	p.st.Running = false
	p.mu.Unlock()
	return p.lsn, nil
}

// newSwitchoverLeader is a leader n1 (through the loop) with a streaming
// replica n2 at the current protocol level and a switchover to n2 requested.
func newSwitchoverLeader(t *testing.T, stopErr error) (*Loop, *fakeCluster, *handOverPG) {
	t.Helper()
	c, base, clock := newFakeCluster(), &fakePG{st: PGStatus{DataDir: DataDirMissing}}, &fakeClock{now: t0}
	pg := &handOverPG{fakePG: base, lsn: 0x3000060, stopErr: stopErr}
	l := New(Config{Name: "n1", Clock: clock, Boottime: fakeBoottime(clock)}, c, pg)
	ctx := context.Background()
	if _, err := l.turn(ctx); err != nil || c.State().LeaderName() != "n1" {
		t.Fatalf("bootstrap: %v, leader %q", err, c.State().LeaderName())
	}
	c.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "n2", Host: "127.0.0.1", Port: 5433, Role: fsm.RoleReplica,
		State: "streaming", Timeline: 1, Protocol: fsm.Protocol}})
	base.setReplicas(Replica{Name: "n2", State: "streaming"})
	l.observe(ctx) // n2 reports: live
	c.Propose(ctx, fsm.SetPending{Pending: fsm.Pending{Kind: "switchover", Leader: "n1", Candidate: "n2", RequestedAt: t0}})
	return l, c, pg
}

// setReplicas sets the primary's pg_stat_replication rows.
func (p *fakePG) setReplicas(rows ...Replica) {
	p.mu.Lock()
	p.st.Replicas = rows
	p.mu.Unlock()
}

// A candidate whose record says streaming although its WAL receiver is
// not connected (the primary restarted a moment ago) would not receive the
// shutdown checkpoint: seen in `make demo`, the candidate never promoted
// and a ttl later the old primary took the key back on a new timeline. The
// holder waits, looking again soon, and hands over once the candidate
// streams from it.
func TestLoop_Switchover_CandidateNotConnected_WaitsThenHandsOverOnceItStreams(t *testing.T) {
	l, c, pg := newSwitchoverLeader(t, nil)
	pg.setReplicas()
	next, err := l.turn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pg.called("stop-for-hand-over") || c.State().Pending == nil || c.State().Pending.HandedOver() {
		t.Fatalf("stopped or handed over although n2 is not connected: calls %v, pending %+v", pg.calls, c.State().Pending)
	}
	if next > connectRecheck {
		t.Errorf("next turn in %v while waiting for the candidate to connect, want at most %v", next, connectRecheck)
	}
	pg.setReplicas(Replica{Name: "n2", State: "streaming"})
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := c.State(); !pg.called("stop-for-hand-over") || st.Pending == nil || !st.Pending.HandedOver() {
		t.Fatalf("n2 streams now but no hand-over: calls %v, pending %+v", pg.calls, st.Pending)
	}
}

func TestLoop_Switchover_StopsCleanlyHandsOverAndFollowsTheCandidate(t *testing.T) {
	l, c, pg := newSwitchoverLeader(t, nil)
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	if st.Leader != nil || !st.Pending.HandedOver() || st.Pending.Candidate != "n2" || st.Pending.CheckpointLSN != 0x3000060 {
		t.Fatalf("after the turn: leader %+v, pending %+v", st.Leader, st.Pending)
	}
	if l.trusted() {
		t.Error("the old primary still trusts its lease after handing the key over")
	}
	if got := pg.Observe(context.Background()); !got.Running || !got.InRecovery {
		t.Errorf("old primary's PostgreSQL %+v, want running as a standby", got)
	}
	if !pg.called("stop-for-hand-over") || pg.called("fence") {
		t.Errorf("calls %v", pg.calls)
	}
}

func TestLoop_Switchover_UncleanStop_KeepsTheKeyRestartsInPlaceAndCancels(t *testing.T) {
	l, c, pg := newSwitchoverLeader(t, errors.New("did not shut down cleanly"))
	pg.mu.Lock()
	pg.st.Running = false // the failed stop left it down
	pg.mu.Unlock()
	ctx := context.Background()
	if _, err := l.turn(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.State().LeaderName(); got != "n1" {
		t.Fatalf("leader %q after a failed hand-over, want n1", got)
	}
	l.turn(ctx) // PostgreSQL down: started in place as primary
	if got := pg.Observe(ctx); !got.Running || got.InRecovery {
		t.Fatalf("PostgreSQL %+v, want running as primary again", got)
	}
	l.turn(ctx) // the failed request is cancelled, not tried again
	if st := c.State(); st.Pending != nil || st.LeaderName() != "n1" {
		t.Fatalf("pending %+v, leader %q", st.Pending, st.LeaderName())
	}
}

func TestLoop_Switchover_RenewalCommittedMeanwhile_HandsOverOnTheNewIndex(t *testing.T) {
	l, c, _ := newSwitchoverLeader(t, nil)
	// A renewal this node sent commits after the turn read the state: the
	// compare-and-swap is retried on the index that renewal committed at.
	st := c.State()
	idx, err := c.Propose(context.Background(), fsm.RenewLeader{Member: "n1", Epoch: st.Leader.Epoch, TTL: 3})
	if err != nil {
		t.Fatal(err)
	}
	l.renewMu.Lock()
	l.keyEpoch, l.keyIndex = st.Leader.Epoch, idx
	l.renewMu.Unlock()
	o := l.observe(context.Background())
	o.State = st // the stale view the turn decided on
	if err := l.handOver(context.Background(), o, st.Members["n2"]); err != nil {
		t.Fatal(err)
	}
	if got := c.State(); got.Leader != nil || !got.Pending.HandedOver() {
		t.Fatalf("leader %+v pending %+v", got.Leader, got.Pending)
	}
}

func TestLoop_WatchState_WakesTheLoopOnARequestNotOnARenewal(t *testing.T) {
	l, c, _ := newSwitchoverLeader(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.watchState(ctx, l.cluster.Changed(), l.cluster.State())
	drain := func() {
		select {
		case <-l.wake:
		default:
		}
	}
	woken := func() bool {
		select {
		case <-l.wake:
			return true
		case <-time.After(200 * time.Millisecond):
			return false
		}
	}
	// A wake proves the watcher has a baseline: requests set until one wakes it.
	for i := 0; ; i++ {
		c.Propose(ctx, fsm.SetPending{Pending: fsm.Pending{Kind: "switchover", Leader: "n1", RequestedAt: t0.Add(time.Duration(i))}})
		if woken() {
			break
		}
		if i == 20 {
			t.Fatal("requests never woke the loop")
		}
	}
	drain()
	st := c.State()
	c.Propose(ctx, fsm.RenewLeader{Member: "n1", Epoch: st.Leader.Epoch, TTL: 3})
	if woken() {
		t.Error("a renewal woke the loop")
	}
	c.Propose(ctx, fsm.ClearPending{})
	if !woken() {
		t.Error("a cleared request did not wake the loop")
	}
}

// While the old primary shuts down for a hand-over (a fast shutdown and its
// checkpoint can take many seconds) it must not present itself as the
// primary: /primary answered 200 and the floating IP stayed on it until the
// HandOver committed, although PostgreSQL already refused connections, and
// the candidate could add the address before the old node dropped it.
func TestLoop_Switchover_WhileStoppingForTheHandOver_NotShownAsPrimaryNorHoldingTheVIP(t *testing.T) {
	l, _, pg := newSwitchoverLeader(t, nil)
	if l.PrimaryUntil().IsZero() || l.Snapshot().State != "running" {
		t.Fatalf("before: PrimaryUntil %v, state %q; want a running primary under its lease", l.PrimaryUntil(), l.Snapshot().State)
	}
	var until time.Time
	var state string
	pg.during = func() { until, state = l.PrimaryUntil(), l.Snapshot().State }
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !pg.called("stop-for-hand-over") {
		t.Fatalf("no hand-over: calls %v", pg.calls)
	}
	if !until.IsZero() || state == "running" {
		t.Errorf("during the clean shutdown: PrimaryUntil %v, state %q; want no floating IP and not running", until, state)
	}
}

// The protocol gate is read when Decide plans the hand-over, but the clean
// shutdown before the HandOver can take many seconds. A Raft server that
// joined meanwhile with an older agent (no member record at level 5) would
// stop at command 19 and again at every restart until upgraded. So the
// gate is checked again, under renewMu, right before the proposal; closed,
// nothing is handed over and the holder restarts in place next turn.
func TestLoop_Switchover_OlderServerJoinsDuringTheStop_NoHandOverProposed(t *testing.T) {
	ctx := context.Background()
	c := &serversCluster{recordingCluster: &recordingCluster{fakeCluster: newFakeCluster()},
		servers: []string{"10.0.0.1:7000", "10.0.0.2:7000"}}
	base, clock := &fakePG{st: PGStatus{DataDir: DataDirMissing}}, &fakeClock{now: t0}
	pg := &handOverPG{fakePG: base, lsn: 0x3000060}
	l := New(Config{Name: "n1", Clock: clock, Boottime: fakeBoottime(clock), Member: fsm.Member{RaftAddr: "10.0.0.1:7000"}}, c, pg)
	if _, err := l.turn(ctx); err != nil || c.State().LeaderName() != "n1" {
		t.Fatalf("bootstrap: %v, leader %q", err, c.State().LeaderName())
	}
	c.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "n2", Host: "127.0.0.1", Port: 5433, Role: fsm.RoleReplica,
		State: "streaming", Timeline: 1, Protocol: fsm.Protocol, RaftAddr: "10.0.0.2:7000"}})
	base.setReplicas(Replica{Name: "n2", State: "streaming"})
	l.observe(ctx)
	c.Propose(ctx, fsm.SetPending{Pending: fsm.Pending{Kind: "switchover", Leader: "n1", Candidate: "n2", RequestedAt: t0}})
	pg.during = func() { c.servers = append(c.servers, "10.0.0.9:7000") } // joins while PostgreSQL stops
	l.turn(ctx)
	if !pg.called("stop-for-hand-over") {
		t.Fatalf("setup: no hand-over was started (calls %v)", pg.calls)
	}
	if c.proposed(fsm.CmdHandOver) {
		t.Error("HandOver (19) proposed although a Raft server without a level-5 member record had joined: that agent stops at it")
	}
	if got := c.State().LeaderName(); got != "n1" {
		t.Errorf("leader %q, want n1 (nothing handed over)", got)
	}
}

// The wait for a candidate counts from when the holder, able to carry the
// request out, first found it due, on its own clock, whatever time the
// answering node wrote; it remembers who it saw without a streaming row.
func TestPendingDue_CountsFromFirstSeenDueOnThisClock_RemembersUnconnected(t *testing.T) {
	var d pendingDue
	later := t0.Add(time.Minute)
	st := scenario().State
	both := PGStatus{Running: true, Replicas: []Replica{{Name: "n2", State: "streaming"}, {Name: "n3", State: "streaming"}}}
	onlyN3 := PGStatus{Running: true, Replicas: []Replica{{Name: "n3", State: "streaming"}}}
	p := &fsm.Pending{Kind: "switchover", Leader: "n1", RequestedAt: t0.Add(time.Hour), ScheduledAt: &later}
	if got, _ := d.observe(p, st, "n1", both, true, t0); !got.IsZero() {
		t.Fatalf("not due yet: since %v, want zero", got)
	}
	if got, _ := d.observe(p, st, "n1", PGStatus{}, false, later); !got.IsZero() {
		t.Fatalf("due but this primary is down: since %v, want zero (not started)", got)
	}
	if got, unc := d.observe(p, st, "n1", onlyN3, true, later.Add(time.Second)); !got.Equal(later.Add(time.Second)) || !unc["n2"] || unc["n3"] {
		t.Fatalf("due and able: since %v, unconnected %v; want %v and n2 only", got, unc, later.Add(time.Second))
	}
	if got, unc := d.observe(p, st, "n1", both, true, later.Add(5*time.Second)); !got.Equal(later.Add(time.Second)) || !unc["n2"] {
		t.Fatalf("seen again: since %v, unconnected %v; want the first time and n2 still remembered", got, unc)
	}
	next := &fsm.Pending{Kind: "switchover", Leader: "n1", RequestedAt: t0.Add(2 * time.Hour)}
	if got, unc := d.observe(next, st, "n1", both, true, later.Add(6*time.Second)); !got.Equal(later.Add(6*time.Second)) || len(unc) != 0 {
		t.Fatalf("another request: since %v, unconnected %v; want when it was first seen and nobody", got, unc)
	}
	if got, _ := d.observe(nil, st, "n1", both, true, later.Add(7*time.Second)); !got.IsZero() {
		t.Fatalf("no request: since %v, want zero", got)
	}
}

// A holder that never saw the request due while able to act (the
// observation did not say since when) does not wait: a wait without a
// start would never end.
func TestDecide_Switchover_NoDueTime_CandidateNotConnected_Cancels(t *testing.T) {
	o := switchoverScenario()
	o.PendingDueSince = time.Time{}
	o.PG.Replicas = o.PG.Replicas[1:]
	if p := Decide(o); !reflect.DeepEqual(p.Kinds(), []ActionKind{ActRenew, ActClearPending}) {
		t.Fatalf("plan %v (%s), want renew and clear-pending", p.Kinds(), p.Reason)
	}
}

// The holder waits for a candidate that never connects for
// fsm.HandOverConnectWait on its own clock from when it first saw the
// request due, then cancels it; PostgreSQL is never stopped.
func TestLoop_Switchover_CandidateNeverConnects_CancelledAfterTheWait(t *testing.T) {
	l, c, pg := newSwitchoverLeader(t, nil)
	clock := l.cfg.Clock.(*fakeClock)
	pg.setReplicas()
	start := clock.Now()
	for c.State().Pending != nil {
		if clock.Now().Sub(start) > fsm.HandOverConnectWait+time.Second {
			t.Fatalf("still pending %v after the request became due", clock.Now().Sub(start))
		}
		c.Propose(context.Background(), fsm.UpsertMember{Member: fsm.Member{Name: "n2", Host: "127.0.0.1", Port: 5433,
			Role: fsm.RoleReplica, State: "streaming", Timeline: 1, Protocol: fsm.Protocol}}) // n2 keeps reporting
		if _, err := l.turn(context.Background()); err != nil {
			t.Fatal(err)
		}
		if c.State().Pending != nil && clock.Now().Sub(start) >= fsm.HandOverConnectWait {
			t.Fatalf("still pending %v after it became due, want cancelled at %v", clock.Now().Sub(start), fsm.HandOverConnectWait)
		}
		clock.advance(500 * time.Millisecond)
	}
	if waited := clock.Now().Sub(start); waited < fsm.HandOverConnectWait {
		t.Errorf("cancelled after %v, want a wait of %v", waited, fsm.HandOverConnectWait)
	}
	if pg.called("stop-for-hand-over") {
		t.Error("PostgreSQL was stopped for a candidate that never connected")
	}
}

// A failed read of PostgreSQL lists no pg_stat_replication rows: that is
// not "seen unconnected", so a left-over row whose member's record says
// running does not count as a reconnection on the next good read.
func TestLoop_Switchover_FailedStatusRead_IsNotAReconnection(t *testing.T) {
	l, c, pg := newSwitchoverLeader(t, nil)
	ctx := context.Background()
	c.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "n2", Host: "127.0.0.1", Port: 5433, Role: fsm.RoleReplica,
		State: "running", Timeline: 1, Protocol: fsm.Protocol}})
	failedReadThenStreaming(t, l, c, pg, errors.New("canceling statement due to statement timeout"))
	if pg.called("stop-for-hand-over") {
		t.Fatal("handed over on a row never seen gone (only a failed read listed none) while n2's record says running")
	}
}

// The turn woken by a new request is the one a loaded primary can fail to
// answer: a failed status read starts the wait rather than cancelling a
// request whose candidate streams, and the next good read hands over.
func TestLoop_Switchover_FailedStatusReadOnTheFirstTurn_WaitsThenHandsOver(t *testing.T) {
	l, c, pg := newSwitchoverLeader(t, nil)
	failedReadThenStreaming(t, l, c, pg, errors.New("sorry, too many clients already"))
	if !pg.called("stop-for-hand-over") {
		t.Fatalf("n2 streams and its record says so, but no hand-over: pending %+v", c.State().Pending)
	}
}

// failedReadThenStreaming runs a turn whose status read fails with readErr
// (no pg_stat_replication rows), checks the request still waits, then a
// turn whose read lists n2 streaming.
func failedReadThenStreaming(t *testing.T, l *Loop, c *fakeCluster, pg *handOverPG, readErr error) {
	t.Helper()
	ctx := context.Background()
	pg.mu.Lock()
	pg.st.Replicas, pg.st.Err = nil, readErr
	pg.mu.Unlock()
	if _, err := l.turn(ctx); err != nil {
		t.Fatal(err)
	}
	if p := c.State().Pending; p == nil || p.HandedOver() {
		t.Fatalf("after a failed status read: pending %+v, want the request still waiting", p)
	}
	pg.mu.Lock()
	pg.st.Replicas, pg.st.Err = []Replica{{Name: "n2", State: "streaming"}}, nil
	pg.mu.Unlock()
	if _, err := l.turn(ctx); err != nil {
		t.Fatal(err)
	}
}
