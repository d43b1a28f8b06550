package watchdog

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// runUntil runs w in-process; the returned cancel plays SIGTERM and waits
// for run to return.
func runUntil(t *testing.T, w *runner) (sigterm func(), done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	go func() { _ = w.run(ctx); close(ch) }()
	t.Cleanup(cancel)
	return func() {
		cancel()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return after SIGTERM")
		}
	}, ch
}

// systemd stopping a control group sends SIGTERM to the watchdog and the
// postmaster at once; an armed watchdog must fence (SIGQUIT) before it goes,
// or the postmaster's smart shutdown keeps sessions writing past the lease.
func TestWatchdog_SIGTERMWhileArmed_FencesPostmasterBeforeExiting(t *testing.T) {
	dataDir, file := setup(t)
	pm := startFakePostmaster(t, dataDir)
	sigterm, _ := runUntil(t, newRunner(dataDir, file, hclog.NewNullLogger()))
	armIn(t, file, 10*time.Second) // far from due
	pm.stillAlive(t, 100*time.Millisecond)
	sigterm()
	pm.waitQuit(t, time.Second)
}

// The agent's clean shutdown disarms before it stops the watchdog; then
// SIGTERM leaves PostgreSQL alone.
func TestWatchdog_SIGTERMWhileDisarmed_LeavesPostmaster(t *testing.T) {
	dataDir, file := setup(t)
	pm := startFakePostmaster(t, dataDir)
	sigterm, _ := runUntil(t, newRunner(dataDir, file, hclog.NewNullLogger()))
	pm.stillAlive(t, 100*time.Millisecond)
	sigterm()
	pm.stillAlive(t, 300*time.Millisecond)
}

// A deleted node (data directory or deadline file gone, no postmaster) does
// not keep its watchdog forever.
func TestWatchdog_NothingLeftToGuard_ExitsByItself(t *testing.T) {
	for _, gone := range []string{"data directory", "deadline file"} {
		t.Run(gone, func(t *testing.T) {
			dataDir, file := setup(t)
			w := newRunner(dataDir, file, hclog.NewNullLogger())
			w.orphanGrace = 300 * time.Millisecond
			_, done := runUntil(t, w)
			victim := dataDir
			if gone == "deadline file" {
				victim = file
			}
			// Still guarding while both are there.
			select {
			case <-done:
				t.Fatal("exited with its data directory and deadline file in place")
			case <-time.After(500 * time.Millisecond):
			}
			if err := os.RemoveAll(victim); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("still running 5s after its %s was removed", gone)
			}
		})
	}
}

// A deadline file gone while a postmaster still runs in the data directory:
// the watchdog stays (a new agent may arm it again).
func TestWatchdog_DeadlineFileGoneButPostmasterRunning_Stays(t *testing.T) {
	dataDir, file := setup(t)
	pm := startFakePostmaster(t, dataDir)
	w := newRunner(dataDir, file, hclog.NewNullLogger())
	w.orphanGrace = 100 * time.Millisecond
	_, done := runUntil(t, w)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("exited while a postmaster runs in its data directory")
	case <-time.After(800 * time.Millisecond):
	}
	// Armed again later: still enforced.
	armIn(t, file, -time.Millisecond)
	pm.waitQuit(t, 3*time.Second)
}

// fakeClocks is an injectable pair of kernel clocks.
type fakeClocks struct{ c Clocks }

func (f *fakeClocks) read() (Clocks, error) { return f.c, nil }

// tick advances both clocks by d, and the boot clock by suspended more (the
// machine was suspended that long).
func (f *fakeClocks) tick(d, suspended time.Duration) {
	f.c.Mono += int64(d)
	f.c.Boot += int64(d + suspended)
}

func TestWatchdog_FrozenMonotonicClock_FencesWhenSuspensionExceedsRemainingTrust(t *testing.T) {
	dataDir, file := setup(t)
	pm := startFakePostmaster(t, dataDir)
	fc := &fakeClocks{c: Clocks{Mono: 1_000 * int64(time.Second), Boot: 1_005 * int64(time.Second)}}
	w := newRunner(dataDir, file, hclog.NewNullLogger())
	w.clock = fc.read
	if err := writeDeadlineFile(file, fc.c.Mono+int64(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	w.check()
	// A 1 s suspension with ~2 s of trust left: still trusted.
	fc.tick(25*time.Millisecond, time.Second)
	w.check()
	pm.stillAlive(t, 100*time.Millisecond)
	// Another 1 s: 2 s suspended in all, more than the ~1.95 s left by the
	// monotonic clock. The other nodes lived through those 2 s.
	fc.tick(25*time.Millisecond, time.Second)
	w.check()
	pm.waitQuit(t, time.Second)
}

func TestWatchdog_SuspensionShorterThanTrust_NoFenceAndNewDeadlineStartsAfresh(t *testing.T) {
	dataDir, file := setup(t)
	pm := startFakePostmaster(t, dataDir)
	fc := &fakeClocks{c: Clocks{Mono: 50 * int64(time.Second), Boot: 60 * int64(time.Second)}}
	w := newRunner(dataDir, file, hclog.NewNullLogger())
	w.clock = fc.read
	if err := writeDeadlineFile(file, fc.c.Mono+int64(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	w.check()
	fc.tick(25*time.Millisecond, 2*time.Second)
	w.check()
	// The agent renews after the resume: the new deadline is not charged
	// with the earlier suspension.
	if err := writeDeadlineFile(file, fc.c.Mono+int64(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		fc.tick(25*time.Millisecond, 0)
		w.check()
	}
	pm.stillAlive(t, 200*time.Millisecond)
	// Without a renewal, the monotonic deadline is still enforced.
	fc.tick(2*time.Second, 0)
	w.check()
	pm.waitQuit(t, time.Second)
}

// Scheduling noise between the two clock_gettime calls of a reading must not
// add up to a suspension.
func TestSuspendMeter_NoiseCountsAtMostOnce(t *testing.T) {
	var m SuspendMeter
	base := Clocks{Mono: 1e12, Boot: 2e12}
	var total time.Duration
	for i := 0; i < 1000; i++ {
		c := base
		c.Mono += int64(i) * int64(25*time.Millisecond)
		c.Boot += int64(i) * int64(25*time.Millisecond)
		if i%2 == 1 {
			c.Boot += int64(5 * time.Millisecond) // preempted 5 ms between the two reads
		}
		total += m.Observe(c)
	}
	if total > 5*time.Millisecond {
		t.Fatalf("noise added up to %s of suspension", total)
	}
	c := base
	c.Mono += 1000 * int64(25*time.Millisecond)
	c.Boot += 1000*int64(25*time.Millisecond) + int64(3*time.Second)
	if got := m.Observe(c); got < 2990*time.Millisecond || got > 3*time.Second {
		t.Fatalf("a 3 s suspension measured as %s", got)
	}
}

func TestReadClocks_BootTimeNotBehindMonotonic(t *testing.T) {
	c, err := ReadClocks()
	if err != nil {
		t.Fatal(err)
	}
	if c.Boot < c.Mono {
		t.Fatalf("CLOCK_BOOTTIME %d behind CLOCK_MONOTONIC %d", c.Boot, c.Mono)
	}
}
