package ha_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// The checker must see what it claims to: these drive the simulated world by
// hand, without agents.

func newCheckerWorld(n int) *world {
	var clocks []*nodeClock
	for range n {
		clocks = append(clocks, &nodeClock{origin: time.Now(), rate: 1})
	}
	return newWorld(n, clocks)
}

func TestNemesisChecker_TwoWritableAtOnce_IsAnOverlapHoweverShort(t *testing.T) {
	w := newCheckerWorld(2)
	ctx := context.Background()
	a, b := simPG{w: w, i: 0, g: newGate()}, simPG{w: w, i: 1, g: newGate()}
	if _, err := a.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Clone(ctx, fsm.Member{Name: "n0"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, &fsm.Member{Name: "n0"}); err != nil {
		t.Fatal(err)
	}
	if o := w.overlaps(); len(o) != 0 {
		t.Fatalf("overlap with one primary: %v", o)
	}
	if _, err := b.Promote(ctx); err != nil { // n0 still writable
		t.Fatal(err)
	}
	if err := a.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	o := w.overlaps()
	if len(o) != 1 || !strings.Contains(o[0], "n0") || !strings.Contains(o[0], "n1") {
		t.Fatalf("overlaps %v, want one between n0 and n1", o)
	}
}

func TestNemesisChecker_FenceThenPromote_IsNoOverlap(t *testing.T) {
	w := newCheckerWorld(2)
	ctx := context.Background()
	a, b := simPG{w: w, i: 0, g: newGate()}, simPG{w: w, i: 1, g: newGate()}
	a.Bootstrap(ctx)
	b.Clone(ctx, fsm.Member{Name: "n0"})
	b.Start(ctx, &fsm.Member{Name: "n0"})
	a.Fence(ctx)
	b.Promote(ctx)
	if o := w.overlaps(); len(o) != 0 {
		t.Fatalf("overlap after fence then promote: %v", o)
	}
}

func TestNemesisChecker_WatchdogFencesAtTheArmedDeadline_EvenWhileTheAgentIsPaused(t *testing.T) {
	w := newCheckerWorld(1)
	g := newGate()
	pg := simPG{w: w, i: 0, g: g}
	pg.Bootstrap(context.Background())
	wd := watchdog{w: w, i: 0, g: g}
	wd.Arm(w.clocks[0].Now().Add(100 * time.Millisecond))
	g.pause()
	defer g.resume()
	rafttest.WaitFor(t, 5*time.Second, func() error {
		if len(w.writableNodes()) != 0 {
			return errors.New("the watchdog did not fence a paused agent's PostgreSQL")
		}
		return nil
	})
}

func TestNemesisChecker_SyncAckMissingOnTheFinalPrimary_IsLost(t *testing.T) {
	w := newCheckerWorld(3)
	ctx := context.Background()
	p := []simPG{{w: w, i: 0, g: newGate()}, {w: w, i: 1, g: newGate()}, {w: w, i: 2, g: newGate()}}
	w.syncOn = append(w.syncOn, toggle{at: time.Now(), on: true})
	p[0].Bootstrap(ctx)
	for _, s := range p[1:] {
		s.Clone(ctx, fsm.Member{Name: "n0"})
		s.Start(ctx, &fsm.Member{Name: "n0"})
	}
	w.tick(false) // both stream
	p[0].SetSyncStandbys(ctx, []string{"n1"}, false)
	w.cut[[2]int{0, 2}] = true // n2 stops receiving
	w.tick(true)               // commit 1 written, replicated to n1 on the next tick
	w.tick(false)              // ...and acknowledged
	if acked, syncAcked := w.counts(); acked != 1 || syncAcked != 1 {
		t.Fatalf("acked %d, synchronously %d; want 1, 1", acked, syncAcked)
	}
	if lost := w.lostCommits(1); len(lost) != 0 {
		t.Fatalf("n1 has the commit but lost: %v", lost)
	}
	if lost := w.lostCommits(2); len(lost) != 1 {
		t.Fatalf("n2 lacks the commit; lost %v, want it reported", lost)
	}
	// Turning synchronous mode off afterwards gives the guarantee up.
	w.syncOn = append(w.syncOn, toggle{at: time.Now().Add(time.Millisecond), on: false})
	if lost := w.lostCommits(2); len(lost) != 0 {
		t.Fatalf("lost %v although synchronous mode was turned off after the ack", lost)
	}
}

func TestNemesisChecker_CommitReleasedByEmptyingTheList_IsNotAcknowledged(t *testing.T) {
	w := newCheckerWorld(2)
	ctx := context.Background()
	a, b := simPG{w: w, i: 0, g: newGate()}, simPG{w: w, i: 1, g: newGate()}
	a.Bootstrap(ctx)
	b.Clone(ctx, fsm.Member{Name: "n0"})
	b.Start(ctx, &fsm.Member{Name: "n0"})
	a.SetSyncStandbys(ctx, []string{"n1"}, false)
	w.cut[[2]int{0, 1}] = true
	w.tick(true) // waits for n1, which is cut off
	a.SetSyncStandbys(ctx, nil, false)
	w.tick(false)
	if acked, _ := w.counts(); acked != 0 {
		t.Fatalf("%d commits acknowledged; a released wait is not an acknowledgement", acked)
	}
}
