package fsm_test

import (
	"reflect"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

// SwapSync is SetSync with a compare-and-swap on Sync.Version: a delayed
// proposal of an older decision must not overwrite a newer one.
func TestSwapSync(t *testing.T) {
	held := []fsm.Command{acquire("node1", 0)}                                                                         // epoch 1
	swapped := []fsm.Command{acquire("node1", 0), fsm.SwapSync{Leader: "node1", Epoch: 1, Members: []string{"node2"}}} // version 2
	runApplyCases(t, []applyCase{
		{
			name:  "FirstSwap_RecordsSortedStandbysAndVersionIsTheEntryIndex",
			setup: held,
			cmd:   fsm.SwapSync{Leader: "node1", Epoch: 1, ExpectVersion: 0, Members: []string{"node3", "node2"}},
			check: func(t *testing.T, s fsm.State) {
				want := fsm.Sync{Leader: "node1", Members: []string{"node2", "node3"}, Version: cmdIndex}
				if !reflect.DeepEqual(s.Sync, want) {
					t.Fatalf("Sync = %+v, want %+v", s.Sync, want)
				}
			},
		},
		{
			name:  "CurrentVersion_IsAccepted",
			setup: swapped,
			cmd:   fsm.SwapSync{Leader: "node1", Epoch: 1, ExpectVersion: 2},
			check: func(t *testing.T, s fsm.State) {
				if len(s.Sync.Members) != 0 || s.Sync.Version != cmdIndex {
					t.Fatalf("Sync = %+v", s.Sync)
				}
			},
		},
		{
			// The proposal read the state before the swap at index 2.
			name:    "StaleVersion_IsRejected",
			setup:   swapped,
			cmd:     fsm.SwapSync{Leader: "node1", Epoch: 1, ExpectVersion: 0, Members: []string{"node3"}},
			wantErr: fsm.ErrSyncChanged,
		},
		{
			name:    "FutureVersion_IsRejected",
			setup:   swapped,
			cmd:     fsm.SwapSync{Leader: "node1", Epoch: 1, ExpectVersion: 7},
			wantErr: fsm.ErrSyncChanged,
		},
		{
			name:    "OtherTenure_IsRejectedEvenWithTheRightVersion",
			setup:   []fsm.Command{acquire("node1", 0), fsm.ReleaseLeader{Member: "node1", Epoch: 1}, acquire("node1", 2)},
			cmd:     fsm.SwapSync{Leader: "node1", Epoch: 1, ExpectVersion: 0},
			wantErr: fsm.ErrNotLeaderHolder,
		},
		{name: "OtherMember_IsRejected", setup: held, cmd: fsm.SwapSync{Leader: "node2", Epoch: 1}, wantErr: fsm.ErrNotLeaderHolder},
		{
			// Old entries still apply and keep the version, so a node that
			// replays them computes the same version as one that restored
			// a snapshot an older release wrote (which has none).
			name:  "OldSetSync_StillAppliesAndKeepsTheVersion",
			setup: swapped,
			cmd:   fsm.SetSync{Leader: "node1", Epoch: 1, Members: []string{"node3"}},
			check: func(t *testing.T, s fsm.State) {
				want := fsm.Sync{Leader: "node1", Members: []string{"node3"}, Version: 2}
				if !reflect.DeepEqual(s.Sync, want) {
					t.Fatalf("Sync = %+v, want %+v", s.Sync, want)
				}
			},
		},
	})
}

func TestRemoveStaleMember(t *testing.T) {
	two := []fsm.Command{fsm.UpsertMember{Member: member("node1", "running")}, fsm.UpsertMember{Member: member("node2", "streaming")}} // node2 reported at 2
	runApplyCases(t, []applyCase{
		{
			name:  "UnchangedSinceRead_IsRemoved",
			setup: two,
			cmd:   fsm.RemoveStaleMember{Name: "node2", ExpectIndex: 2},
			check: func(t *testing.T, s fsm.State) {
				if names := s.MemberNames(); !reflect.DeepEqual(names, []string{"node1"}) {
					t.Fatalf("MemberNames() = %v", names)
				}
			},
		},
		{
			// node2 came back and reported at 3 after the proposer read index 2.
			name:    "ReportedAgain_IsKept",
			setup:   append(append([]fsm.Command{}, two...), fsm.UpsertMember{Member: member("node2", "streaming")}),
			cmd:     fsm.RemoveStaleMember{Name: "node2", ExpectIndex: 2},
			wantErr: fsm.ErrMemberChanged,
		},
		{name: "UnknownMember_IsRejected", setup: two, cmd: fsm.RemoveStaleMember{Name: "node3", ExpectIndex: 2}, wantErr: fsm.ErrInvalidCommand},
		{
			name:    "LeaderKeyHolder_IsKept",
			setup:   append(append([]fsm.Command{}, two...), acquire("node2", 0)),
			cmd:     fsm.RemoveStaleMember{Name: "node2", ExpectIndex: 2},
			wantErr: fsm.ErrInvalidCommand,
		},
		{
			name: "RecordedSyncStandby_IsKept",
			setup: append(append([]fsm.Command{}, two...), acquire("node1", 0),
				fsm.SwapSync{Leader: "node1", Epoch: 3, Members: []string{"node2"}}),
			cmd:     fsm.RemoveStaleMember{Name: "node2", ExpectIndex: 2},
			wantErr: fsm.ErrInvalidCommand,
		},
	})
}

// The new commands carry no FlagIgnorable: an older node that does not know
// them must stop rather than skip them and diverge.
func TestNewSafetyCommands_AreNotIgnorable(t *testing.T) {
	for _, ct := range []fsm.CommandType{fsm.CmdSwapSync, fsm.CmdRemoveStaleMember, fsm.CmdAppendTenureHistory, fsm.CmdRenewLeaderCAS, fsm.CmdSwapSyncSealed} {
		if ct&fsm.FlagIgnorable != 0 {
			t.Errorf("command type %d carries the ignore-if-unknown bit", ct)
		}
	}
}

func TestNewRejections_KeepTheirCodeThroughTheWire(t *testing.T) {
	for _, sentinel := range []error{fsm.ErrSyncChanged, fsm.ErrMemberChanged} {
		code := fsm.ErrorCode(sentinel)
		if code == "" || fsm.ErrorCode(fsm.ErrorFromCode(code, sentinel.Error()+": detail")) != code {
			t.Errorf("%v does not survive forwarding (code %q)", sentinel, code)
		}
	}
}
