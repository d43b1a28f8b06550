package fsm_test

import (
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

func TestHandOver(t *testing.T) {
	acquire := fsm.AcquireLeader{Member: "a", ExpectIndex: 0, TTL: 3, ProposedAt: t0}
	at := t1
	req := fsm.SetPending{Pending: fsm.Pending{Kind: "switchover", Leader: "a", Candidate: "b", RequestedAt: t0, ScheduledAt: &at}}
	ok := fsm.HandOver{Member: "a", Epoch: 1, ExpectIndex: 1, Candidate: "b", CheckpointLSN: 0x3000060, Kind: "switchover"}
	with := func(f func(*fsm.HandOver)) fsm.HandOver { c := ok; f(&c); return c }
	runApplyCases(t, []applyCase{
		{name: "releases the key and records the candidate and the checkpoint", setup: []fsm.Command{acquire, req}, cmd: ok,
			check: func(t *testing.T, s fsm.State) {
				if s.Leader != nil || s.LeaderIndex != cmdIndex {
					t.Errorf("leader %+v at %d, want released at %d", s.Leader, s.LeaderIndex, cmdIndex)
				}
				p := s.Pending
				if p == nil || !p.HandedOver() || p.Candidate != "b" || p.Leader != "a" || p.CheckpointLSN != 0x3000060 ||
					p.HandedOverIndex != cmdIndex || !p.RequestedAt.Equal(t0) || p.ScheduledAt != nil {
					t.Errorf("pending = %+v", p)
				}
			}},
		{name: "not the holder", setup: []fsm.Command{acquire}, cmd: with(func(c *fsm.HandOver) { c.Member = "c" }), wantErr: fsm.ErrNotLeaderHolder},
		{name: "another tenure", setup: []fsm.Command{acquire}, cmd: with(func(c *fsm.HandOver) { c.Epoch = 7 }), wantErr: fsm.ErrNotLeaderHolder},
		{name: "a renewal committed since", setup: []fsm.Command{acquire, fsm.RenewLeader{Member: "a", Epoch: 1, TTL: 3}}, cmd: ok, wantErr: fsm.ErrLeaderChanged},
		{name: "no key", cmd: ok, wantErr: fsm.ErrNotLeaderHolder},
		{name: "no checkpoint", setup: []fsm.Command{acquire}, cmd: with(func(c *fsm.HandOver) { c.CheckpointLSN = 0 }), wantErr: fsm.ErrInvalidCommand},
		{name: "to itself", setup: []fsm.Command{acquire}, cmd: with(func(c *fsm.HandOver) { c.Candidate = "a" }), wantErr: fsm.ErrInvalidCommand},
		{name: "unknown kind", setup: []fsm.Command{acquire}, cmd: with(func(c *fsm.HandOver) { c.Kind = "restart" }), wantErr: fsm.ErrInvalidCommand},
	})
}

func TestSetPending_CannotForgeAHandOver(t *testing.T) {
	runApplyCases(t, []applyCase{{
		name: "hand-over fields dropped",
		cmd:  fsm.SetPending{Pending: fsm.Pending{Kind: "failover", Candidate: "b", HandedOverIndex: 5, CheckpointLSN: 9}},
		check: func(t *testing.T, s fsm.State) {
			if s.Pending.HandedOver() || s.Pending.CheckpointLSN != 0 {
				t.Errorf("pending = %+v, want no hand-over", s.Pending)
			}
		},
	}})
}

func TestPendingDue(t *testing.T) {
	var none *fsm.Pending
	if none.Due(t0.UnixNano()) {
		t.Error("nil pending is due")
	}
	now := &fsm.Pending{Kind: "switchover"}
	if !now.Due(t0.UnixNano()) {
		t.Error("unscheduled pending not due")
	}
	at := t0.Add(time.Minute)
	later := &fsm.Pending{Kind: "switchover", ScheduledAt: &at}
	if later.Due(t0.UnixNano()) || !later.Due(at.UnixNano()) {
		t.Error("scheduled pending due before its time or not at it")
	}
}

func TestCandidateProblem(t *testing.T) {
	base := func() fsm.State {
		return fsm.State{
			Leader: &fsm.Leader{Member: "a", Epoch: 1},
			Members: map[string]fsm.Member{
				"a": {Name: "a", Role: fsm.RolePrimary, State: "running", WALPosition: 10 << 20},
				"b": {Name: "b", Role: fsm.RoleReplica, State: "streaming", WALPosition: 10 << 20},
			},
			Sync: fsm.Sync{Leader: "a", Members: []string{"b"}},
		}
	}
	dyn := fsm.DefaultDynamicConfig()
	cases := []struct {
		name      string
		edit      func(*fsm.State, *fsm.DynamicConfig)
		cand      string
		streaming bool
		want      bool // a problem expected
	}{
		{"streaming replica", nil, "b", true, false},
		{"unknown member", nil, "x", true, true},
		{"the leader itself", nil, "a", true, true},
		{"not streaming", func(s *fsm.State, _ *fsm.DynamicConfig) { m := s.Members["b"]; m.State = "running"; s.Members["b"] = m }, "b", true, true},
		{"running is enough without a leader", func(s *fsm.State, _ *fsm.DynamicConfig) {
			m := s.Members["b"]
			m.State = "running"
			s.Members["b"] = m
			s.Leader = nil
		}, "b", false, false},
		{"stopped", func(s *fsm.State, _ *fsm.DynamicConfig) { m := s.Members["b"]; m.State = "stopped"; s.Members["b"] = m }, "b", false, true},
		{"nofailover", func(s *fsm.State, _ *fsm.DynamicConfig) {
			m := s.Members["b"]
			m.Tags = map[string]any{"nofailover": true}
			s.Members["b"] = m
		}, "b", true, true},
		{"lags", func(s *fsm.State, d *fsm.DynamicConfig) {
			m := s.Members["b"]
			m.WALPosition = 1 << 20
			s.Members["b"] = m
			d.MaximumLagOnFailover = 1 << 20
		}, "b", true, true},
		{"synchronous mode, recorded", func(_ *fsm.State, d *fsm.DynamicConfig) { d.SynchronousMode = true }, "b", true, false},
		{"synchronous mode, not recorded", func(s *fsm.State, d *fsm.DynamicConfig) { d.SynchronousMode = true; s.Sync.Members = nil }, "b", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, d := base(), dyn
			if tc.edit != nil {
				tc.edit(&s, &d)
			}
			got := s.CandidateProblem(d, tc.cand, tc.streaming)
			if (got != "") != tc.want {
				t.Errorf("CandidateProblem = %q, want a problem: %v", got, tc.want)
			}
		})
	}
}

// LagOnlyProblem and ReportedBeforeLeader tell a lag measured against a
// newer leader report (a WAL switch between the two reports) from other
// obstacles.
func TestLagOnlyProblem_AndReportedBeforeLeader(t *testing.T) {
	s := fsm.State{
		Leader: &fsm.Leader{Member: "a", Epoch: 1, TTL: 3},
		Members: map[string]fsm.Member{
			"a": {Name: "a", Role: fsm.RolePrimary, State: "running", WALPosition: 64 << 20, UpdatedIndex: 20},
			"b": {Name: "b", Role: fsm.RoleReplica, State: "streaming", WALPosition: 48 << 20, UpdatedIndex: 18},
			"c": {Name: "c", Role: fsm.RoleReplica, State: "running", WALPosition: 48 << 20, UpdatedIndex: 21},
			"d": {Name: "d", Role: fsm.RoleReplica, State: "streaming", WALPosition: 64 << 20, UpdatedIndex: 19},
		},
	}
	d := fsm.DefaultDynamicConfig()
	d.MaximumLagOnFailover = 1 << 20
	for _, tc := range []struct {
		name            string
		lagOnly, before bool
	}{
		{"b", true, true},   // streaming, lags, reported before the leader
		{"c", false, false}, // not streaming as well
		{"d", false, true},  // within the limit
		{"a", false, false}, // the leader itself
	} {
		if got := s.LagOnlyProblem(d, tc.name, true); got != tc.lagOnly {
			t.Errorf("LagOnlyProblem(%s) = %v, want %v", tc.name, got, tc.lagOnly)
		}
		if got := s.ReportedBeforeLeader(tc.name); got != tc.before {
			t.Errorf("ReportedBeforeLeader(%s) = %v, want %v", tc.name, got, tc.before)
		}
	}
}
