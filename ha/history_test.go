package ha

import (
	"context"
	"errors"
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
	for _, cmd := range []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"loop_wait": 1, "ttl": 3, "retry_timeout": 1}},
		fsm.ClaimInitialize{Member: "n1"},
		fsm.SetInitialize{Member: "n1", SystemID: "7001"},
		fsm.UpsertMember{Member: fsm.Member{Name: "n2", Role: fsm.RoleReplica, State: "streaming", Protocol: fsm.Protocol}},
	} {
		if _, err := c.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, InRecovery: true, Timeline: 1}}
	l := New(Config{Name: "n2", Clock: clock}, c, pg)
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
	for _, cmd := range []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"loop_wait": 1, "ttl": 3, "retry_timeout": 1}},
		fsm.ClaimInitialize{Member: "n1"},
		fsm.SetInitialize{Member: "n1", SystemID: "7001"},
		fsm.UpsertMember{Member: fsm.Member{Name: "n2", Role: fsm.RoleReplica, State: "streaming", Protocol: fsm.Protocol}},
	} {
		if _, err := c.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	// n2 took the key (as its previous run did) and its PostgreSQL died
	// before the promotion.
	if _, err := c.Propose(ctx, fsm.AcquireLeader{Member: "n2", ExpectIndex: c.State().LeaderIndex, TTL: 3}); err != nil {
		t.Fatal(err)
	}
	pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: false, InRecovery: true, Timeline: 1}}
	l := New(Config{Name: "n2", Clock: clock}, c, pg)
	for i := 0; i < 4; i++ {
		clock.advance(time.Second)
		if _, err := l.turn(ctx); err != nil {
			t.Logf("turn %d: %v", i, err)
		}
	}
	if !pg.called("promote") || pg.st.Timeline != 2 {
		t.Fatalf("calls %v, timeline %d; want a promotion onto timeline 2", pg.calls, pg.st.Timeline)
	}
	if h := c.State().History; len(h) != 1 || h[0].NewLeader != "n2" {
		t.Fatalf("history %+v; want n2's promotion", h)
	}
}

// Rolling upgrade: while an agent older than AppendTenureHistory is listed,
// the promotion is recorded with the older AppendHistory (no tenure), which
// that agent applies instead of stopping at it.
func TestLoop_OlderAgentListed_PromotionRecordedWithAppendHistory(t *testing.T) {
	c, clock := newFakeCluster(), &fakeClock{now: t0}
	ctx := context.Background()
	for _, cmd := range []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"loop_wait": 1, "ttl": 3, "retry_timeout": 1}},
		fsm.ClaimInitialize{Member: "n1"},
		fsm.SetInitialize{Member: "n1", SystemID: "7001"},
		fsm.UpsertMember{Member: fsm.Member{Name: "n2", Role: fsm.RoleReplica, State: "streaming", Protocol: fsm.Protocol}},
		fsm.UpsertMember{Member: fsm.Member{Name: "n3", Role: fsm.RoleReplica, State: "streaming", Protocol: fsm.ProtocolRenewCAS}},
	} {
		if _, err := c.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, InRecovery: true, Timeline: 1}}
	l := New(Config{Name: "n2", Clock: clock}, c, pg)
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
