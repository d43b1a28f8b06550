//go:build integration

package integration

// Operations the README promises of the agent process itself: a clean stop
// with SIGTERM, the watchdog outliving a killed agent, and SIGHUP reload.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// README ("run"): SIGTERM stops the agent and PostgreSQL cleanly; the
// leader stops PostgreSQL first, then gives the key back. With a 20 s
// lease a replica that took over in well under 20 s can only have done so
// because the key was released, not because it expired.
func TestShutdown_SIGTERMOfLeader_StopsPostgresThenGivesKeyBack(t *testing.T) {
	const longTTL = 20 * time.Second
	b := setUp(t, clusterOptions{dcs: "    ttl: 20"}, nil)
	old := b.leader
	t0 := time.Now()
	old.signal(syscall.SIGTERM)
	if err := old.wait(30 * time.Second); err != nil {
		t.Errorf("%s: agent exited with %v after SIGTERM; want a clean exit", old.name, err)
	}
	exited := time.Since(t0)
	t.Logf("%s's agent exited %v after SIGTERM", old.name, exited.Round(time.Millisecond))
	if p := old.postmasterPID(); p != 0 {
		t.Errorf("%s: postmaster (pid %d) still runs after the agent exited", old.name, p)
	}
	if old.logs.contains("release leader key") {
		t.Errorf("%s: the release of the leader key failed (see its log)", old.name)
	}
	// No watchdog left behind: PostgreSQL is stopped, nothing to fence.
	waitFor(t, 10*time.Second, old.name+"'s watchdog exits", func() error {
		if pid := watchdogPID(old); pid != 0 {
			return fmt.Errorf("watchdog pid %d still runs", pid)
		}
		return nil
	})

	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, 30*time.Second)
	took := time.Since(t0)
	t.Logf("%s leads %v after SIGTERM", newLeader.name, took.Round(time.Millisecond))
	rto := b.w.waitWritesOn(t, newLeader, t0, 30*time.Second)
	t.Logf("first acknowledged write on %s %v after SIGTERM", newLeader.name, rto.Round(time.Millisecond))
	if rto >= scaled(longTTL/4) { // at most half the lease under CI
		t.Errorf("writes resumed on %s %v after SIGTERM; with the key given back they must resume well within the %v lease", newLeader.name, rto, longTTL)
	}
	// PostgreSQL stopped before the new primary accepted its first write.
	b.assertHandedOver(old, newLeader, t0, "SIGTERM")

	old.start()
	leader := waitConverged(b.c, 90*time.Second)
	if leader == old {
		t.Errorf("%s leads again after its restart", old.name)
	}
	assertReplica(t, old)
	// A clean stop sends every WAL record to the replicas: nothing lost.
	b.finish(noLoss)
}

// watchdogPID returns the pid of n's running watchdog process, 0 if none.
func watchdogPID(n *node) int {
	b, err := os.ReadFile(filepath.Join(n.dir, "raft", "watchdog.pid"))
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(strings.TrimSpace(string(b)), &pid)
	if pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "watchdog") || !strings.Contains(string(cmdline), n.dir) {
		return 0
	}
	return pid
}

// watchdogLog returns n's watchdog log file.
func watchdogLog(n *node) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "raft", "watchdog.log"))
	return string(b)
}

// README ("How it fails over"): a separate watchdog process stops
// PostgreSQL if the agent itself is killed. Only the primary's agent is
// killed (kill -9) and not restarted: its PostgreSQL keeps running until
// the watchdog sends SIGQUIT at the trust deadline (the last renewal sent
// + ttl - 750 ms, so at most 2.25 s after the kill), before a replica may
// take over.
func TestWatchdog_PrimaryAgentKilledAndNotRestarted_FencesPostgres(t *testing.T) {
	b := setUp(t, clusterOptions{serial: true}, nil) // fencing deadline
	old := b.leader
	pm := old.postmasterPID()
	wd := watchdogPID(old)
	if wd == 0 {
		t.Fatalf("%s: no watchdog process running", old.name)
	}
	t0 := time.Now()
	killAgent(t, old)
	t.Logf("killed %s's agent only; postmaster %d and watchdog %d keep running", old.name, pm, wd)

	waitFor(t, 10*time.Second, old.name+"'s postmaster stopped by the watchdog", func() error {
		if p := old.postmasterPID(); p != 0 {
			return fmt.Errorf("postmaster %d still runs", p)
		}
		return nil
	})
	stopped := time.Since(t0)
	t.Logf("%s's postmaster gone %v after the agent was killed", old.name, stopped.Round(time.Millisecond))
	if !strings.Contains(watchdogLog(old), "sent SIGQUIT (immediate shutdown) to the postmaster") {
		t.Errorf("%s's watchdog log does not say it sent SIGQUIT:\n%s", old.name, watchdogLog(old))
	}
	if pid := watchdogPID(old); pid != wd {
		t.Errorf("%s: watchdog pid %d -> %d; want the same process to have fenced", old.name, wd, pid)
	}
	// The trust deadline is at most ttl - 750 ms after the kill; one probe
	// attempt (up to 1 s) and a scheduling margin on top.
	limit := ttl - 750*time.Millisecond + scaled(1200*time.Millisecond)
	last, ok := b.p.lastSuccess(old.name)
	if !ok {
		t.Fatalf("the probe never wrote on %s", old.name)
	}
	t.Logf("%s's last successful probe write ended %v after the kill", old.name, last.Sub(t0).Round(time.Millisecond))
	if last.Sub(t0) > limit {
		t.Errorf("%s accepted writes until %v after its agent was killed; the watchdog must fence by %v", old.name, last.Sub(t0), limit)
	}

	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, 30*time.Second)
	b.assertHandedOver(old, newLeader, t0, "the agent kill")
	old.start()
	leader := waitConverged(b.c, 90*time.Second)
	if leader == old {
		t.Errorf("%s leads again", old.name)
	}
	assertReplica(t, old)
	b.finish(asyncMode)
}

// Stopping the whole cluster at once (every agent gets SIGTERM together, as
// the harness's teardown and a fleet-wide `systemctl stop` do): the
// leader still gives the key back, because the other agents keep their Raft
// peers up until it did; every agent exits cleanly with PostgreSQL stopped.
func TestShutdown_WholeClusterSIGTERMAtOnce_LeaderStillGivesKeyBack(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	c.startAll()
	leader := waitConverged(c, 90*time.Second)
	for _, n := range c.nodes {
		n.signal(syscall.SIGTERM)
	}
	for _, n := range c.nodes {
		if err := n.wait(30 * time.Second); err != nil {
			t.Errorf("%s exited with %v after SIGTERM", n.name, err)
		}
		if p := n.postmasterPID(); p != 0 {
			t.Errorf("%s: postmaster %d still runs after its agent exited", n.name, p)
		}
	}
	if leader.logs.contains("release leader key") {
		t.Errorf("%s: giving the leader key back failed (see its log)", leader.name)
	}
	if !leader.logs.contains("gave the leader key back") {
		t.Errorf("%s's log does not say it gave the leader key back", leader.name)
	}
}
