package ha

import (
	"context"
	"errors"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

// From the safety review: a SwapSync recording n2 whose outcome is unknown
// (or that committed but is not yet applied here) must not land after the
// next turns took n2 out of synchronous_standby_names, or the state records
// a standby PostgreSQL no longer waits for: commits acknowledged without n2,
// n2 promoted, those commits lost. While such a proposal may be in flight
// the removal waits for a fencing SwapSync, which kills it.
func TestSync_InDoubtSwapSync_IsFencedBeforeItsStandbyLeavesSynchronousStandbyNames(t *testing.T) {
	// Turn N: n2 listed, sync, flushed past its added-at: record it.
	o := syncScenario()
	o.State.Sync.Version = 50
	o.PG.SyncStandbys = []string{"n2"}
	o.SyncAddedAt = map[string]uint64{"n2": 1000}
	o.PG.Replicas[0].SyncState, o.PG.Replicas[0].FlushLSN = "sync", 1000
	a, _ := syncStep(o)
	if a == nil || a.Kind != ActSetSync || !contains(a.Names, "n2") {
		t.Fatalf("turn N: %+v, want set-sync recording n2", a)
	}
	inDoubt := fsm.SwapSync{Leader: "n1", Epoch: o.State.Leader.Epoch, ExpectVersion: 50, Members: a.Names}
	// Its outcome is unknown: the local state still shows version 50.

	// Turn N+1: n2's walsender is gone, it is no longer wanted.
	o2 := syncScenario()
	o2.State.Sync.Version = 50
	o2.PG.SyncStandbys = []string{"n2"}
	o2.PG.Replicas = o2.PG.Replicas[1:]
	o2.SyncInDoubt = true
	st := o2.State.Clone()
	idx := uint64(60)
	for turn := 0; turn < 3; turn++ {
		a2, why := syncStep(o2)
		if a2 == nil {
			t.Fatalf("turn N+1+%d: no action", turn)
		}
		if a2.Kind == ActSetSyncStandbys && !contains(a2.Names, "n2") {
			break // removal: checked below
		}
		if a2.Kind != ActSetSync {
			t.Fatalf("turn N+1+%d: %v %v (%s), want the fencing set-sync first", turn, a2.Kind, a2.Names, why)
		}
		// The fencing SwapSync commits (ExpectVersion as read, the set as recorded).
		idx++
		fence := fsm.SwapSync{Leader: "n1", Epoch: o2.State.Leader.Epoch, ExpectVersion: o2.State.Sync.Version, Members: a2.Names}
		if err := applyCmd(&st, fence, idx); err != nil {
			t.Fatalf("fence: %v", err)
		}
		o2.State, o2.SyncInDoubt = st.Clone(), false
	}
	// The in-doubt entry commits after the removal: it must be refused.
	idx++
	err := applyCmd(&st, inDoubt, idx)
	if !errors.Is(err, fsm.ErrSyncChanged) || st.IsSync("n2") {
		t.Errorf("in-doubt SwapSync applied after the fence (err %v, sync %+v): n2 recorded while PostgreSQL no longer waits for it", err, st.Sync)
	}
}

// The removal itself is not held back when nothing is in doubt.
func TestSync_NothingInDoubt_RemovesAtOnce(t *testing.T) {
	o := syncScenario()
	o.PG.SyncStandbys = []string{"n2"}
	o.PG.Replicas = o.PG.Replicas[1:]
	a, _ := syncStep(o)
	if a == nil || a.Kind != ActSetSyncStandbys || contains(a.Names, "n2") {
		t.Fatalf("got %+v, want n2 removed from synchronous_standby_names", a)
	}
}

// The loop starts in doubt (an earlier run may have left a proposal in
// flight), a commit settles it once the local state caught up, an unknown
// outcome puts it back in doubt, and a rejection changes nothing.
func TestSyncFence_InDoubtAtStart_AfterUnknownOutcome_AndWhileTheStateLags(t *testing.T) {
	var f syncFence
	if !f.inDoubt(100) {
		t.Error("not in doubt at start")
	}
	f.proposed(120, nil)
	if !f.inDoubt(119) || f.inDoubt(120) {
		t.Errorf("after a commit at 120: in doubt at 119 %v (want true), at 120 %v (want false)", f.inDoubt(119), f.inDoubt(120))
	}
	f.proposed(0, fsm.ErrSyncChanged)
	if f.inDoubt(120) {
		t.Error("a rejection put the fence in doubt")
	}
	f.proposed(0, errors.New("propose: unknown outcome: context deadline exceeded"))
	if !f.inDoubt(1000) {
		t.Error("an unknown outcome left the fence settled")
	}
	f.proposed(0, fsm.ErrSyncChanged)
	if !f.inDoubt(1000) {
		t.Error("a rejected fence settled an unknown outcome")
	}
}

// Through the loop: its first observation is in doubt, and a committed
// sync proposal settles it.
func TestLoop_SyncInDoubtUntilASyncProposalCommits(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster()
	for _, cmd := range []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"synchronous_mode": true}},
		fsm.UpsertMember{Member: fsm.Member{Name: "n1", Protocol: fsm.Protocol}},
		fsm.AcquireLeader{Member: "n1", TTL: 30},
	} {
		if _, err := c.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	l := New(Config{Name: "n1", Clock: &fakeClock{now: t0}}, c, &fakePG{st: PGStatus{DataDir: DataDirValid, Running: true}})
	o := l.observe(ctx)
	if !o.SyncInDoubt {
		t.Fatal("first observation not in doubt")
	}
	if err := l.run(ctx, o, Action{Kind: ActSetSync}); err != nil {
		t.Fatal(err)
	}
	if c.State().Sync.Version == 0 {
		t.Fatal("no SwapSync committed")
	}
	if o := l.observe(ctx); o.SyncInDoubt {
		t.Error("still in doubt after a committed SwapSync")
	}
}

func applyCmd(st *fsm.State, c fsm.Command, index uint64) error {
	b, err := fsm.Encode(c)
	if err != nil {
		return err
	}
	return fsm.ApplyEntry(st, b, index)
}
