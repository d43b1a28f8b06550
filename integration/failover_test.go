//go:build integration

package integration

// Fault tests of shared/FAULTS.md §2.3 with real agents and PostgreSQL.
// Each runs the writer and the probe through the fault, then waits for the
// cluster to converge and runs the ledger checker and the two-writable
// check. Default dynamic configuration: ttl 3, loop_wait 1,
// retry_timeout 1, so the lease is 3 s and a holder that cannot renew
// fences PostgreSQL 2.25 s after its last renewal was sent.

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

const ttl = 3 * time.Second

// bed is a running three-node cluster with its instruments.
type bed struct {
	t      *testing.T
	c      *cluster
	tb     *testbed // nil on loopback
	w      *writer
	p      *probe
	leader *node
}

// setUp starts three agents, waits for convergence, creates the tables and
// starts the probe and the writer; it returns once writes are acknowledged.
func setUp(t *testing.T, opts clusterOptions, tb *testbed) *bed {
	t.Helper()
	if tb != nil {
		opts.place = tb.place
	}
	b := &bed{t: t, c: newCluster(t, 3, opts), tb: tb}
	b.c.startAll()
	b.leader = waitConverged(b.c, 90*time.Second)
	b.leader.exec(t, schemaSQL)
	var targets []probeTarget
	for _, n := range b.c.nodes {
		targets = append(targets, targetOf(n))
	}
	b.p = startProbe(t, targets...)
	b.w = startWriter(t, b.c, 2)
	b.w.waitWritesResume(t, time.Now(), 15*time.Second)
	waitFor(t, 10*time.Second, "the probe sees the leader writable", func() error {
		if _, ok := b.p.lastSuccess(b.leader.name); !ok {
			return errors.New("no successful probe write yet")
		}
		return nil
	})
	t.Logf("cluster up: leader %s", b.leader.name)
	return b
}

// finish waits for convergence and runs every checker; it returns the
// final leader.
func (b *bed) finish(mode ledgerMode) *node {
	b.t.Helper()
	leader := waitConverged(b.c, 90*time.Second)
	checkLedger(b.t, b.c, leader, b.w, mode)
	b.p.assertNeverTwoWritable(b.t)
	return leader
}

func (b *bed) others(n *node) []*node {
	var out []*node
	for _, o := range b.c.nodes {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// killAgent kills the agent with SIGKILL and reaps it.
func killAgent(t testing.TB, n *node) {
	t.Helper()
	pid := n.agentPID()
	if pid == 0 {
		t.Fatalf("%s: no agent running", n.name)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	n.wait(10 * time.Second)
}

func killPostmaster(t testing.TB, n *node) int {
	t.Helper()
	pid := n.postmasterPID()
	if pid == 0 {
		t.Fatalf("%s: no postmaster running", n.name)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	return pid
}

// waitLeaderAmong waits until every node in among names the same running
// leader other than exclude, and returns it.
func waitLeaderAmong(t testing.TB, c *cluster, among []*node, exclude *node, d time.Duration) *node {
	t.Helper()
	var leader string
	waitFor(t, d, "a new running leader other than "+exclude.name, func() error {
		leader = ""
		for _, n := range among {
			cl, err := n.cluster()
			if err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
			got := ""
			for _, m := range cl.Members {
				if m.Role == "leader" && m.State == "running" {
					got = m.Name
				}
			}
			if got == "" || got == exclude.name {
				return fmt.Errorf("%s sees leader %q", n.name, got)
			}
			if leader != "" && got != leader {
				return fmt.Errorf("views disagree: %s and %s", leader, got)
			}
			leader = got
		}
		return nil
	})
	return c.byName(leader)
}

func (n *node) member(name string) (role, state string, timeline int, err error) {
	cl, err := n.cluster()
	if err != nil {
		return "", "", 0, err
	}
	for _, m := range cl.Members {
		if m.Name == name {
			return m.Role, m.State, m.Timeline, nil
		}
	}
	return "", "", 0, fmt.Errorf("%s not in %s's /cluster", name, n.name)
}

func (n *node) historyLen() (int, error) {
	var h []any
	_, err := getJSONWith(n.http(), n.apiURL()+"/history", &h)
	return len(h), err
}

func assertReplica(t testing.TB, n *node) {
	t.Helper()
	v, err := n.queryString("SELECT pg_is_in_recovery()::text")
	if err != nil || v != "true" {
		t.Errorf("%s: pg_is_in_recovery() = %q, %v; want true (a replica)", n.name, v, err)
	}
}

func rewound(n *node) bool {
	return n.logs.contains("running pg_rewind")
}

// F1: the primary's host dies (agent and postmaster killed together); a
// replica is promoted and writes resume; the old node, started again,
// rejoins as a streaming replica of the new primary.
func TestNodeCrash_KillPrimaryAgentAndPostmaster_ReplicaPromoted(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	old := b.leader
	t0 := crashNode(t, old)

	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, 30*time.Second)
	promoted := time.Since(t0)
	rto := b.w.waitWritesOn(t, newLeader, t0, 30*time.Second)
	t.Logf("RTO: %s promoted after %v; first acknowledged write on it %v after the crash", newLeader.name, promoted.Round(time.Millisecond), rto.Round(time.Millisecond))

	t1 := time.Now()
	old.start()
	leader := waitConverged(b.c, 90*time.Second)
	t.Logf("T_rejoin: %s streams from %s %v after its agent restarted (pg_rewind in its log: %v)",
		old.name, leader.name, time.Since(t1).Round(time.Millisecond), rewound(old))
	if leader == old {
		t.Errorf("the crashed node %s is the leader again", old.name)
	}
	assertReplica(t, old)
	assertHistoryNames(t, leader, newLeader.name)
	b.finish(asyncMode)
}

// assertHistoryNames checks /history and `conclave history` record the
// timeline switch to newLeader.
func assertHistoryNames(t testing.TB, n *node, newLeader string) {
	t.Helper()
	var h [][]any
	if _, err := getJSONWith(n.http(), n.apiURL()+"/history", &h); err != nil || len(h) == 0 {
		t.Fatalf("/history = %v, %v; want the timeline switch", h, err)
	}
	last := h[len(h)-1]
	if len(last) != 5 || last[4] != newLeader || last[0] != float64(1) || last[2] != "no recovery target specified" {
		t.Errorf("/history last entry %v; want [1, lsn, \"no recovery target specified\", time, %q]", last, newLeader)
	}
	if n.dial != nil {
		return // the CLI runs in the root namespace and cannot reach namespaced nodes
	}
	out, err := n.conclave("history")
	if err != nil || !strings.Contains(out, "| "+newLeader) || !strings.Contains(out, "| TL |") {
		t.Errorf("conclave history: %v\n%s", err, out)
	}
}

// F2: only the primary's postmaster dies; the agent, still holding the
// lease, restarts it in place as primary on the same timeline.
func TestPostgresCrash_AgentRestartsItInPlace(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	old := b.leader
	_, _, tlBefore, err := old.member(old.name)
	if err != nil {
		t.Fatal(err)
	}
	histBefore, _ := old.historyLen()
	t0 := time.Now()
	pid := killPostmaster(t, old)
	t.Logf("killed %s's postmaster (pid %d)", old.name, pid)
	rto := b.w.waitWritesResume(t, t0, 30*time.Second)
	t.Logf("RTO: first acknowledged write %v after the postmaster crash", rto.Round(time.Millisecond))
	waitFor(t, 10*time.Second, old.name+" runs a new postmaster", func() error {
		if p := old.postmasterPID(); p == 0 || p == pid {
			return fmt.Errorf("postmaster pid %d", p)
		}
		return nil
	})

	leader := b.finish(noLoss)
	if leader != old {
		t.Errorf("leader changed from %s to %s; want PostgreSQL restarted in place", old.name, leader.name)
	}
	_, _, tlAfter, _ := leader.member(leader.name)
	if tlAfter != tlBefore {
		t.Errorf("timeline %d -> %d; want unchanged", tlBefore, tlAfter)
	}
	if h, _ := leader.historyLen(); h != histBefore {
		t.Errorf("/history grew from %d to %d entries; want no timeline switch", histBefore, h)
	}
}

// 3.7: a crashed agent restarted within a second adopts the running
// PostgreSQL: no restart, no role change, no timeline change; first on the
// leader (whose lease is still valid), then on a replica.
func TestAgentCrash_RunningPostgresIsAdopted(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	for _, which := range []string{"leader", "replica"} {
		leader := waitConverged(b.c, 30*time.Second)
		n := leader
		if which == "replica" {
			n = b.others(leader)[0]
		}
		pm := n.postmasterPID()
		started, err := n.queryString("SELECT pg_postmaster_start_time()::text")
		if err != nil {
			t.Fatal(err)
		}
		_, _, tl, _ := leader.member(leader.name)
		t0 := time.Now()
		killAgent(t, n)
		n.start()
		t.Logf("%s (%s): agent killed and restarted in %v", n.name, which, time.Since(t0).Round(time.Millisecond))

		// The restarted agent has made its own decision: it reports the
		// role it had (the leader renewed its lease), and keeps it for
		// longer than a lease.
		path := map[string]string{"leader": "/primary", "replica": "/replica"}[which]
		waitFor(t, 15*time.Second, n.name+" answers 200 on "+path, func() error {
			if code, err := getJSONWith(n.http(), n.apiURL()+path, nil); code != 200 {
				return fmt.Errorf("HTTP %d %v", code, err)
			}
			return nil
		})
		t.Logf("%s (%s): answers 200 on %s %v after the kill", n.name, which, path, time.Since(t0).Round(time.Millisecond))
		holdsFor(t, ttl+time.Second, leader.name+" stays the leader", func() error {
			for _, o := range b.c.nodes {
				if r, s, _, err := o.member(leader.name); err != nil || r != "leader" || s != "running" {
					return fmt.Errorf("%s sees %s as %s/%s (%v)", o.name, leader.name, r, s, err)
				}
			}
			return nil
		})
		after := waitConverged(b.c, 30*time.Second)
		if after != leader {
			t.Errorf("%s crash: leader changed from %s to %s", which, leader.name, after.name)
		}
		if p := n.postmasterPID(); p != pm {
			t.Errorf("%s: postmaster pid %d -> %d; PostgreSQL was restarted", n.name, pm, p)
		}
		if s, _ := n.queryString("SELECT pg_postmaster_start_time()::text"); s != started {
			t.Errorf("%s: pg_postmaster_start_time %s -> %s; PostgreSQL was restarted", n.name, started, s)
		}
		if _, _, tl2, _ := after.member(after.name); tl2 != tl {
			t.Errorf("timeline %d -> %d after the %s's agent crash", tl, tl2, which)
		}
		if d, ok := b.w.firstOKAfter(t0); ok {
			t.Logf("first acknowledged write %v after the %s's agent crash", d.Sub(t0).Round(time.Millisecond), which)
		}
	}
	b.finish(noLoss)
}

// F9: the primary's agent is paused for 8 s (a GC or VM stall). The
// majority promotes a replica during the pause; the old PostgreSQL must not
// accept writes meanwhile (only an outside fence, the watchdog, can stop it
// while its agent is frozen); after SIGCONT the old node becomes a replica.
func TestProcessPause_SIGSTOPPrimaryAgent(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	old := b.leader
	t0 := time.Now()
	old.signal(syscall.SIGSTOP)
	t.Logf("SIGSTOP %s's agent (pid %d)", old.name, old.agentPID())
	resumed := false
	defer func() {
		if !resumed {
			old.signal(syscall.SIGCONT)
		}
	}()
	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, 8*time.Second)
	t.Logf("RTO: %s promoted %v into the pause", newLeader.name, time.Since(t0).Round(time.Millisecond))
	if rest := 8*time.Second - time.Since(t0); rest > 0 {
		time.Sleep(rest) // the fault: the pause lasts 8 s
	}
	if pm := old.postmasterPID(); pm != 0 {
		if v, err := old.queryString("SELECT pg_is_in_recovery()::text"); err == nil && v == "false" {
			t.Logf("%s's PostgreSQL (pid %d) is still a running primary at the end of the pause", old.name, pm)
		}
	}
	old.signal(syscall.SIGCONT)
	resumed = true
	t.Logf("SIGCONT %s's agent after %v", old.name, time.Since(t0).Round(time.Millisecond))
	if last, ok := b.p.lastSuccess(old.name); ok && last.After(t0) {
		t.Logf("%s's last successful probe write ended %v after the pause began (fenced from outside the frozen agent)", old.name, last.Sub(t0).Round(time.Millisecond))
	}
	if d, ok := b.w.firstOKOn(newLeader, t0); ok {
		t.Logf("RTO: first acknowledged write on the new primary %s %v after the pause began", newLeader.name, d.Sub(t0).Round(time.Millisecond))
	}
	t1 := time.Now()
	leader := b.finish(asyncMode)
	t.Logf("T_rejoin: converged %v after SIGCONT (pg_rewind in %s's log: %v)", time.Since(t1).Round(time.Millisecond), old.name, rewound(old))
	if leader == old {
		t.Errorf("%s is the leader again after the pause", old.name)
	}
	assertReplica(t, old)
}

// F8: both replicas' agents die (their PostgreSQL keeps running); the
// primary loses Raft quorum and must stop accepting writes within its
// lease; nobody is promoted; once the agents are back, one leader and all
// rows.
func TestQuorumLoss_PrimaryBecomesReadOnly(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	primary := b.leader
	reps := b.others(primary)
	t0 := time.Now()
	for _, n := range reps {
		killAgent(t, n)
	}
	t.Logf("killed the agents of %s and %s", reps[0].name, reps[1].name)
	// The holder's last renewal was sent at most loop_wait before t0; it
	// trusts the lease until 2.25 s after that. One probe attempt (≤ 1 s)
	// and a margin on top.
	deadline := t0.Add(ttl + scaled(1500*time.Millisecond))
	waitFor(t, 15*time.Second, primary.name+" stops accepting writes", func() error {
		last, ok := b.p.lastSuccess(primary.name)
		if ok && time.Since(last) < 600*time.Millisecond {
			return fmt.Errorf("still writable %v ago", time.Since(last).Round(time.Millisecond))
		}
		return nil
	})
	last, _ := b.p.lastSuccess(primary.name)
	t.Logf("%s's last successful write ended %v after quorum loss", primary.name, last.Sub(t0).Round(time.Millisecond))
	if last.After(deadline) {
		t.Errorf("%s accepted writes until %v after losing quorum; want none after %v", primary.name, last.Sub(t0).Round(time.Millisecond), deadline.Sub(t0))
	}
	time.Sleep(5 * time.Second) // hold: nothing may become writable while quorum is lost
	for name, wins := range b.p.windows() {
		for _, w := range wins {
			if w.start.After(deadline) {
				t.Errorf("%s accepted a write at %v after quorum loss", name, w.start.Sub(t0).Round(time.Millisecond))
				break
			}
		}
	}
	for _, n := range reps {
		assertReplica(t, n)
	}
	t1 := time.Now()
	for _, n := range reps {
		n.start()
	}
	leader := waitConverged(b.c, 90*time.Second)
	t.Logf("after restarting the agents: leader %s, converged in %v", leader.name, time.Since(t1).Round(time.Millisecond))
	if d, ok := b.w.firstOKAfter(t1); ok {
		t.Logf("writes resumed %v after the agents restarted", d.Sub(t1).Round(time.Millisecond))
	}
	b.finish(noLoss)
}

// F4: the primary's namespace is cut off. The majority promotes a new
// primary; the isolated one (probed from inside its own namespace) stops
// accepting writes before the new one accepts its first; after heal it
// rejoins as a replica through pg_rewind.
func TestNetworkCut_IsolatedPrimaryStopsWritesBeforeNewOneIsPromoted(t *testing.T) {
	tb := newTestbed(t, 3)
	b := setUp(t, clusterOptions{}, tb)
	old := b.leader
	idx := b.c.nodeIndex(old)
	inside := targetOf(old)
	inside.dial = nsDialer(tb.nodes[idx-1])
	b.p.add(inside)
	waitFor(t, 10*time.Second, "the probe inside "+old.name+"'s namespace writes", func() error {
		if last, ok := b.p.lastSuccess(old.name); !ok || time.Since(last) > 300*time.Millisecond {
			return errors.New("no recent successful probe write")
		}
		return nil
	})

	t0 := time.Now()
	tb.isolate(idx)
	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, 30*time.Second)
	t.Logf("%s promoted %v after the cut", newLeader.name, time.Since(t0).Round(time.Millisecond))
	rto := b.w.waitWritesOn(t, newLeader, t0, 30*time.Second)
	t.Logf("RTO: first acknowledged write on %s %v after the cut", newLeader.name, rto.Round(time.Millisecond))
	b.assertHandedOver(old, newLeader, t0, "the cut")

	t1 := time.Now()
	tb.heal(idx)
	leader := waitConverged(b.c, 90*time.Second)
	t.Logf("T_rejoin: converged %v after heal (pg_rewind in %s's log: %v)", time.Since(t1).Round(time.Millisecond), old.name, rewound(old))
	if leader == old {
		t.Errorf("the isolated node %s leads again after heal", old.name)
	}
	assertReplica(t, old)
	b.finish(asyncMode)
}

// Synchronous mode: the primary names its synchronous standby in the FSM
// before relying on it; when the primary's host dies only that standby may
// be promoted, and no acknowledged commit is lost.
func TestSynchronousMode_NoAcknowledgedCommitLost(t *testing.T) {
	b := setUp(t, clusterOptions{dcs: "    synchronous_mode: true"}, nil)
	old := b.leader
	var syncName string
	waitFor(t, 30*time.Second, "a member recorded as sync_standby", func() error {
		cl, err := old.cluster()
		if err != nil {
			return err
		}
		syncName = ""
		for _, m := range cl.Members {
			if m.Role == "sync_standby" {
				if syncName != "" {
					return fmt.Errorf("two sync standbys: %s and %s", syncName, m.Name)
				}
				syncName = m.Name
			}
		}
		v, _ := old.queryString("SELECT coalesce(string_agg(application_name || ':' || state || ':' || sync_state, ','), '') FROM pg_stat_replication")
		names, _ := old.queryString("SHOW synchronous_standby_names")
		if syncName == "" {
			return fmt.Errorf("no member has role sync_standby in /cluster (on %s: synchronous_standby_names=%q, pg_stat_replication %s)", old.name, names, v)
		}
		t.Logf("on %s: synchronous_standby_names=%q, pg_stat_replication %s", old.name, names, v)
		return nil
	})
	t.Logf("%s is the recorded synchronous standby", syncName)
	// Let writes flow with the sync standby in place.
	since := time.Now()
	b.w.waitWritesResume(t, since, 15*time.Second)

	t0 := crashNode(t, old)
	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, 30*time.Second)
	t.Logf("%s promoted %v after the crash", newLeader.name, time.Since(t0).Round(time.Millisecond))
	if newLeader.name != syncName {
		t.Errorf("%s was promoted but the recorded synchronous standby was %s", newLeader.name, syncName)
	}
	rto := b.w.waitWritesOn(t, newLeader, t0, 30*time.Second)
	t.Logf("RTO: first acknowledged write on %s %v after the crash", newLeader.name, rto.Round(time.Millisecond))
	old.start()
	waitConverged(b.c, 90*time.Second)
	assertReplica(t, old)
	b.finish(noLoss)
}

// assertHandedOver waits for the probe's first write on newLeader after
// since and checks that old's last accepted write ended before it began.
func (b *bed) assertHandedOver(old, newLeader *node, since time.Time, event string) {
	b.t.Helper()
	waitFor(b.t, 10*time.Second, "a probe write on the new primary", func() error {
		if _, ok := b.p.firstSuccessAfter(newLeader.name, since); !ok {
			return errors.New("none yet")
		}
		return nil
	})
	oldLast, _ := b.p.lastSuccess(old.name)
	newFirst, _ := b.p.firstSuccessAfter(newLeader.name, since)
	b.t.Logf("%s: last write ended %v after %s; new primary %s: first write began %v after it",
		old.name, oldLast.Sub(since).Round(time.Millisecond), event, newLeader.name, newFirst.Sub(since).Round(time.Millisecond))
	if !oldLast.Before(newFirst) {
		b.t.Errorf("%s still accepted a write (ending %v) after the new primary %s accepted one (starting %v)",
			old.name, oldLast.Sub(since), newLeader.name, newFirst.Sub(since))
	}
}

// crashNode kills a node's agent and postmaster together (a host crash)
// and returns when it happened.
func crashNode(t testing.TB, n *node) time.Time {
	t.Helper()
	agent, pm := n.agentPID(), n.postmasterPID()
	t0 := time.Now()
	syscall.Kill(agent, syscall.SIGKILL)
	syscall.Kill(pm, syscall.SIGKILL)
	n.wait(10 * time.Second)
	t.Logf("killed %s's agent (pid %d) and postmaster (pid %d)", n.name, agent, pm)
	return t0
}
