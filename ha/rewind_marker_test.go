package ha

import (
	"context"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

// restartedFollower is n2's freshly started loop (no memory of earlier
// runs) over a stopped PostgreSQL whose adapter reports marker; n1 leads
// when withLeader, else n1 led and released the key (a cluster that never
// had a leader is a takeover: takeover.go).
func restartedFollower(t *testing.T, marker RewindLeft, withLeader bool) Observation {
	t.Helper()
	c := newFakeCluster()
	cmds := []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"postgresql": map[string]any{"use_pg_rewind": true}}},
		fsm.ClaimInitialize{Member: "n1"},
		fsm.SetInitialize{Member: "n1", SystemID: "7001"},
		fsm.UpsertMember{Member: fsm.Member{Name: "n1", Host: "10.0.0.1", Port: 5432, Role: fsm.RolePrimary, State: "running", Timeline: 2}},
	}
	cmds = append(cmds, fsm.AcquireLeader{Member: "n1", TTL: 30})
	var epoch uint64
	for _, cmd := range cmds {
		idx, err := c.Propose(context.Background(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		epoch = idx
	}
	if !withLeader {
		if _, err := c.Propose(context.Background(), fsm.ReleaseLeader{Member: "n1", Epoch: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", InRecovery: true, Timeline: 2, Rewind: marker}}
	l := New(Config{Name: "n2", Clock: &fakeClock{now: t0}}, c, pg)
	return l.observe(context.Background())
}

// Item (e): an agent restarted after pg_rewind stopped in the middle never
// starts the partly rewritten directory: it clones again (pg_rewind failed
// or was cut short) or rewinds again (it had lost its source) first.
func TestDecide_RestartedAfterAnUnfinishedRewind_RepairsBeforeStarting(t *testing.T) {
	cases := []struct {
		name       string
		marker     RewindLeft
		withLeader bool
		want       []ActionKind
	}{
		{"NoMarker_StartsAsReplica", RewindNone, true, []ActionKind{ActStartReplica}},
		{"CutShortOrFailed_MovesAsideToClone", RewindBroken, true, []ActionKind{ActMoveAside}},
		{"SourceLost_RewindsAgainFirst", RewindRetry, true, []ActionKind{ActStuckRewind, ActStartReplica}},
		{"NoLeader_Waits", RewindBroken, false, []ActionKind{ActWait}},
		{"NoLeaderNoMarker_StartsAsStandby", RewindNone, false, []ActionKind{ActStartReplica}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := restartedFollower(t, tc.marker, tc.withLeader)
			p := Decide(o)
			got := p.Kinds()
			if len(got) != len(tc.want) {
				t.Fatalf("plan %s, want %v", p, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("plan %s, want %v", p, tc.want)
				}
			}
		})
	}
}
