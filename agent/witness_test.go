package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// A witness accepts a failsafe heartbeat (it never takes the key, so a
// primary cut from Raft is not fenced because of it) only from the member
// its own state names as holder, as a database member does: never from
// another member, never while no key is held.
func TestWitness_FailsafeHeartbeat_AcceptsOnlyTheHolderItsStateNames(t *testing.T) {
	c := rafttest.New(t, 1)
	store := c.Leader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := &Witness{cfg: &config.Config{Scope: rafttest.Scope, Name: "witness"}, log: hclog.NewNullLogger(), store: store}
	heartbeat := func(leader string) error { // as api.acceptFailsafe asks
		st, err := w.FailsafeState(ctx)
		if err != nil {
			return err
		}
		return w.FailsafeHeartbeat(leader, st)
	}

	if err := heartbeat("node1"); err == nil {
		t.Error("accepted a heartbeat while no member holds the key")
	}
	idx, err := store.Propose(ctx, fsm.AcquireLeader{Member: "node1", TTL: 30, ProposedAt: time.Unix(1, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	c.WaitApplied(t, idx)
	if err := heartbeat("node1"); err != nil {
		t.Errorf("heartbeat from the holder: %v, want accepted", err)
	}
	if err := heartbeat("node2"); err == nil {
		t.Error("accepted a heartbeat from a member that does not hold the key here")
	}
	if err := heartbeat("witness"); !errors.Is(err, ha.ErrHoldsKey) {
		t.Errorf("heartbeat naming the witness itself: %v, want ha.ErrHoldsKey", err)
	}
}

// The witness's /liveness follows its own loop (it has no HA loop): zero
// before the loop turned, the last turn after.
func TestWitness_Status_ReportsItsLoopForLiveness(t *testing.T) {
	c := rafttest.New(t, 1)
	store := c.Leader(t)
	w := &Witness{cfg: &config.Config{Scope: rafttest.Scope, Name: "witness"}, log: hclog.NewNullLogger(), store: store,
		members: ha.NewMemberWatch(store.State(), time.Now())}
	if st := w.Status(context.Background()); !st.LoopLastRun.IsZero() {
		t.Errorf("LoopLastRun %v before the loop turned, want zero", st.LoopLastRun)
	}
	now := time.Now()
	w.lastTurn.Store(now.UnixNano())
	st := w.Status(context.Background())
	if !st.LoopLastRun.Equal(now) || st.LoopInterval != witnessTurn || st.Role != fsm.RoleWitness {
		t.Errorf("status LoopLastRun %v interval %v role %s, want %v %v witness", st.LoopLastRun, st.LoopInterval, st.Role, now, witnessTurn)
	}
}
