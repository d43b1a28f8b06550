package watchdog

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// The floating IP goes with the fence: OnExpire runs once per deadline when
// it passes, also with no postmaster to stop, and on SIGTERM while armed.
func TestWatchdog_OnExpire_RunsOncePerPassedDeadlineAndOnStopWhileArmed(t *testing.T) {
	dataDir, file := setup(t)
	var n atomic.Int32
	w := newRunner(dataDir, file, hclog.NewNullLogger())
	OnExpire(func() { n.Add(1) })(w)
	sigterm, _ := runUntil(t, w)
	armIn(t, file, 100*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // further polls of the same deadline
	if got := n.Load(); got != 1 {
		t.Fatalf("OnExpire ran %d times for one passed deadline, want 1", got)
	}
	armIn(t, file, time.Hour)
	time.Sleep(100 * time.Millisecond)
	if got := n.Load(); got != 1 {
		t.Fatalf("OnExpire ran before the deadline: %d", got)
	}
	sigterm()
	if got := n.Load(); got != 2 {
		t.Fatalf("OnExpire did not run on SIGTERM while armed: %d", got)
	}
}
