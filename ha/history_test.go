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
