package fsm

import (
	"errors"
	"testing"
	"time"
)

// A member_slots_ttl string that releases before the unit parser accepted
// ("30m", "30 minutes", "") must still be stored by Apply: older nodes store
// it, and rejecting it here would make the states diverge.
func TestSetConfig_MemberSlotsTTLAnOlderReleaseAccepted_IsStoredAsBefore(t *testing.T) {
	for _, v := range []any{"30m", "30 minutes", "", "15s"} {
		s := State{}
		raw := map[string]any{"synchronous_mode": true, "member_slots_ttl": v}
		if err := applyTestEntry(t, &s, SetConfig{Config: raw}, 3); err != nil {
			t.Errorf("SetConfig member_slots_ttl %q rejected: %v", v, err)
			continue
		}
		if s.ConfigIndex != 3 {
			t.Errorf("member_slots_ttl %q: ConfigIndex %d, want 3", v, s.ConfigIndex)
		}
	}
	// What older releases rejected stays rejected.
	for _, v := range []any{-1, true, 1.5} {
		s := State{}
		err := applyTestEntry(t, &s, SetConfig{Config: map[string]any{"member_slots_ttl": v}}, 3)
		if !errors.Is(err, ErrInvalidConfig) || s.ConfigIndex != 0 {
			t.Errorf("SetConfig member_slots_ttl %#v: err %v, ConfigIndex %d; want ErrInvalidConfig, 0", v, err, s.ConfigIndex)
		}
	}
}

// Rule 2 keeps holding on a cluster whose stored config has such a value.
func TestAcquireLeader_StoredMemberSlotsTTLOlderForm_StillRefusesANonSyncCandidate(t *testing.T) {
	s := State{Members: map[string]Member{}}
	idx := uint64(0)
	apply := func(c Command) error {
		idx++
		return applyTestEntry(t, &s, c, idx)
	}
	if err := apply(SetConfig{Config: map[string]any{"synchronous_mode": true, "member_slots_ttl": "30m"}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(AcquireLeader{Member: "a", TTL: 30, ProposedAt: time.Unix(100, 0)}); err != nil {
		t.Fatal(err)
	}
	epoch := s.Leader.Epoch
	if err := apply(SetSync{Leader: "a", Epoch: epoch, Members: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(ReleaseLeader{Member: "a", Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	err := apply(AcquireLeader{Member: "c", ExpectIndex: s.LeaderIndex, TTL: 30, ProposedAt: time.Unix(101, 0)})
	if !errors.Is(err, ErrNotSyncStandby) {
		t.Errorf("non-sync c acquired in synchronous mode: err %v, leader %q", err, s.LeaderName())
	}
}

// A stored value this release cannot read costs that key only: the other
// keys (synchronous_mode, strict, pause) keep their stored values.
func TestParseDynamicConfig_UnreadableStoredMemberSlotsTTL_FallsBackForThatKeyOnly(t *testing.T) {
	raw := map[string]any{"synchronous_mode": true, "synchronous_mode_strict": true, "pause": true, "member_slots_ttl": "30 minutes"}
	c, warns, err := ParseDynamicConfigWarn(raw)
	if err != nil {
		t.Fatalf("stored config no longer parses: %v", err)
	}
	if !c.SynchronousMode || !c.SynchronousModeStrict || !c.Pause || c.MemberSlotsTTL != DefaultMemberSlotsTTL {
		t.Errorf("got sync %v strict %v pause %v member_slots_ttl %v", c.SynchronousMode, c.SynchronousModeStrict, c.Pause, c.MemberSlotsTTL)
	}
	var de *DynamicConfigError
	if len(warns) != 1 || !errors.As(warns[0], &de) || de.Key != "member_slots_ttl" {
		t.Errorf("warnings %v, want one naming member_slots_ttl", warns)
	}
	if err := ValidateDynamicConfig(raw); err == nil {
		t.Error("ValidateDynamicConfig (API, CLI, file) accepted member_slots_ttl \"30 minutes\"")
	}
}

// If a stored document cannot be parsed at all, rule 2 fails closed when
// its raw synchronous_mode is set.
func TestAcquireLeader_UnparseableConfigWithSynchronousMode_FailsClosed(t *testing.T) {
	s := State{
		Config:      map[string]any{"synchronous_mode": true, "ttl": "abc"},
		ConfigIndex: 1,
		Sync:        Sync{Leader: "a", Members: []string{"b"}},
		LeaderIndex: 2,
	}
	err := applyTestEntry(t, &s, AcquireLeader{Member: "c", ExpectIndex: 2, TTL: 30, ProposedAt: time.Unix(1, 0)}, 5)
	if !errors.Is(err, ErrNotSyncStandby) {
		t.Errorf("non-sync c acquired with an unparseable synchronous config: err %v", err)
	}
	s.Config["synchronous_mode"] = false
	if err := applyTestEntry(t, &s, AcquireLeader{Member: "c", ExpectIndex: 2, TTL: 30, ProposedAt: time.Unix(1, 0)}, 5); err != nil {
		t.Errorf("asynchronous (unparseable) config refused c: %v", err)
	}
}

func applyTestEntry(t *testing.T, s *State, c Command, index uint64) error {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return ApplyEntry(s, b, index)
}
