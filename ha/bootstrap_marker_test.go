package ha

import (
	"context"
	"slices"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

// An agent restarted after its custom bootstrap was cut short never takes
// the half-recovered directory for the cluster's data: it restores again
// while the claim is its own or nobody's, waits while another member holds
// it, and moves the directory aside once another member initialized the
// cluster. Without the marker the same directory finishes the
// initialization (the old behaviour, still right for a completed restore).
func TestDecide_RestartedAfterACutShortCustomBootstrap_RestoresAgainNeverSeeds(t *testing.T) {
	running := PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, InRecovery: true, Timeline: 1}
	stopped := PGStatus{DataDir: DataDirValid, SystemID: "7001", InRecovery: true, Timeline: 1}
	cases := []struct {
		name   string
		claim  []fsm.Command
		pg     PGStatus
		marker bool
		want   []ActionKind
	}{
		{"OwnClaim_Recovering_RestoresAgain", []fsm.Command{fsm.ClaimInitialize{Member: "n1"}}, running, true, []ActionKind{ActBootstrap}},
		{"OwnClaim_Stopped_RestoresAgain", []fsm.Command{fsm.ClaimInitialize{Member: "n1"}}, stopped, true, []ActionKind{ActBootstrap}},
		{"OwnClaim_PartialCopy_RestoresAgain", []fsm.Command{fsm.ClaimInitialize{Member: "n1"}}, PGStatus{DataDir: DataDirInvalid}, true, []ActionKind{ActBootstrap}},
		{"NoClaim_NeverSeeds_RestoresAgain", nil, stopped, true, []ActionKind{ActBootstrap}},
		{"NoClaim_OtherMemberRunsAPrimary_Waits", []fsm.Command{fsm.UpsertMember{Member: fsm.Member{Name: "n2", Role: fsm.RolePrimary, State: "running", SystemID: "7002"}}}, stopped, true, []ActionKind{ActWait}},
		{"NoClaim_OtherMemberHoldsAStoppedPrimarysData_Waits", []fsm.Command{fsm.UpsertMember{Member: fsm.Member{Name: "n2", Role: fsm.RoleReplica, State: "stopped", SystemID: "7002"}}}, stopped, true, []ActionKind{ActWait}},
		{"OtherClaim_Waits", []fsm.Command{fsm.ClaimInitialize{Member: "n2"}}, running, true, []ActionKind{ActWait}},
		{"InitializedByOther_MovesAside", []fsm.Command{fsm.ClaimInitialize{Member: "n2"}, fsm.SetInitialize{Member: "n2", SystemID: "7002"}}, stopped, true, []ActionKind{ActMoveAside}},
		{"InitializedByOther_NoDirectory_WaitsToClone", []fsm.Command{fsm.ClaimInitialize{Member: "n2"}, fsm.SetInitialize{Member: "n2", SystemID: "7002"}}, PGStatus{DataDir: DataDirMissing}, true, []ActionKind{ActWait}},
		{"OwnClaim_NoMarker_FinishesInitialization", []fsm.Command{fsm.ClaimInitialize{Member: "n1"}}, stopped, false, []ActionKind{ActFinishInitialize}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster()
			for _, cmd := range tc.claim {
				if _, err := c.Propose(context.Background(), cmd); err != nil {
					t.Fatal(err)
				}
			}
			st := tc.pg
			st.BootstrapCutShort = tc.marker
			l := New(Config{Name: "n1", Clock: &fakeClock{now: t0}}, c, &fakePG{st: st})
			p := Decide(l.observe(context.Background()))
			if got := p.Kinds(); !slices.Equal(got, tc.want) {
				t.Fatalf("plan %s, want %v", p, tc.want)
			}
		})
	}
}
