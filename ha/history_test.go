package ha

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// historyFailingCluster loses the first AppendTenureHistory proposals.
type historyFailingCluster struct {
	*fakeCluster
	fails int
}

func (c *historyFailingCluster) Propose(ctx context.Context, cmd fsm.Command) (uint64, error) {
	if _, ok := cmd.(fsm.AppendTenureHistory); ok && c.fails > 0 {
		c.fails--
		return 0, errors.New("no quorum")
	}
	return c.fakeCluster.Propose(ctx, cmd)
}

// The promotion's entry is what standbys compare their fork with (rule 4):
// one lost proposal must not leave the check off for the whole tenure.
func TestLoop_PromotionHistoryEntryLost_IsRecordedInALaterTurn(t *testing.T) {
	fc, clock := newFakeCluster(), &fakeClock{now: t0}
	c := &historyFailingCluster{fakeCluster: fc, fails: 2}
	ctx := context.Background()
	l, pg := standbyAboutToPromote(t, c, clock,
		fsm.Member{Name: "n2", Role: fsm.RoleReplica, State: "streaming", Protocol: fsm.Protocol})
	for i := 0; i < 6; i++ {
		if _, err := l.turn(ctx); err != nil {
			t.Logf("turn %d: %v", i, err)
		}
		clock.advance(time.Second)
	}
	if !pg.called("promote") {
		t.Fatalf("n2 did not promote: %v", pg.calls)
	}
	st := c.State()
	if st.Leader == nil || st.Leader.Member != "n2" {
		t.Fatalf("leader %+v, want n2", st.Leader)
	}
	if len(st.History) != 1 || st.History[0].Epoch != st.Leader.Epoch || st.History[0].Timeline != 1 || st.History[0].NewLeader != "n2" {
		t.Fatalf("history %+v; want one entry for timeline 1 from n2's tenure %d", st.History, st.Leader.Epoch)
	}
}

// A member that took the key while its PostgreSQL (a standby's data) was
// down must promote, not start in place: in place it would come up on the
// old primary's timeline number with no history entry (rule 4).
func TestLoop_HolderWithStoppedStandbyData_StartsAsStandbyAndPromotes(t *testing.T) {
	c, clock := newFakeCluster(), &fakeClock{now: t0}
	ctx := context.Background()
	l, pg := standbyAboutToPromote(t, c, clock,
		fsm.Member{Name: "n2", Role: fsm.RoleReplica, State: "streaming", Protocol: fsm.Protocol},
		fsm.Member{Name: "n3", Role: fsm.RoleReplica, State: "streaming", Protocol: fsm.ProtocolRenewCAS})
	for i := 0; i < 6 && !pg.called("promote"); i++ {
		if _, err := l.turn(ctx); err != nil {
			t.Logf("turn %d: %v", i, err)
		}
		clock.advance(time.Second)
	}
	if !pg.called("promote") {
		t.Fatalf("n2 did not promote: %v", pg.calls)
	}
	st := c.State()
	if len(st.History) != 1 || st.History[0].Epoch != 0 || st.History[0].NewLeader != "n2" {
		t.Fatalf("history %+v; want one entry without a tenure (AppendHistory)", st.History)
	}
}

// standbyAboutToPromote proposes a cluster initialized by n1 with the given
// member records and returns n2's loop over a running standby.
func standbyAboutToPromote(t *testing.T, c Cluster, clock *fakeClock, members ...fsm.Member) (*Loop, *fakePG) {
	t.Helper()
	pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, InRecovery: true, Timeline: 1}}
	return standbyAboutToPromoteWith(t, c, clock, pg, members...), pg
}

// standbyAboutToPromoteWith is standbyAboutToPromote with the given
// PostgreSQL, a standby on timeline 1.
func standbyAboutToPromoteWith(t *testing.T, c Cluster, clock *fakeClock, pg Postgres, members ...fsm.Member) *Loop {
	t.Helper()
	cmds := []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"loop_wait": 1, "ttl": 3, "retry_timeout": 1}},
		fsm.ClaimInitialize{Member: "n1"},
		fsm.SetInitialize{Member: "n1", SystemID: "7001"},
	}
	for _, m := range members {
		cmds = append(cmds, fsm.UpsertMember{Member: m})
	}
	for _, cmd := range cmds {
		if _, err := c.Propose(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	// n1 led and gave the key back (a replica never takes the key before
	// the seeding member took it once: takeover.go).
	epoch, err := c.Propose(context.Background(), fsm.AcquireLeader{Member: "n1", TTL: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Propose(context.Background(), fsm.ReleaseLeader{Member: "n1", Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	return New(Config{Name: "n2", Clock: clock}, c, pg)
}

// promotesThenFailsPG promotes, then reports the step failed (as pg_ctl
// promote when it times out, or a step cancelled by a stopping agent), and
// records the timeline markers written.
type promotesThenFailsPG struct {
	*fakePG
	marks []string
}

func (p *promotesThenFailsPG) Promote(ctx context.Context) (uint64, error) {
	p.fakePG.Promote(ctx)
	return 0, context.Canceled
}

func (p *promotesThenFailsPG) MarkTimeline(_ context.Context, timeline int, epoch uint64) error {
	p.marks = append(p.marks, fmt.Sprintf("timeline %d epoch %d", timeline, epoch))
	return nil
}

// A promotion whose step failed although PostgreSQL promoted still marks the
// new timeline with this tenure and records its history entry: a CI run of
// TestRestartAll left such a timeline unmarked (the agent was stopping),
// another member forked the same number from the same LSN, and rule 4 then
// took the first one's data for a standby of it.
func TestLoop_PromotionStepFailsButPostgresPromoted_TimelineStillMarkedAndRecorded(t *testing.T) {
	c, clock := newFakeCluster(), &fakeClock{now: t0}
	pg := &promotesThenFailsPG{fakePG: &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, InRecovery: true, Timeline: 1, ForkLSN: 0x3000000}}}
	l := standbyAboutToPromoteWith(t, c, clock, pg,
		fsm.Member{Name: "n2", Role: fsm.RoleReplica, State: "streaming", Protocol: fsm.Protocol})
	for i := 0; i < 4 && !pg.called("promote"); i++ {
		l.turn(context.Background())
		clock.advance(time.Second)
	}
	if !pg.called("promote") {
		t.Fatalf("n2 did not promote: %v", pg.calls)
	}
	epoch := c.State().Leader.Epoch
	if want := fmt.Sprintf("timeline 2 epoch %d", epoch); len(pg.marks) != 1 || pg.marks[0] != want {
		t.Fatalf("markers written %v, want [%s]", pg.marks, want)
	}
	l.turn(context.Background())
	if h := c.State().History; len(h) != 1 || h[0].Epoch != epoch || h[0].LSN != 0x3000000 || h[0].NewLeader != "n2" {
		t.Fatalf("history %+v, want timeline 1's fork at 0/3000000 by n2's tenure %d", h, epoch)
	}
}
