package fsm_test

import (
	"reflect"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

func TestRenewLeaderCAS(t *testing.T) {
	held := []fsm.Command{acquire("node1", 0)} // epoch 1, LeaderIndex 1
	runApplyCases(t, []applyCase{
		{
			name:  "MatchingExpectIndex_RenewsLikeRenewLeader",
			setup: held,
			cmd:   fsm.RenewLeaderCAS{Member: "node1", Epoch: 1, TTL: 20, ProposedAt: t1, ExpectIndex: 1},
			check: func(t *testing.T, s fsm.State) {
				want := &fsm.Leader{Member: "node1", Epoch: 1, TTL: 20, AcquiredAt: t0, RenewedAt: t1}
				if !reflect.DeepEqual(s.Leader, want) || s.LeaderIndex != cmdIndex {
					t.Fatalf("Leader = %+v, LeaderIndex = %d; want %+v, %d", s.Leader, s.LeaderIndex, want, cmdIndex)
				}
			},
		},
		{
			name:    "StaleExpectIndex_IsRejected",
			setup:   []fsm.Command{acquire("node1", 0), fsm.RenewLeader{Member: "node1", Epoch: 1, TTL: 30, ProposedAt: t1}},
			cmd:     fsm.RenewLeaderCAS{Member: "node1", Epoch: 1, TTL: 3, ExpectIndex: 1},
			wantErr: fsm.ErrLeaderChanged,
		},
		{
			// Unlike RenewLeader, zero is no "do not check": it never matches a held key.
			name:    "ZeroExpectIndex_IsRejected",
			setup:   held,
			cmd:     fsm.RenewLeaderCAS{Member: "node1", Epoch: 1, TTL: 30},
			wantErr: fsm.ErrLeaderChanged,
		},
		{name: "WrongMember_IsRejected", setup: held, cmd: fsm.RenewLeaderCAS{Member: "node2", Epoch: 1, TTL: 30, ExpectIndex: 1}, wantErr: fsm.ErrNotLeaderHolder},
		{
			name:    "OldEpochOfSameMember_IsRejected",
			setup:   []fsm.Command{acquire("node1", 0), fsm.ReleaseLeader{Member: "node1", Epoch: 1}, acquire("node1", 2)},
			cmd:     fsm.RenewLeaderCAS{Member: "node1", Epoch: 1, TTL: 30, ExpectIndex: 3},
			wantErr: fsm.ErrNotLeaderHolder,
		},
		{name: "Unlocked_IsRejected", cmd: fsm.RenewLeaderCAS{Member: "node1", TTL: 30}, wantErr: fsm.ErrNotLeaderHolder},
	})
}

// RenewLeader (5) is applied exactly as before level 4: without
// ExpectIndex it renews whatever LeaderIndex is (older agents write such
// entries), with one it checks it.
func TestRenewLeader_OldType_IsAppliedAsBefore(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name:  "WithoutExpectIndex_RenewsAfterAnotherRenewal",
			setup: []fsm.Command{acquire("node1", 0), fsm.RenewLeader{Member: "node1", Epoch: 1, TTL: 30, ProposedAt: t1}},
			cmd:   fsm.RenewLeader{Member: "node1", Epoch: 1, TTL: 3, ProposedAt: t1},
			check: func(t *testing.T, s fsm.State) {
				if s.Leader.TTL != 3 || s.LeaderIndex != cmdIndex {
					t.Fatalf("Leader = %+v, LeaderIndex = %d", s.Leader, s.LeaderIndex)
				}
			},
		},
	})
}

func sealed(version uint64, members ...string) fsm.SwapSyncSealed {
	return fsm.SwapSyncSealed{Leader: "node1", Epoch: 1, ExpectVersion: version, Members: members}
}

func TestSwapSyncSealed(t *testing.T) {
	held := []fsm.Command{acquire("node1", 0)} // epoch 1
	runApplyCases(t, []applyCase{
		{
			name:  "MatchingVersion_RecordsSetVersionAndSeal",
			setup: held,
			cmd:   sealed(0, "node3", "node2"),
			check: func(t *testing.T, s fsm.State) {
				want := fsm.Sync{Leader: "node1", Members: []string{"node2", "node3"}, Version: cmdIndex, SealedEpoch: 1}
				if !reflect.DeepEqual(s.Sync, want) {
					t.Fatalf("Sync = %+v, want %+v", s.Sync, want)
				}
			},
		},
		{
			name:    "StaleVersion_IsRejected",
			setup:   []fsm.Command{acquire("node1", 0), fsm.SwapSync{Leader: "node1", Epoch: 1, Members: []string{"node2"}}},
			cmd:     sealed(0),
			wantErr: fsm.ErrSyncChanged,
		},
		{name: "NotTheHolder_IsRejected", setup: held, cmd: fsm.SwapSyncSealed{Leader: "node2", Epoch: 1}, wantErr: fsm.ErrNotLeaderHolder},
		{
			// The hole of item (b): a SetSync in doubt from before the
			// versioned commands lands after the first versioned change.
			name:    "LateSetSyncOfTheSealedTenure_IsRejected",
			setup:   []fsm.Command{acquire("node1", 0), sealed(0)},
			cmd:     fsm.SetSync{Leader: "node1", Epoch: 1, Members: []string{"node2"}},
			wantErr: fsm.ErrSyncChanged,
		},
		{
			name:  "SwapSyncAfterTheSeal_KeepsTheSeal",
			setup: []fsm.Command{acquire("node1", 0), sealed(0)},
			cmd:   fsm.SwapSync{Leader: "node1", Epoch: 1, ExpectVersion: 2, Members: []string{"node2"}},
			check: func(t *testing.T, s fsm.State) {
				if s.Sync.SealedEpoch != 1 || s.Sync.Version != cmdIndex {
					t.Fatalf("Sync = %+v", s.Sync)
				}
			},
		},
		{
			name: "SetSyncOfALaterTenure_IsAppliedAsBefore",
			setup: []fsm.Command{acquire("node1", 0), sealed(0), fsm.ReleaseLeader{Member: "node1", Epoch: 1},
				acquire("node2", 3)},
			cmd: fsm.SetSync{Leader: "node2", Epoch: 4, Members: []string{"node1"}},
			check: func(t *testing.T, s fsm.State) {
				want := fsm.Sync{Leader: "node2", Members: []string{"node1"}, Version: 2, SealedEpoch: 1}
				if !reflect.DeepEqual(s.Sync, want) {
					t.Fatalf("Sync = %+v, want %+v", s.Sync, want)
				}
			},
		},
	})
}

func TestAllServersSupport_EveryRaftServerNeedsARecordAtTheLevel(t *testing.T) {
	s := fsm.State{Members: map[string]fsm.Member{
		"a": {Name: "a", RaftAddr: "10.0.0.1:7000", Protocol: fsm.Protocol},
		"b": {Name: "b", RaftAddr: "10.0.0.2:7000", Protocol: fsm.Protocol},
	}}
	both := []string{"10.0.0.1:7000", "10.0.0.2:7000"}
	if !s.AllServersSupport(fsm.ProtocolCAS, both) {
		t.Error("every server has a record at the level: not supported")
	}
	if s.AllServersSupport(fsm.ProtocolCAS, append(both, "10.0.0.3:7000")) {
		t.Error("a Raft server without a member record (an older voter, or one removed as stale): supported")
	}
	s.Members["c"] = fsm.Member{Name: "c", RaftAddr: "10.0.0.3:7000", Protocol: fsm.ProtocolTenureHistory}
	if s.AllServersSupport(fsm.ProtocolCAS, append(both, "10.0.0.3:7000")) {
		t.Error("a Raft server whose record advertises a lower level: supported")
	}
	if s.AllServersSupport(fsm.ProtocolCAS, both) {
		t.Error("a listed member below the level (no Raft server): supported (AllSupport must still hold)")
	}
	if (fsm.State{}).AllServersSupport(fsm.ProtocolSwapSync, nil) {
		t.Error("an empty state supports a level")
	}
}
