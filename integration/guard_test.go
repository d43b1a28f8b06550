//go:build integration

package integration

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DESIGN.md (the lease): a lease guard goroutine checks every 50 ms, so a
// loop stuck in a slow step still fences. The loop is made stuck in a
// PostgreSQL query: the server process serving the agent's own SQL
// connection (application_name conclave) is stopped with SIGSTOP, so the
// agent's next query hangs, while every other backend keeps taking writes.
// No renewal follows; the guard must fire at the trust deadline (its log
// line) and start the immediate stop at once, not after the stuck query
// gives up (the watchdog process fires at the same deadline too, so which
// of them stops the postmaster is a race; the probe checks the outcome).
func TestLeaseGuard_LoopStuckInAQuery_GuardFencesByTheTrustDeadline(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	old := b.leader
	var pid int
	waitFor(t, 10*time.Second, "the agent's own connection on "+old.name, func() error {
		v, err := old.queryString("SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity WHERE application_name = 'conclave' AND pid <> pg_backend_pid()")
		if err != nil {
			return err
		}
		if v == "" || strings.Contains(v, ",") {
			return fmt.Errorf("agent backends %q; want exactly one", v)
		}
		pid, err = strconv.Atoi(v)
		return err
	})
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	t.Logf("SIGSTOP the backend %d serving %s's agent", pid, old.name)

	waitFor(t, 15*time.Second, old.name+" stops accepting writes", func() error {
		if last, ok := b.p.lastSuccess(old.name); ok && time.Since(last) < 600*time.Millisecond {
			return fmt.Errorf("still writable %v ago", time.Since(last).Round(time.Millisecond))
		}
		return nil
	})
	last, _ := b.p.lastSuccess(old.name)
	t.Logf("%s's last successful probe write ended %v after the agent's backend stopped", old.name, last.Sub(t0).Round(time.Millisecond))
	if limit := ttl - 750*time.Millisecond + scaled(1200*time.Millisecond); last.Sub(t0) > limit {
		t.Errorf("%s accepted writes until %v; the lease is trusted for at most %v after the last renewal", old.name, last.Sub(t0), ttl-750*time.Millisecond)
	}
	// The guard fires at the trust deadline and must start the immediate
	// stop at once, not after the stuck query gives up. (The watchdog
	// process fires at the same deadline; if it was first, the postmaster
	// may already be gone and the guard logs no stop.)
	guardAt, ok := old.logs.firstTime("lease not renewed in time: fencing PostgreSQL")
	if !ok {
		t.Fatalf("%s's lease guard did not fence (no 'lease not renewed in time' line)", old.name)
	}
	if stopAt, ok := old.logs.firstTimeAfter("mode=immediate", guardAt); ok {
		t.Logf("guard fired at %s; immediate stop began %v later", guardAt.Format("15:04:05.000"), stopAt.Sub(guardAt))
		if stopAt.Sub(guardAt) > 250*time.Millisecond {
			t.Errorf("the guard's immediate stop began %v after it fired: it waited behind the stuck loop", stopAt.Sub(guardAt))
		}
	}
	syscall.Kill(pid, syscall.SIGCONT)
	// The old primary may come back in place (it still holds the key and
	// renews once its loop is free) or a replica takes over.
	leader := waitConverged(b.c, 60*time.Second)
	if leader != old {
		b.assertHandedOver(old, leader, t0, "the stuck loop")
	}
	b.finish(asyncMode)
}

var logTime = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)`)

// firstTime returns the timestamp of the first line containing sub.
func (b *lineBuffer) firstTime(sub string) (time.Time, bool) {
	return b.firstTimeAfter(sub, time.Time{})
}

// firstTimeAfter returns the timestamp of the first line containing sub
// logged at or after t.
func (b *lineBuffer) firstTimeAfter(sub string, t time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if !strings.Contains(l, sub) {
			continue
		}
		m := logTime.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		at, err := time.Parse("2006-01-02T15:04:05.000Z", m[1])
		if err == nil && !at.Before(t) {
			return at, true
		}
	}
	return time.Time{}, false
}
