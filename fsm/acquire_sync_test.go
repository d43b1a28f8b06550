package fsm

import (
	"errors"
	"testing"
)

func applyCmd(t *testing.T, s *State, c Command, index uint64) error {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return ApplyEntry(s, b, index)
}

// Rule 2 at the compare-and-swap: in synchronous mode only the recorded
// sync leader or a recorded synchronous standby may take the key, whatever
// the proposer's (possibly stale) view said.
func TestAcquireLeader_SyncMode_OnlyRecordedStandbyOrLeaderMayTakeTheKey(t *testing.T) {
	s := State{Members: map[string]Member{}}
	if err := applyCmd(t, &s, SetConfig{Config: map[string]any{"synchronous_mode": true}}, 1); err != nil {
		t.Fatal(err)
	}
	// First tenure: nothing recorded yet, anyone may take it.
	if err := applyCmd(t, &s, AcquireLeader{Member: "a", ExpectIndex: s.LeaderIndex, TTL: 3}, 2); err != nil {
		t.Fatalf("first acquire: %v", err)
	}
	if err := applyCmd(t, &s, SetSync{Leader: "a", Epoch: 2, Members: []string{"b"}}, 3); err != nil {
		t.Fatal(err)
	}
	if err := applyCmd(t, &s, ReleaseLeader{Member: "a", Epoch: 2}, 4); err != nil {
		t.Fatal(err)
	}
	before := s.Clone()
	err := applyCmd(t, &s, AcquireLeader{Member: "c", ExpectIndex: s.LeaderIndex, TTL: 3}, 5)
	if !errors.Is(err, ErrNotSyncStandby) || s.Leader != nil || s.LeaderIndex != before.LeaderIndex {
		t.Fatalf("c (not recorded) acquired: err %v, leader %+v", err, s.Leader)
	}
	if err := applyCmd(t, &s, AcquireLeader{Member: "b", ExpectIndex: s.LeaderIndex, TTL: 3}, 6); err != nil {
		t.Fatalf("recorded standby b: %v", err)
	}
	if ErrorCode(ErrorFromCode("not_sync_standby", "x")) != "not_sync_standby" {
		t.Fatal("the rejection does not survive forwarding")
	}
}
