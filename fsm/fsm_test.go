package fsm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-ha/conclave/fsm"
)

// cmdIndex is the Raft index every case applies its command at; setup
// commands take the indexes 1, 2, 3, ... before it.
const cmdIndex = 100

var (
	t0 = time.Date(2026, 11, 26, 21, 51, 36, 728913000, time.UTC)
	t1 = t0.Add(10 * time.Second)
)

// applyCase is one row of a command table: setup commands applied at
// indexes 1..n (all must succeed), then cmd at cmdIndex.
type applyCase struct {
	name    string
	setup   []fsm.Command
	cmd     fsm.Command
	wantErr error                             // nil: the command must take effect
	check   func(t *testing.T, got fsm.State) // for accepted commands
}

func encode(t *testing.T, c fsm.Command) []byte {
	t.Helper()
	b, err := fsm.Encode(c)
	if err != nil {
		t.Fatalf("encode %T: %v", c, err)
	}
	return b
}

func emptyState() fsm.State { return fsm.New().State() }

func commandLog(t *testing.T, index uint64, c fsm.Command) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: encode(t, c)}
}

// runApplyCases drives every case twice, through ApplyEntry on a bare State
// and through (*FSM).Apply, and checks both paths agree. A rejected command
// must leave the state as it was, except Index.
func runApplyCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Path 1: ApplyEntry.
			s := emptyState()
			for i, c := range tc.setup {
				if err := fsm.ApplyEntry(&s, encode(t, c), uint64(i+1)); err != nil {
					t.Fatalf("setup %d (%T): %v", i+1, c, err)
				}
			}
			before := s.Clone()
			err := fsm.ApplyEntry(&s, encode(t, tc.cmd), cmdIndex)
			checkErr(t, "ApplyEntry", err, tc.wantErr)
			if s.Index != cmdIndex {
				t.Fatalf("Index = %d, want %d", s.Index, cmdIndex)
			}
			final := s.Clone()
			after := s.Clone()
			if tc.wantErr != nil {
				after.Index = before.Index
				if !reflect.DeepEqual(before, after) {
					t.Fatalf("rejected command changed the state\nbefore %+v\nafter  %+v", before, after)
				}
			} else if tc.check != nil {
				tc.check(t, after)
			}

			// Path 2: the raft.FSM.
			f := fsm.New()
			for i, c := range tc.setup {
				r := f.Apply(commandLog(t, uint64(i+1), c)).(fsm.Result)
				if r.Err != nil {
					t.Fatalf("FSM setup %d (%T): %v", i+1, c, r.Err)
				}
			}
			r, ok := f.Apply(commandLog(t, cmdIndex, tc.cmd)).(fsm.Result)
			if !ok {
				t.Fatalf("Apply did not return a fsm.Result")
			}
			if r.Index != cmdIndex {
				t.Fatalf("Result.Index = %d, want %d", r.Index, cmdIndex)
			}
			checkErr(t, "FSM.Apply", r.Err, tc.wantErr)
			if got := f.State(); !reflect.DeepEqual(got, final) {
				t.Fatalf("FSM state differs from ApplyEntry state\nFSM        %+v\nApplyEntry %+v", got, final)
			}
			if f.AppliedIndex() != cmdIndex {
				t.Fatalf("AppliedIndex = %d, want %d", f.AppliedIndex(), cmdIndex)
			}
		})
	}
}

func equalExceptIndex(a, b fsm.State) bool {
	a.Index, b.Index = 0, 0
	return reflect.DeepEqual(a, b)
}

func checkErr(t *testing.T, path string, got, want error) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Fatalf("%s: unexpected rejection: %v", path, got)
	case want != nil && !errors.Is(got, want):
		t.Fatalf("%s: error %v, want errors.Is %v", path, got, want)
	}
}

func TestClaimInitialize(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name: "FirstClaim_TakesTheKey",
			cmd:  fsm.ClaimInitialize{Member: "node1"},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.Initialize, &fsm.Initialize{Member: "node1"}) {
					t.Fatalf("Initialize = %+v", s.Initialize)
				}
			},
		},
		{
			name:  "RetryByClaimant_IsIdempotent",
			setup: []fsm.Command{fsm.ClaimInitialize{Member: "node1"}},
			cmd:   fsm.ClaimInitialize{Member: "node1"},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.Initialize, &fsm.Initialize{Member: "node1"}) {
					t.Fatalf("Initialize = %+v", s.Initialize)
				}
			},
		},
		{
			name:    "HeldByOther_IsRejected",
			setup:   []fsm.Command{fsm.ClaimInitialize{Member: "node1"}},
			cmd:     fsm.ClaimInitialize{Member: "node2"},
			wantErr: fsm.ErrInitializeHeld,
		},
		{
			name:    "ClaimantAfterSystemIDSet_IsRejected",
			setup:   []fsm.Command{fsm.ClaimInitialize{Member: "node1"}, fsm.SetInitialize{Member: "node1", SystemID: "7712594815253989143"}},
			cmd:     fsm.ClaimInitialize{Member: "node1"},
			wantErr: fsm.ErrInitializeHeld,
		},
		{
			name:    "EmptyMember_IsInvalid",
			cmd:     fsm.ClaimInitialize{},
			wantErr: fsm.ErrInvalidCommand,
		},
	})
}

func TestSetInitialize(t *testing.T) {
	claim := fsm.ClaimInitialize{Member: "node1"}
	set := fsm.SetInitialize{Member: "node1", SystemID: "7712594815253989143"}
	wantSet := func(t *testing.T, s fsm.State) {
		if !reflect.DeepEqual(s.Initialize, &fsm.Initialize{Member: "node1", SystemID: "7712594815253989143"}) {
			t.Fatalf("Initialize = %+v", s.Initialize)
		}
		if s.SystemID() != "7712594815253989143" {
			t.Fatalf("SystemID() = %q", s.SystemID())
		}
	}
	runApplyCases(t, []applyCase{
		{name: "ByClaimant_RecordsSystemID", setup: []fsm.Command{claim}, cmd: set, check: wantSet},
		{
			name:    "ByOtherMember_IsRejected",
			setup:   []fsm.Command{claim},
			cmd:     fsm.SetInitialize{Member: "node2", SystemID: "7712594815253989143"},
			wantErr: fsm.ErrInitializeHeld,
		},
		{name: "TwiceWithSameID_IsIdempotent", setup: []fsm.Command{claim, set}, cmd: set, check: wantSet},
		{
			name:    "DifferentID_IsAMismatch",
			setup:   []fsm.Command{claim, set},
			cmd:     fsm.SetInitialize{Member: "node1", SystemID: "7712594815253989144"},
			wantErr: fsm.ErrSystemIDMismatch,
		},
		{
			name:    "DifferentIDFromOtherMember_IsAMismatch",
			setup:   []fsm.Command{claim, set},
			cmd:     fsm.SetInitialize{Member: "node2", SystemID: "1"},
			wantErr: fsm.ErrSystemIDMismatch,
		},
		{name: "NotClaimed_IsRejected", cmd: set, wantErr: fsm.ErrInitializeHeld},
		{
			name:    "EmptySystemID_IsInvalid",
			setup:   []fsm.Command{claim},
			cmd:     fsm.SetInitialize{Member: "node1"},
			wantErr: fsm.ErrInvalidCommand,
		},
	})
}

func TestAbortInitialize(t *testing.T) {
	claim := fsm.ClaimInitialize{Member: "node1"}
	runApplyCases(t, []applyCase{
		{
			name:  "ByClaimant_FreesTheKey",
			setup: []fsm.Command{claim},
			cmd:   fsm.AbortInitialize{Member: "node1"},
			check: func(t *testing.T, s fsm.State) {
				if s.Initialize != nil {
					t.Fatalf("Initialize = %+v, want nil", s.Initialize)
				}
			},
		},
		{
			name:  "AfterAbort_AnotherMemberMayClaim",
			setup: []fsm.Command{claim, fsm.AbortInitialize{Member: "node1"}},
			cmd:   fsm.ClaimInitialize{Member: "node2"},
			check: func(t *testing.T, s fsm.State) {
				if s.Initialize == nil || s.Initialize.Member != "node2" {
					t.Fatalf("Initialize = %+v, want node2", s.Initialize)
				}
			},
		},
		{name: "ByOtherMember_IsRejected", setup: []fsm.Command{claim}, cmd: fsm.AbortInitialize{Member: "node2"}, wantErr: fsm.ErrInitializeHeld},
		{
			name:    "AfterSystemIDSet_IsRejected",
			setup:   []fsm.Command{claim, fsm.SetInitialize{Member: "node1", SystemID: "7712594815253989143"}},
			cmd:     fsm.AbortInitialize{Member: "node1"},
			wantErr: fsm.ErrInitializeHeld,
		},
		{name: "NothingClaimed_IsRejected", cmd: fsm.AbortInitialize{Member: "node1"}, wantErr: fsm.ErrInitializeHeld},
	})
}

func acquire(member string, expect uint64) fsm.AcquireLeader {
	return fsm.AcquireLeader{Member: member, ExpectIndex: expect, TTL: 30, ProposedAt: t0}
}

func TestAcquireLeader(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name: "UnlockedCluster_SetsEpochAndLeaderIndexToEntryIndex",
			cmd:  acquire("node1", 0),
			check: func(t *testing.T, s fsm.State) {
				want := &fsm.Leader{Member: "node1", Epoch: cmdIndex, TTL: 30, AcquiredAt: t0, RenewedAt: t0}
				if !reflect.DeepEqual(s.Leader, want) || s.LeaderIndex != cmdIndex {
					t.Fatalf("Leader = %+v, LeaderIndex = %d; want %+v, %d", s.Leader, s.LeaderIndex, want, cmdIndex)
				}
				if s.LeaderName() != "node1" {
					t.Fatalf("LeaderName() = %q", s.LeaderName())
				}
			},
		},
		{
			name:  "CurrentExpectIndex_TakesOverAHeldKey",
			setup: []fsm.Command{acquire("node1", 0)},
			cmd:   acquire("node2", 1),
			check: func(t *testing.T, s fsm.State) {
				if s.Leader.Member != "node2" || s.Leader.Epoch != cmdIndex || s.LeaderIndex != cmdIndex {
					t.Fatalf("Leader = %+v, LeaderIndex = %d", s.Leader, s.LeaderIndex)
				}
			},
		},
		{
			name:  "AfterRelease_ExpectingReleaseIndex_Succeeds",
			setup: []fsm.Command{acquire("node1", 0), fsm.ReleaseLeader{Member: "node1", Epoch: 1}},
			cmd:   acquire("node2", 2),
			check: func(t *testing.T, s fsm.State) {
				if s.Leader.Member != "node2" || s.Leader.Epoch != cmdIndex {
					t.Fatalf("Leader = %+v", s.Leader)
				}
			},
		},
		{name: "StaleExpectIndex_IsRejected", setup: []fsm.Command{acquire("node1", 0)}, cmd: acquire("node2", 0), wantErr: fsm.ErrLeaderChanged},
		{
			name:    "ExpectIndexBeforeRenewal_IsRejected",
			setup:   []fsm.Command{acquire("node1", 0), fsm.RenewLeader{Member: "node1", Epoch: 1, TTL: 30, ProposedAt: t1}},
			cmd:     acquire("node2", 1),
			wantErr: fsm.ErrLeaderChanged,
		},
		{name: "FutureExpectIndex_IsRejected", cmd: acquire("node1", 5), wantErr: fsm.ErrLeaderChanged},
		{name: "MissingTTL_IsInvalid", cmd: fsm.AcquireLeader{Member: "node1", ProposedAt: t0}, wantErr: fsm.ErrInvalidCommand},
		{name: "EmptyMember_IsInvalid", cmd: fsm.AcquireLeader{TTL: 30, ProposedAt: t0}, wantErr: fsm.ErrInvalidCommand},
	})
}

func TestRenewLeader(t *testing.T) {
	held := []fsm.Command{acquire("node1", 0)} // epoch 1
	runApplyCases(t, []applyCase{
		{
			name:  "HolderWithEpoch_UpdatesLeaderIndexAndLease",
			setup: held,
			cmd:   fsm.RenewLeader{Member: "node1", Epoch: 1, TTL: 20, ProposedAt: t1},
			check: func(t *testing.T, s fsm.State) {
				want := &fsm.Leader{Member: "node1", Epoch: 1, TTL: 20, AcquiredAt: t0, RenewedAt: t1}
				if !reflect.DeepEqual(s.Leader, want) || s.LeaderIndex != cmdIndex {
					t.Fatalf("Leader = %+v, LeaderIndex = %d; want %+v, %d", s.Leader, s.LeaderIndex, want, cmdIndex)
				}
			},
		},
		{
			name:  "ZeroTTL_KeepsTheTTL",
			setup: held,
			cmd:   fsm.RenewLeader{Member: "node1", Epoch: 1, ProposedAt: t1},
			check: func(t *testing.T, s fsm.State) {
				if s.Leader.TTL != 30 || !s.Leader.RenewedAt.Equal(t1) {
					t.Fatalf("Leader = %+v", s.Leader)
				}
			},
		},
		{name: "WrongMember_IsRejected", setup: held, cmd: fsm.RenewLeader{Member: "node2", Epoch: 1, TTL: 30}, wantErr: fsm.ErrNotLeaderHolder},
		{
			name:    "OldEpochOfSameMember_IsRejected",
			setup:   []fsm.Command{acquire("node1", 0), fsm.ReleaseLeader{Member: "node1", Epoch: 1}, acquire("node1", 2)},
			cmd:     fsm.RenewLeader{Member: "node1", Epoch: 1, TTL: 30},
			wantErr: fsm.ErrNotLeaderHolder,
		},
		{name: "Unlocked_IsRejected", cmd: fsm.RenewLeader{Member: "node1", Epoch: 0, TTL: 30}, wantErr: fsm.ErrNotLeaderHolder},
		{
			name:  "MatchingExpectIndex_Renews",
			setup: held,
			cmd:   fsm.RenewLeader{Member: "node1", Epoch: 1, TTL: 20, ProposedAt: t1, ExpectIndex: 1},
			check: func(t *testing.T, s fsm.State) {
				if s.Leader.TTL != 20 || s.LeaderIndex != cmdIndex {
					t.Fatalf("Leader = %+v, LeaderIndex = %d", s.Leader, s.LeaderIndex)
				}
			},
		},
		{
			name:    "StaleExpectIndex_IsRejected",
			setup:   []fsm.Command{acquire("node1", 0), fsm.RenewLeader{Member: "node1", Epoch: 1, TTL: 30, ProposedAt: t1}},
			cmd:     fsm.RenewLeader{Member: "node1", Epoch: 1, TTL: 3, ExpectIndex: 1},
			wantErr: fsm.ErrLeaderChanged,
		},
	})
}

func TestReleaseLeader(t *testing.T) {
	held := []fsm.Command{acquire("node1", 0)}
	runApplyCases(t, []applyCase{
		{
			name:  "Holder_UnlocksAndMovesLeaderIndex",
			setup: held,
			cmd:   fsm.ReleaseLeader{Member: "node1", Epoch: 1},
			check: func(t *testing.T, s fsm.State) {
				if s.Leader != nil || s.LeaderIndex != cmdIndex || s.LeaderName() != "" {
					t.Fatalf("Leader = %+v, LeaderIndex = %d", s.Leader, s.LeaderIndex)
				}
			},
		},
		{name: "WrongMember_IsRejected", setup: held, cmd: fsm.ReleaseLeader{Member: "node2", Epoch: 1}, wantErr: fsm.ErrNotLeaderHolder},
		{name: "WrongEpoch_IsRejected", setup: held, cmd: fsm.ReleaseLeader{Member: "node1", Epoch: 2}, wantErr: fsm.ErrNotLeaderHolder},
		{name: "Unlocked_IsRejected", cmd: fsm.ReleaseLeader{Member: "node1"}, wantErr: fsm.ErrNotLeaderHolder},
	})
}

func member(name, state string) fsm.Member {
	return fsm.Member{
		Name: name, APIURL: "http://127.0.0.1:8008/patroni", Host: "127.0.0.1", Port: 5432,
		Role: fsm.RoleReplica, State: state, Timeline: 1, WALPosition: 67109200,
		Tags: map[string]any{"nofailover": true}, UpdatedAt: t0,
	}
}

func TestUpsertMember(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name: "NewMember_IsStoredWithUpdatedIndex",
			cmd:  fsm.UpsertMember{Member: member("node1", "running")},
			check: func(t *testing.T, s fsm.State) {
				want := member("node1", "running")
				want.UpdatedIndex = cmdIndex
				if got := s.Members["node1"]; !reflect.DeepEqual(got, want) {
					t.Fatalf("member = %+v\nwant     %+v", got, want)
				}
				if !s.Members["node1"].Tag("nofailover") {
					t.Fatalf("nofailover tag lost")
				}
			},
		},
		{
			name:  "KnownMember_IsReplaced",
			setup: []fsm.Command{fsm.UpsertMember{Member: member("node1", "starting")}, fsm.UpsertMember{Member: member("node2", "running")}},
			cmd:   fsm.UpsertMember{Member: fsm.Member{Name: "node1", State: "running"}},
			check: func(t *testing.T, s fsm.State) {
				want := fsm.Member{Name: "node1", State: "running", UpdatedIndex: cmdIndex}
				if got := s.Members["node1"]; !reflect.DeepEqual(got, want) {
					t.Fatalf("member = %+v, want %+v", got, want)
				}
				if s.Members["node2"].UpdatedIndex != 2 {
					t.Fatalf("node2 changed: %+v", s.Members["node2"])
				}
				if names := s.MemberNames(); !reflect.DeepEqual(names, []string{"node1", "node2"}) {
					t.Fatalf("MemberNames() = %v", names)
				}
			},
		},
		{
			name: "ProposedUpdatedIndex_IsOverwritten",
			cmd:  fsm.UpsertMember{Member: fsm.Member{Name: "node1", UpdatedIndex: 7}},
			check: func(t *testing.T, s fsm.State) {
				if s.Members["node1"].UpdatedIndex != cmdIndex {
					t.Fatalf("UpdatedIndex = %d", s.Members["node1"].UpdatedIndex)
				}
			},
		},
		{name: "EmptyName_IsInvalid", cmd: fsm.UpsertMember{Member: fsm.Member{State: "running"}}, wantErr: fsm.ErrInvalidCommand},
	})
}

func TestRemoveMember(t *testing.T) {
	two := []fsm.Command{fsm.UpsertMember{Member: member("node1", "running")}, fsm.UpsertMember{Member: member("node2", "running")}}
	runApplyCases(t, []applyCase{
		{
			name:  "KnownMember_IsDeleted",
			setup: two,
			cmd:   fsm.RemoveMember{Name: "node1"},
			check: func(t *testing.T, s fsm.State) {
				if names := s.MemberNames(); !reflect.DeepEqual(names, []string{"node2"}) {
					t.Fatalf("MemberNames() = %v", names)
				}
			},
		},
		{name: "UnknownMember_IsRejected", setup: two, cmd: fsm.RemoveMember{Name: "node3"}, wantErr: fsm.ErrInvalidCommand},
		{name: "EmptyCluster_IsRejected", cmd: fsm.RemoveMember{Name: "node1"}, wantErr: fsm.ErrInvalidCommand},
	})
}

func TestSetConfig(t *testing.T) {
	valid := map[string]any{"ttl": float64(30), "loop_wait": float64(10), "postgresql": map[string]any{"use_pg_rewind": true}}
	stored := []fsm.Command{fsm.SetConfig{Config: valid}} // at index 1
	expect := func(i uint64) *uint64 { return &i }
	wantConfig := func(cfg map[string]any, index uint64) func(*testing.T, fsm.State) {
		return func(t *testing.T, s fsm.State) {
			if !reflect.DeepEqual(s.Config, cfg) || s.ConfigIndex != index {
				t.Fatalf("Config = %v at %d, want %v at %d", s.Config, s.ConfigIndex, cfg, index)
			}
		}
	}
	runApplyCases(t, []applyCase{
		{name: "ValidDocument_IsStored", cmd: fsm.SetConfig{Config: valid}, check: wantConfig(valid, cmdIndex)},
		{
			name:  "ValidDocument_ReplacesThePreviousOne",
			setup: stored,
			cmd:   fsm.SetConfig{Config: map[string]any{"ttl": float64(60)}},
			check: wantConfig(map[string]any{"ttl": float64(60)}, cmdIndex),
		},
		{name: "InvalidDocument_IsRejected", cmd: fsm.SetConfig{Config: map[string]any{"ttl": "x"}}, wantErr: fsm.ErrInvalidConfig},
		{name: "InvalidDocument_KeepsTheStoredOne", setup: stored, cmd: fsm.SetConfig{Config: map[string]any{"loop_wait": float64(0)}}, wantErr: fsm.ErrInvalidConfig},
		{name: "IfEmptyWithNothingStored_IsStored", cmd: fsm.SetConfig{Config: valid, IfEmpty: true}, check: wantConfig(valid, cmdIndex)},
		{
			name:  "IfEmpty_KeepsAnExistingConfig",
			setup: stored,
			cmd:   fsm.SetConfig{Config: map[string]any{"ttl": float64(60)}, IfEmpty: true},
			check: wantConfig(valid, 1),
		},
		{
			name:  "IfEmpty_KeepsAnExistingEmptyConfig",
			setup: []fsm.Command{fsm.SetConfig{}},
			cmd:   fsm.SetConfig{Config: valid, IfEmpty: true},
			check: func(t *testing.T, s fsm.State) {
				if len(s.Config) != 0 || s.ConfigIndex != 1 {
					t.Fatalf("Config = %v at %d, want the empty one stored at 1", s.Config, s.ConfigIndex)
				}
			},
		},
		{name: "MatchingExpectIndex_IsStored", setup: stored, cmd: fsm.SetConfig{Config: map[string]any{"ttl": float64(60)}, ExpectIndex: expect(1)}, check: wantConfig(map[string]any{"ttl": float64(60)}, cmdIndex)},
		{name: "StaleExpectIndex_IsAConflict", setup: stored, cmd: fsm.SetConfig{Config: valid, ExpectIndex: expect(0)}, wantErr: fsm.ErrConfigConflict},
		{name: "ExpectIndexWithNothingStored_IsAConflict", cmd: fsm.SetConfig{Config: valid, ExpectIndex: expect(1)}, wantErr: fsm.ErrConfigConflict},
	})
}

func TestSetSync(t *testing.T) {
	held := []fsm.Command{acquire("node1", 0)} // epoch 1
	runApplyCases(t, []applyCase{
		{
			name:  "CurrentTenure_RecordsSortedStandbys",
			setup: held,
			cmd:   fsm.SetSync{Leader: "node1", Epoch: 1, Members: []string{"node3", "node2"}},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.Sync, fsm.Sync{Leader: "node1", Members: []string{"node2", "node3"}}) {
					t.Fatalf("Sync = %+v", s.Sync)
				}
				if !s.IsSync("node2") || s.IsSync("node1") {
					t.Fatalf("IsSync wrong for %+v", s.Sync)
				}
			},
		},
		{
			name:  "EmptyList_ClearsTheStandbys",
			setup: []fsm.Command{acquire("node1", 0), fsm.SetSync{Leader: "node1", Epoch: 1, Members: []string{"node2"}}},
			cmd:   fsm.SetSync{Leader: "node1", Epoch: 1},
			check: func(t *testing.T, s fsm.State) {
				if s.Sync.Leader != "node1" || len(s.Sync.Members) != 0 {
					t.Fatalf("Sync = %+v", s.Sync)
				}
			},
		},
		{
			name:    "EarlierTenureOfSameMember_IsRejected",
			setup:   []fsm.Command{acquire("node1", 0), fsm.ReleaseLeader{Member: "node1", Epoch: 1}, acquire("node1", 2)},
			cmd:     fsm.SetSync{Leader: "node1", Epoch: 1, Members: []string{"node2"}},
			wantErr: fsm.ErrNotLeaderHolder,
		},
		{name: "OtherMember_IsRejected", setup: held, cmd: fsm.SetSync{Leader: "node2", Epoch: 1, Members: []string{"node1"}}, wantErr: fsm.ErrNotLeaderHolder},
		{name: "Unlocked_IsRejected", cmd: fsm.SetSync{Leader: "node1", Members: []string{"node2"}}, wantErr: fsm.ErrNotLeaderHolder},
	})
}

func historyEntry(tl int) fsm.HistoryEntry {
	return fsm.HistoryEntry{Timeline: tl, LSN: 67109200 + uint64(tl), Reason: "no recovery target specified", Timestamp: t0, NewLeader: "node2"}
}

func historyEntryAt(tl int, epoch uint64) fsm.HistoryEntry {
	e := historyEntry(tl)
	e.Epoch = epoch
	return e
}

func TestAppendHistory(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name: "FirstEntry_IsAppended",
			cmd:  fsm.AppendHistory{Entry: historyEntry(1)},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.History, []fsm.HistoryEntry{historyEntry(1)}) {
					t.Fatalf("History = %+v", s.History)
				}
			},
		},
		{
			name:  "LaterTimeline_IsAppended",
			setup: []fsm.Command{fsm.AppendHistory{Entry: historyEntry(1)}},
			cmd:   fsm.AppendHistory{Entry: historyEntry(3)},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.History, []fsm.HistoryEntry{historyEntry(1), historyEntry(3)}) {
					t.Fatalf("History = %+v", s.History)
				}
			},
		},
		{name: "SameTimeline_IsRejected", setup: []fsm.Command{fsm.AppendHistory{Entry: historyEntry(2)}}, cmd: fsm.AppendHistory{Entry: historyEntry(2)}, wantErr: fsm.ErrInvalidCommand},
		{name: "EarlierTimeline_IsRejected", setup: []fsm.Command{fsm.AppendHistory{Entry: historyEntry(2)}}, cmd: fsm.AppendHistory{Entry: historyEntry(1)}, wantErr: fsm.ErrInvalidCommand},
		// The old command keeps the old rule exactly: older nodes apply it so.
		{name: "SameTimeline_LaterTenure_IsStillRejected", setup: []fsm.Command{fsm.AppendHistory{Entry: historyEntryAt(1, 7)}}, cmd: fsm.AppendHistory{Entry: historyEntryAt(1, 12)}, wantErr: fsm.ErrInvalidCommand},
		{
			// An older node drops the epoch it does not know; so do we.
			name: "Epoch_IsNotStored",
			cmd:  fsm.AppendHistory{Entry: historyEntryAt(1, 7)},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.History, []fsm.HistoryEntry{historyEntry(1)}) {
					t.Fatalf("History = %+v", s.History)
				}
			},
		},
	})
}

func TestAppendTenureHistory(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			// Two tenures forked timeline 2 from timeline 1: both are kept.
			name:  "SameTimeline_LaterTenure_IsAppended",
			setup: []fsm.Command{fsm.AppendTenureHistory{Entry: historyEntryAt(1, 7)}},
			cmd:   fsm.AppendTenureHistory{Entry: historyEntryAt(1, 12)},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.History, []fsm.HistoryEntry{historyEntryAt(1, 7), historyEntryAt(1, 12)}) {
					t.Fatalf("History = %+v", s.History)
				}
			},
		},
		{
			name:  "AfterAnOldEntry_LaterTimeline_IsAppended",
			setup: []fsm.Command{fsm.AppendHistory{Entry: historyEntry(1)}},
			cmd:   fsm.AppendTenureHistory{Entry: historyEntryAt(2, 9)},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.History, []fsm.HistoryEntry{historyEntry(1), historyEntryAt(2, 9)}) {
					t.Fatalf("History = %+v", s.History)
				}
			},
		},
		{name: "NoTenure_SameTimeline_IsRejected", setup: []fsm.Command{fsm.AppendTenureHistory{Entry: historyEntry(1)}}, cmd: fsm.AppendTenureHistory{Entry: historyEntry(1)}, wantErr: fsm.ErrInvalidCommand},
		{name: "SameTimeline_SameTenure_IsRejected", setup: []fsm.Command{fsm.AppendTenureHistory{Entry: historyEntryAt(1, 7)}}, cmd: fsm.AppendTenureHistory{Entry: historyEntryAt(1, 7)}, wantErr: fsm.ErrInvalidCommand},
		{name: "SameTimeline_OlderTenure_IsRejected", setup: []fsm.Command{fsm.AppendTenureHistory{Entry: historyEntryAt(1, 7)}}, cmd: fsm.AppendTenureHistory{Entry: historyEntryAt(1, 5)}, wantErr: fsm.ErrInvalidCommand},
		{name: "EarlierTimeline_LaterTenure_IsRejected", setup: []fsm.Command{fsm.AppendTenureHistory{Entry: historyEntryAt(2, 7)}}, cmd: fsm.AppendTenureHistory{Entry: historyEntryAt(1, 9)}, wantErr: fsm.ErrInvalidCommand},
	})
}

func TestAppendTenureHistory_EntryBytes_AreTypeSixteenWithTheEpoch(t *testing.T) {
	s := emptyState()
	first := append([]byte{16}, `{"entry":{"timeline":1,"lsn":67117344,"reason":"x","timestamp":"2026-01-01T00:00:00Z","new_leader":"n2","epoch":20}}`...)
	second := append([]byte{16}, `{"entry":{"timeline":1,"lsn":67117344,"reason":"x","timestamp":"2026-01-01T00:00:00Z","new_leader":"n1","epoch":30}}`...)
	if err := fsm.ApplyEntry(&s, first, 1); err != nil {
		t.Fatal(err)
	}
	if err := fsm.ApplyEntry(&s, second, 2); err != nil {
		t.Fatalf("second fork from a later tenure: %v", err)
	}
	if len(s.History) != 2 || s.History[0].Epoch != 20 || s.History[1].Epoch != 30 {
		t.Fatalf("History = %+v", s.History)
	}
	if fsm.CmdAppendTenureHistory&fsm.FlagIgnorable != 0 {
		t.Fatalf("AppendTenureHistory must not be ignorable: older nodes would keep another history")
	}
	// The same bytes as the old command (type 11) keep the old rule.
	old := emptyState()
	first[0], second[0] = 11, 11
	if err := fsm.ApplyEntry(&old, first, 1); err != nil {
		t.Fatal(err)
	}
	if err := fsm.ApplyEntry(&old, second, 2); !errors.Is(err, fsm.ErrInvalidCommand) {
		t.Fatalf("old command, second entry for timeline 1: err = %v, want ErrInvalidCommand", err)
	}
}

func TestSetPendingAndClearPending(t *testing.T) {
	at := t1
	switchover := fsm.Pending{Kind: "switchover", Leader: "node1", Candidate: "node2", ScheduledAt: &at, RequestedAt: t0}
	pending := []fsm.Command{fsm.SetPending{Pending: switchover}}
	runApplyCases(t, []applyCase{
		{
			name: "Switchover_IsRecorded",
			cmd:  fsm.SetPending{Pending: switchover},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.Pending, &switchover) {
					t.Fatalf("Pending = %+v", s.Pending)
				}
			},
		},
		{
			name:  "Failover_ReplacesAPendingSwitchover",
			setup: pending,
			cmd:   fsm.SetPending{Pending: fsm.Pending{Kind: "failover", Candidate: "node3", RequestedAt: t1}},
			check: func(t *testing.T, s fsm.State) {
				if !reflect.DeepEqual(s.Pending, &fsm.Pending{Kind: "failover", Candidate: "node3", RequestedAt: t1}) {
					t.Fatalf("Pending = %+v", s.Pending)
				}
			},
		},
		{name: "UnknownKind_IsInvalid", setup: pending, cmd: fsm.SetPending{Pending: fsm.Pending{Kind: "restart"}}, wantErr: fsm.ErrInvalidCommand},
		{
			name:  "ClearPending_RemovesTheRequest",
			setup: pending,
			cmd:   fsm.ClearPending{},
			check: func(t *testing.T, s fsm.State) {
				if s.Pending != nil {
					t.Fatalf("Pending = %+v", s.Pending)
				}
			},
		},
		{
			name: "ClearPendingWithNothingPending_IsANoop",
			cmd:  fsm.ClearPending{},
			check: func(t *testing.T, s fsm.State) {
				if !equalExceptIndex(s, emptyState()) {
					t.Fatalf("state = %+v", s)
				}
			},
		},
	})
}

// everyCommand has one filled-in value of each command type.
func everyCommand() []fsm.Command {
	expect := uint64(3)
	at := t1
	return []fsm.Command{
		fsm.ClaimInitialize{Member: "node1"},
		fsm.SetInitialize{Member: "node1", SystemID: "7712594815253989143"},
		fsm.AbortInitialize{Member: "node1"},
		fsm.AcquireLeader{Member: "node1", ExpectIndex: 2, TTL: 30, ProposedAt: t0},
		fsm.RenewLeader{Member: "node1", Epoch: 4, TTL: 30, ProposedAt: t1},
		fsm.ReleaseLeader{Member: "node1", Epoch: 4},
		fsm.UpsertMember{Member: member("node1", "running")},
		fsm.RemoveMember{Name: "node1"},
		fsm.SetConfig{Config: map[string]any{"ttl": float64(30)}, IfEmpty: true, ExpectIndex: &expect},
		fsm.SetSync{Leader: "node1", Epoch: 4, Members: []string{"node2"}},
		fsm.AppendHistory{Entry: historyEntry(1)},
		fsm.SetPending{Pending: fsm.Pending{Kind: "switchover", Leader: "node1", ScheduledAt: &at, RequestedAt: t0}},
		fsm.ClearPending{},
		fsm.SwapSync{Leader: "node1", Epoch: 4, ExpectVersion: 7, Members: []string{"node2"}},
		fsm.RemoveStaleMember{Name: "node2", ExpectIndex: 9},
		fsm.AppendTenureHistory{Entry: historyEntryAt(3, 9)},
		fsm.RenewLeaderCAS{Member: "node1", Epoch: 4, TTL: 30, ProposedAt: t1, ExpectIndex: 6},
		fsm.SwapSyncSealed{Leader: "node1", Epoch: 4, ExpectVersion: 7, Members: []string{"node2"}},
	}
}

func TestEncodeDecode_EveryCommand_RoundTrips(t *testing.T) {
	seen := map[fsm.CommandType]bool{}
	for _, c := range everyCommand() {
		b := encode(t, c)
		if fsm.CommandType(b[0]) != c.Type() {
			t.Fatalf("%T: first byte %d, want %d", c, b[0], c.Type())
		}
		got, err := fsm.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%T): %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("Decode(%T) = %#v, want %#v", c, got, c)
		}
		seen[c.Type()] = true
	}
	for ct := fsm.CmdClaimInitialize; ct <= fsm.CmdSwapSyncSealed; ct++ {
		if !seen[ct] {
			t.Errorf("command type %d is not covered by everyCommand", ct)
		}
	}
}

func TestDecode_UnknownType_IsErrUnknownCommand(t *testing.T) {
	for _, ct := range []byte{0, 0x7F, 99, byte(fsm.FlagIgnorable) | 1, 0xFF} {
		_, err := fsm.Decode([]byte{ct, '{', '}'})
		if !errors.Is(err, fsm.ErrUnknownCommand) {
			t.Errorf("Decode(type %d): %v, want ErrUnknownCommand", ct, err)
		}
	}
	if _, err := fsm.Decode(nil); err == nil {
		t.Errorf("Decode(nil) succeeded")
	}
	_, err := fsm.Decode([]byte{byte(fsm.CmdAcquireLeader), '{'})
	if err == nil || errors.Is(err, fsm.ErrUnknownCommand) {
		t.Errorf("Decode(truncated body) = %v, want a decode error", err)
	}
}

func TestApplyEntry_UnknownIgnorableType_IsSkippedWithAnError(t *testing.T) {
	s := emptyState()
	for i, c := range []fsm.Command{fsm.ClaimInitialize{Member: "node1"}, acquire("node1", 0)} {
		if err := fsm.ApplyEntry(&s, encode(t, c), uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Clone()
	data := []byte{byte(fsm.FlagIgnorable | 50), '{', '"', 'x', '"', ':', '1', '}'}
	err := fsm.ApplyEntry(&s, data, 3)
	if !errors.Is(err, fsm.ErrUnknownCommand) {
		t.Fatalf("ApplyEntry: %v, want ErrUnknownCommand", err)
	}
	if s.Index != 3 {
		t.Fatalf("Index = %d, want 3", s.Index)
	}
	if !equalExceptIndex(before, s.Clone()) {
		t.Fatalf("skipped command changed the state")
	}

	f := fsm.New()
	r := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: data}).(fsm.Result)
	if r.Index != 3 || !errors.Is(r.Err, fsm.ErrUnknownCommand) {
		t.Fatalf("FSM.Apply = %+v, want ErrUnknownCommand at 3", r)
	}
	if f.AppliedIndex() != 3 {
		t.Fatalf("AppliedIndex = %d, want 3", f.AppliedIndex())
	}
}

func mustPanic(t *testing.T, wantInMessage []string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic")
		}
		msg := fmt.Sprint(r)
		for _, w := range wantInMessage {
			if !strings.Contains(msg, w) {
				t.Fatalf("panic %q does not mention %q", msg, w)
			}
		}
	}()
	fn()
}

func TestApplyEntry_UndecodableEntries_Panic(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want []string // in the panic message
	}{
		{"UnknownTypeWithoutIgnorableFlag", []byte{50, '{', '}'}, []string{"entry 7", "50"}},
		{"UnknownTypeZero", []byte{0, '{', '}'}, []string{"entry 7"}},
		{"KnownTypeWithBrokenJSON", []byte{byte(fsm.CmdAcquireLeader), '{', 'x'}, []string{"entry 7", "command 4"}},
		{"KnownTypeWithWrongFieldType", append([]byte{byte(fsm.CmdAcquireLeader)}, `{"ttl":"30"}`...), []string{"entry 7", "command 4"}},
		{"EmptyEntry", nil, []string{"entry 7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := emptyState()
			mustPanic(t, tc.want, func() { _ = fsm.ApplyEntry(&s, tc.data, 7) })
			f := fsm.New()
			mustPanic(t, tc.want, func() { f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: tc.data}) })
		})
	}
}

func TestFSMApply_NonCommandEntry_OnlyAdvancesIndex(t *testing.T) {
	f := fsm.New()
	before := f.State()
	r := f.Apply(&raft.Log{Index: 5, Type: raft.LogConfiguration, Data: []byte("not a command")}).(fsm.Result)
	if r.Index != 5 || r.Err != nil {
		t.Fatalf("Result = %+v", r)
	}
	after := f.State()
	if after.Index != 5 || !equalExceptIndex(before, after) {
		t.Fatalf("state = %+v", after)
	}
}

func TestFSMChanged_IsClosedAfterApplyAndRestore(t *testing.T) {
	f := fsm.New()
	ch := f.Changed()
	select {
	case <-ch:
		t.Fatalf("Changed closed before any entry")
	default:
	}
	f.Apply(commandLog(t, 1, fsm.ClaimInitialize{Member: "node1"}))
	select {
	case <-ch:
	default:
		t.Fatalf("Changed not closed after Apply")
	}

	next := f.Changed()
	select {
	case <-next:
		t.Fatalf("the new Changed channel is already closed")
	default:
	}
	// A rejected command is still an applied entry.
	f.Apply(commandLog(t, 2, fsm.ClaimInitialize{Member: "node2"}))
	select {
	case <-next:
	default:
		t.Fatalf("Changed not closed after a rejected Apply")
	}

	next = f.Changed()
	var buf bytes.Buffer
	persist(t, f, &buf)
	if err := f.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-next:
	default:
		t.Fatalf("Changed not closed after Restore")
	}
}

// fakeSink is a raft.SnapshotSink over a bytes.Buffer.
type fakeSink struct {
	buf       *bytes.Buffer
	failWrite bool
	closed    bool
	cancelled bool
}

func (s *fakeSink) Write(p []byte) (int, error) {
	if s.failWrite {
		return 0, errors.New("disk full")
	}
	return s.buf.Write(p)
}
func (s *fakeSink) ID() string    { return "fake" }
func (s *fakeSink) Cancel() error { s.cancelled = true; return nil }
func (s *fakeSink) Close() error  { s.closed = true; return nil }

func persist(t *testing.T, f *fsm.FSM, buf *bytes.Buffer) {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	sink := &fakeSink{buf: buf}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed=%v cancelled=%v, want closed only", sink.closed, sink.cancelled)
	}
}

// busyFSM applies one of everything that leaves a mark on the state.
func busyFSM(t *testing.T) *fsm.FSM {
	t.Helper()
	f := fsm.New()
	cmds := []fsm.Command{
		fsm.ClaimInitialize{Member: "node1"},
		fsm.SetInitialize{Member: "node1", SystemID: "7712594815253989143"},
		fsm.SetConfig{Config: map[string]any{"ttl": float64(30), "postgresql": map[string]any{"parameters": map[string]any{"max_connections": float64(50)}}}},
		fsm.UpsertMember{Member: member("node1", "running")},
		fsm.UpsertMember{Member: member("node2", "running")},
		acquire("node1", 0),
		fsm.RenewLeader{Member: "node1", Epoch: 6, TTL: 30, ProposedAt: t1},
		fsm.SetSync{Leader: "node1", Epoch: 6, Members: []string{"node2"}},
		fsm.AppendTenureHistory{Entry: historyEntryAt(1, 6)},
		fsm.SetPending{Pending: fsm.Pending{Kind: "switchover", Leader: "node1", Candidate: "node2", RequestedAt: t0}},
		fsm.SwapSync{Leader: "node1", Epoch: 6, ExpectVersion: 0, Members: []string{"node2"}}, // Sync.Version = 11
	}
	for i, c := range cmds {
		if r := f.Apply(commandLog(t, uint64(i+1), c)).(fsm.Result); r.Err != nil {
			t.Fatalf("apply %d (%T): %v", i+1, c, r.Err)
		}
	}
	return f
}

func TestSnapshot_PersistThenRestore_GivesAnEqualState(t *testing.T) {
	f := busyFSM(t)
	want := f.State()
	var buf bytes.Buffer
	persist(t, f, &buf)

	if want.Sync.Version != 11 {
		t.Fatalf("busy state has Sync.Version %d, want 11 (the snapshot must carry it)", want.Sync.Version)
	}
	// Later entries do not leak into the snapshot already taken.
	f.Apply(commandLog(t, 12, fsm.ClearPending{}))

	g := fsm.New()
	if err := g.Restore(io.NopCloser(bytes.NewReader(buf.Bytes()))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	got := g.State()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored state differs\n got %+v\nwant %+v", got, want)
	}
	if g.AppliedIndex() != want.Index {
		t.Fatalf("AppliedIndex = %d, want %d", g.AppliedIndex(), want.Index)
	}
}

func TestSnapshot_RestoredNode_AppliesLaterEntriesLikeTheOthers(t *testing.T) {
	// The snapshot must keep everything Apply decides on, or a node that
	// restored from it diverges from one that replayed the log.
	for _, tc := range []struct {
		name  string
		setup []fsm.Command
		next  []fsm.Command
	}{
		{"EmptyConfigThenIfEmpty", []fsm.Command{fsm.SetConfig{}}, []fsm.Command{fsm.SetConfig{Config: map[string]any{"ttl": float64(60)}, IfEmpty: true}}},
		{"LeaderThenAcquire", []fsm.Command{acquire("node1", 0), fsm.ReleaseLeader{Member: "node1", Epoch: 1}}, []fsm.Command{acquire("node2", 2), fsm.SetSync{Leader: "node2", Epoch: 3, Members: []string{"node1"}}}},
		{"MembersThenRemove", []fsm.Command{fsm.UpsertMember{Member: member("node1", "running")}}, []fsm.Command{fsm.RemoveMember{Name: "node1"}}},
		{"SyncVersionThenSwap", []fsm.Command{acquire("node1", 0), fsm.SwapSync{Leader: "node1", Epoch: 1, Members: []string{"node2"}}, fsm.SetSync{Leader: "node1", Epoch: 1}},
			[]fsm.Command{fsm.SwapSync{Leader: "node1", Epoch: 1, ExpectVersion: 0}, fsm.SwapSync{Leader: "node1", Epoch: 1, ExpectVersion: 2, Members: []string{"node3"}}}},
		{"StaleMemberThenRemove", []fsm.Command{fsm.UpsertMember{Member: member("node1", "running")}, fsm.UpsertMember{Member: member("node2", "running")}},
			[]fsm.Command{fsm.RemoveStaleMember{Name: "node1", ExpectIndex: 2}, fsm.RemoveStaleMember{Name: "node1", ExpectIndex: 1}}},
		{"HistoryThenAppend", []fsm.Command{fsm.AppendHistory{Entry: historyEntry(2)}}, []fsm.Command{fsm.AppendHistory{Entry: historyEntry(2)}, fsm.AppendHistory{Entry: historyEntry(3)}}},
		// The epoch is what the next tenure entry is compared with.
		{"TenureHistoryThenAppend", []fsm.Command{fsm.AppendTenureHistory{Entry: historyEntryAt(2, 7)}},
			[]fsm.Command{fsm.AppendTenureHistory{Entry: historyEntryAt(2, 7)}, fsm.AppendTenureHistory{Entry: historyEntryAt(2, 9)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replayed := fsm.New()
			idx := uint64(0)
			for _, c := range tc.setup {
				idx++
				replayed.Apply(commandLog(t, idx, c))
			}
			var buf bytes.Buffer
			persist(t, replayed, &buf)
			restored := fsm.New()
			if err := restored.Restore(io.NopCloser(&buf)); err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.next {
				idx++
				r1 := replayed.Apply(commandLog(t, idx, c)).(fsm.Result)
				r2 := restored.Apply(commandLog(t, idx, c)).(fsm.Result)
				if fsm.ErrorCode(r1.Err) != fsm.ErrorCode(r2.Err) || (r1.Err == nil) != (r2.Err == nil) {
					t.Fatalf("entry %d (%T): replayed %v, restored %v", idx, c, r1.Err, r2.Err)
				}
			}
			if a, b := replayed.State(), restored.State(); !reflect.DeepEqual(a, b) {
				t.Fatalf("states diverged\nreplayed %+v\nrestored %+v", a, b)
			}
		})
	}
}

func TestSnapshot_PersistWriteFailure_CancelsTheSink(t *testing.T) {
	snap, err := busyFSM(t).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{buf: &bytes.Buffer{}, failWrite: true}
	if err := snap.Persist(sink); err == nil {
		t.Fatalf("Persist succeeded on a failing sink")
	}
	if !sink.cancelled || sink.closed {
		t.Fatalf("sink cancelled=%v closed=%v, want cancelled only", sink.cancelled, sink.closed)
	}
}

func TestRestore_UnknownFormat_IsRejectedAndKeepsTheState(t *testing.T) {
	for _, doc := range []string{
		`{"format": 2, "index": 9, "state": {"index": 9, "members": {}}}`,
		`{"index": 9, "state": {"index": 9}}`,
		`not json`,
	} {
		f := busyFSM(t)
		before := f.State()
		ch := f.Changed()
		if err := f.Restore(io.NopCloser(strings.NewReader(doc))); err == nil {
			t.Fatalf("Restore(%s) succeeded", doc)
		}
		if !reflect.DeepEqual(f.State(), before) {
			t.Fatalf("failed Restore(%s) changed the state", doc)
		}
		select {
		case <-ch:
			t.Fatalf("failed Restore(%s) signalled a change", doc)
		default:
		}
	}
	if _, err := fsm.DecodeSnapshot(strings.NewReader(`{"format": 2}`)); err == nil || !strings.Contains(err.Error(), "format 2") {
		t.Fatalf("DecodeSnapshot: %v, want an unknown format error", err)
	}
}

func TestErrorCode_EverySentinel_RoundTripsThroughErrorFromCode(t *testing.T) {
	sentinels := []error{
		fsm.ErrInitializeHeld, fsm.ErrSystemIDMismatch, fsm.ErrLeaderChanged, fsm.ErrNotLeaderHolder,
		fsm.ErrConfigConflict, fsm.ErrInvalidConfig, fsm.ErrInvalidCommand, fsm.ErrUnknownCommand,
	}
	codes := map[string]bool{}
	for _, sentinel := range sentinels {
		code := fsm.ErrorCode(sentinel)
		if code == "" || codes[code] {
			t.Fatalf("%v: code %q is empty or used twice", sentinel, code)
		}
		codes[code] = true
		if got := fsm.ErrorFromCode(code, sentinel.Error()); got != sentinel {
			t.Errorf("ErrorFromCode(%q, bare message) = %v, want the sentinel itself", code, got)
		}
		wrapped := fmt.Errorf("%w: expected index 3, leader key is at 5", sentinel)
		if fsm.ErrorCode(wrapped) != code {
			t.Errorf("ErrorCode(wrapped %v) = %q, want %q", sentinel, fsm.ErrorCode(wrapped), code)
		}
		back := fsm.ErrorFromCode(fsm.ErrorCode(wrapped), wrapped.Error())
		if !errors.Is(back, sentinel) || back.Error() != wrapped.Error() {
			t.Errorf("round trip of %q gave %q (errors.Is %v)", wrapped, back, errors.Is(back, sentinel))
		}
		for _, other := range sentinels {
			if other != sentinel && errors.Is(back, other) {
				t.Errorf("round trip of %v also matches %v", sentinel, other)
			}
		}
	}
	if fsm.ErrorCode(errors.New("raft: not leader")) != "" || fsm.ErrorCode(nil) != "" {
		t.Errorf("ErrorCode of a plain error or nil is not empty")
	}
	if got := fsm.ErrorFromCode("no_such_code", "boom"); got == nil || got.Error() != "boom" {
		t.Errorf("ErrorFromCode(unknown) = %v, want plain \"boom\"", got)
	}
}

func TestApplyEntry_RejectionFromApply_KeepsItsCodeThroughTheWire(t *testing.T) {
	s := emptyState()
	if err := fsm.ApplyEntry(&s, encode(t, acquire("node1", 0)), 1); err != nil {
		t.Fatal(err)
	}
	err := fsm.ApplyEntry(&s, encode(t, acquire("node2", 0)), 2)
	back := fsm.ErrorFromCode(fsm.ErrorCode(err), err.Error())
	if !errors.Is(back, fsm.ErrLeaderChanged) || back.Error() != err.Error() {
		t.Fatalf("forwarded %v came back as %v", err, back)
	}
}
