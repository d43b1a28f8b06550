package ha

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// twoForksOfTimelineOne: n2 promoted from timeline 1 to 2 (fork at 0x4002120,
// epoch 20) and died before anyone followed it; n1 then promoted from 1 to 2
// as well (epoch 30) and leads on timeline 2.
func twoForksOfTimelineOne(o *Observation) {
	o.Config.UsePgRewind = true
	o.State.Leader = &fsm.Leader{Member: "n1", Epoch: 30, TTL: 3}
	o.State.History = []fsm.HistoryEntry{
		{Timeline: 1, LSN: 0x4002120, NewLeader: "n2", Epoch: 20},
		{Timeline: 1, LSN: 0x4002120, NewLeader: "n1", Epoch: 30},
	}
	setMember(o, "n1", func(m *fsm.Member) { m.Timeline = 2 })
	o.PG.Timeline = 2
	o.PG.ForkLSN = 0x4002120
}

func TestDecide_Diverged_SameTimelineNumber(t *testing.T) {
	cases := []struct {
		name   string
		modify func(o *Observation)
		want   []ActionKind
	}{
		// pg_rewind answers "no rewind required" for equal timeline numbers
		// (PostgreSQL 15, tried by hand), so only a new clone helps.
		{"FormerPrimaryStopped_SameNumberAndSameForkLSN_MovesDataAside", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.Running, o.PG.InRecovery, o.PG.Streaming = false, false, false
		}, []ActionKind{ActMoveAside}},
		{"FormerPrimaryRunningWritable_SameNumber_FencesAndMovesDataAside", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.InRecovery, o.PG.Streaming = false, false
		}, []ActionKind{ActFence, ActMoveAside}},
		{"FormerPrimaryStopped_SameNumber_RewindOff_MovesDataAside", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.Config.UsePgRewind = false
			o.PG.Running, o.PG.InRecovery = false, false
		}, []ActionKind{ActMoveAside}},
		{"StandbyStreaming_OtherForkLSN_MovesDataAside", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.ForkLSN = 0x4003000 // its own timeline 2 forked elsewhere
		}, []ActionKind{ActMoveAside}},
		// n2's agent stopped right after its promotion: no tenure marker,
		// and its fork LSN is the one n1 later forked at too. Started as a
		// standby before n1 ran as primary, it looked like any standby
		// (seen in a CI run of TestRestartAll: it never streamed).
		{"FormerPrimaryStopped_LeaderNotRunningAsPrimaryYet_WaitsNotStarted", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.Running, o.PG.InRecovery, o.PG.Streaming = false, false, false
			setMember(o, "n1", func(m *fsm.Member) { m.Role, m.State, m.Timeline = fsm.RoleReplica, "running", 1 })
		}, []ActionKind{ActWait}},
		{"FormerPrimaryStopped_LeaderRecordStopped_WaitsNotStarted", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.Running, o.PG.InRecovery, o.PG.Streaming = false, false, false
			setMember(o, "n1", func(m *fsm.Member) { m.State = "stopped" })
		}, []ActionKind{ActWait}},
		{"StoppedStandby_LeaderNotRunningAsPrimaryYet_StartsAsAStandby", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.Running, o.PG.InRecovery, o.PG.Streaming = false, true, false
			setMember(o, "n1", func(m *fsm.Member) { m.Role, m.State, m.Timeline = fsm.RoleReplica, "running", 1 })
		}, []ActionKind{ActStartReplica}},
		{"StandbyStreaming_SameForkLSN_Stays", func(o *Observation) {
			twoForksOfTimelineOne(o)
		}, []ActionKind{ActWait}},
		// n2 forked first (tenure 20), demoted itself into a standby, and n1
		// forked at the same LSN (tenure 30): the LSNs agree, the tenures
		// in n2's marker and n1's entry do not.
		{"StandbyWithOwnTenureMarker_SameForkLSN_MovesDataAside", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.Streaming = false
			o.PG.TimelineEpoch = 20
		}, []ActionKind{ActMoveAside}},
		{"StandbyWithLeadersTenureMarker_Stays", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.TimelineEpoch = 30 // cloned or rewound from n1: its marker came along
		}, []ActionKind{ActWait}},
		{"StandbyOtherForkLSN_LeaderForkNotRecordedByLeader_Stays", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.State.History = o.State.History[:1] // n1's entry was never recorded
			o.PG.ForkLSN = 0x4003000
		}, []ActionKind{ActWait}},
		{"StandbyOtherForkLSN_EntryWithoutEpoch_Stays", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.State.History[1].Epoch = 0 // older version, or a guessed LSN
			o.PG.ForkLSN = 0x4003000
		}, []ActionKind{ActWait}},
		{"StandbyUnknownForkLSN_Stays", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.ForkLSN = 0
		}, []ActionKind{ActWait}},
		{"FormerPrimaryStopped_OlderTimeline_StillRewinds", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.PG.Running, o.PG.InRecovery = false, false
			o.PG.Timeline, o.PG.ForkLSN = 1, 0
		}, []ActionKind{ActRewind, ActStartReplica}},
		{"Leader_OwnTimeline_IsNotDiverged", func(o *Observation) {
			twoForksOfTimelineOne(o)
			o.Self = "n1"
			o.PG.InRecovery, o.PG.Streaming = false, false
			o.Lease = LeaseView{Held: true, Valid: true}
			o.Config.UseSlots = false
		}, []ActionKind{ActRenew}},
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
			if !reflect.DeepEqual(before, o.State.Clone()) {
				t.Error("Decide mutated its input")
			}
		})
	}
}

// stuckStandby: n2 runs as a standby of n1 and has not streamed for 10 s
// (ten loop turns), n1 running as primary.
func stuckStandby(o *Observation) {
	o.Config.UsePgRewind = true
	o.Config.LoopWait = 1
	o.PG.Streaming = false
	o.NotStreamingSince = t0.Add(-10 * time.Second)
	o.PG.StreamProblem = StreamWALRemoved
	o.PG.StreamDetail = "requested WAL segment 000000010000000000000003 has already been removed"
}

func TestDecide_StuckStandby(t *testing.T) {
	cases := []struct {
		name   string
		modify func(o *Observation)
		want   []ActionKind
	}{
		{"WALRemoved_MovesDataAside", stuckStandby, []ActionKind{ActStuckMoveAside}},
		{"WALRemoved_RewindOff_MovesDataAside", func(o *Observation) {
			stuckStandby(o)
			o.Config.UsePgRewind = false
		}, []ActionKind{ActStuckMoveAside}},
		{"TimelineNotAChild_Rewinds", func(o *Observation) {
			stuckStandby(o)
			o.PG.StreamProblem = StreamTimeline
		}, []ActionKind{ActStuckRewind, ActStartReplica}},
		{"TimelineNotAChild_AlreadyRewound_MovesDataAside", func(o *Observation) {
			stuckStandby(o)
			o.PG.StreamProblem = StreamTimeline
			o.StuckRewound = true
		}, []ActionKind{ActStuckMoveAside}},
		{"TimelineNotAChild_RewindFailed_MovesDataAside", func(o *Observation) {
			stuckStandby(o)
			o.PG.StreamProblem = StreamTimeline
			o.RewindFailed = true
		}, []ActionKind{ActStuckMoveAside}},
		{"TimelineNotAChild_RewindOff_MovesDataAside", func(o *Observation) {
			stuckStandby(o)
			o.PG.StreamProblem = StreamTimeline
			o.Config.UsePgRewind = false
		}, []ActionKind{ActStuckMoveAside}},
		// At most one automatic move-aside per leader tenure: a cause the
		// clone did not cure waits for the operator.
		{"RecordedSynchronousStandby_WaitsUntilDroppedFromSync", func(o *Observation) {
			stuckStandby(o)
			o.State.Sync = fsm.Sync{Leader: "n1", Members: []string{o.Self}}
		}, []ActionKind{ActWait}},
		{"AlreadyMovedAsideInThisTenure_Waits", func(o *Observation) {
			stuckStandby(o)
			o.StuckMovedAside = true
		}, []ActionKind{ActWait}},
		{"NotYetSeveralTurns_Waits", func(o *Observation) {
			stuckStandby(o)
			o.NotStreamingSince = t0.Add(-2 * time.Second)
		}, []ActionKind{ActWait}},
		{"LongLoopWait_CountsTurnsNotSeconds", func(o *Observation) {
			stuckStandby(o)
			o.Config.LoopWait = 10
		}, []ActionKind{ActWait}},
		{"NoDiagnosis_Waits", func(o *Observation) {
			stuckStandby(o)
			o.PG.StreamProblem, o.PG.StreamDetail = StreamOK, ""
		}, []ActionKind{ActWait}},
		{"Streaming_Stays", func(o *Observation) {
			stuckStandby(o)
			o.PG.Streaming = true
			o.NotStreamingSince = time.Time{}
		}, []ActionKind{ActWait}},
		{"LeaderNotRunning_Waits", func(o *Observation) {
			stuckStandby(o)
			setMember(o, "n1", func(m *fsm.Member) { m.State = "stopped" })
		}, []ActionKind{ActWait}},
		{"FollowingSomeoneElse_FollowsLeaderFirst", func(o *Observation) {
			stuckStandby(o)
			o.PG.Following = "n3"
		}, []ActionKind{ActFollow}},
		{"Paused_DoesNothing", func(o *Observation) {
			stuckStandby(o)
			o.Config.Pause = true
		}, []ActionKind{ActWait}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := scenario()
			tc.modify(&o)
			p := Decide(o)
			if got := p.Kinds(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan %v (%s), want %v", got, p.Reason, tc.want)
			}
			if len(tc.want) > 0 && tc.want[0] != ActWait && tc.want[0] != ActFollow && !strings.Contains(p.Reason, "not streaming") {
				t.Errorf("reason %q does not say the standby is not streaming", p.Reason)
			}
		})
	}
}
