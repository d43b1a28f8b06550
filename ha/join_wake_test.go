package ha

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// slotPG is a fakePG that hands out the member slots of each SyncSlots.
type slotPG struct {
	*fakePG
	slots chan []string
}

// SyncSlots keeps only the latest list in the channel (capacity 1), so
// the turns before the one under test cannot fill it and hide that one.
func (p slotPG) SyncSlots(_ context.Context, members, _ []string) error {
	for {
		select {
		case p.slots <- slices.Clone(members):
			return nil
		default:
		}
		select {
		case <-p.slots:
		default:
		}
	}
}

// A joining node reports before its copy starts; the primary must create
// its slot then, not at its next turn a loop_wait later (a copy shorter
// than that ended first and its WAL receiver waited 5 s for a retry).
func TestLoop_MemberJoins_PrimaryMakesItsSlotAtOnce_NotALoopWaitLater(t *testing.T) {
	c, clock := newFakeCluster(), &fakeClock{now: t0}
	if _, err := c.Propose(context.Background(), fsm.SetConfig{Config: map[string]any{"loop_wait": 10, "ttl": 30, "retry_timeout": 10}}); err != nil {
		t.Fatal(err)
	}
	pg := slotPG{fakePG: &fakePG{st: PGStatus{DataDir: DataDirMissing}}, slots: make(chan []string, 1)}
	l := New(Config{Name: "n1", Clock: clock, Boottime: fakeBoottime(clock)}, c, pg)
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.State().LeaderName() != "n1" {
		t.Fatalf("bootstrap: leader %q", c.State().LeaderName())
	}
	runLoop(t, l)
	// Run's first turn (it turns at once); the next timed one is 10 s away.
	select {
	case <-pg.slots:
	case <-time.After(5 * time.Second):
		t.Fatal("no turn of the running loop")
	}
	if _, err := c.Propose(context.Background(), fsm.UpsertMember{Member: fsm.Member{Name: "n2", Host: "127.0.0.1", Port: 5433, State: "stopped"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second) // half of loop_wait
	for {
		select {
		case got := <-pg.slots:
			if slices.Contains(got, "n2") {
				return
			}
		case <-deadline:
			t.Fatal("the primary did not make n2's slot within 5 s of n2's report (loop_wait 10)")
		}
	}
}
