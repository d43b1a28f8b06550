//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Taking over a running streaming-replication cluster (issue 8): a primary
// and pg_basebackup -R replicas built by hand, serving a writer, then one
// agent per host. Nothing may be visible to the applications.

// customSetting is set in the hand-made primary's postgresql.conf (copied to
// the replicas by pg_basebackup); it must stay in effect everywhere.
const customSetting, customValue = "conclave_test.marker", "handmade"

// handHBA is the user's own pg_hba.conf: the agents' configuration sets no
// pg_hba, so it must be kept.
const handHBA = "# hand-made\nlocal all all trust\nhost all all 127.0.0.1/32 md5\nhost replication all 127.0.0.1/32 md5\n"

// pgRun runs a PostgreSQL program as the postgres OS user.
func pgRun(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := asPostgres(filepath.Join(pgBin, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func readText(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// takeoverCluster writes the agents' configuration files without pg_hba
// (the hand-made file is kept) and builds nothing yet.
func takeoverCluster(t *testing.T) *cluster {
	c := newCluster(t, 3, clusterOptions{})
	hba := regexp.MustCompile(`(?m)^  pg_hba:\n(  - .*\n)+`)
	for _, n := range c.nodes {
		cfg := readText(t, n.cfgPath)
		if !hba.MatchString(cfg) {
			t.Fatalf("%s: no postgresql.pg_hba section to remove", n.cfgPath)
		}
		if err := os.WriteFile(n.cfgPath, []byte(hba.ReplaceAllString(cfg, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		chownToPostgres(t, n.cfgPath)
	}
	return c
}

// handPrimary runs initdb, sets the custom setting, its own pg_hba.conf and
// the roles the agents' configuration names, and starts it.
func handPrimary(t testing.TB, n *node) {
	pw := filepath.Join(n.dir, "pwfile")
	if err := os.WriteFile(pw, []byte("super-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, pw)
	pgRun(t, "initdb", "-D", n.dataDir(), "-U", "postgres", "--pwfile="+pw, "--auth-local=trust", "--auth-host=md5", "--data-checksums")
	appendFile(t, filepath.Join(n.dataDir(), "postgresql.conf"), fmt.Sprintf(
		"listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nshared_buffers = 16MB\nmax_connections = 40\n%s = '%s'\n",
		n.pgPort, n.dir, customSetting, customValue))
	if err := os.WriteFile(filepath.Join(n.dataDir(), "pg_hba.conf"), []byte(handHBA), 0o600); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, n.dataDir())
	handStart(t, n)
	n.exec(t, "CREATE ROLE replicator REPLICATION LOGIN PASSWORD 'repl-secret'")
	n.exec(t, "CREATE ROLE rewinder SUPERUSER LOGIN PASSWORD 'rewind-secret'")
	n.exec(t, schemaSQL)
}

// handReplica clones from with pg_basebackup -R (as the tutorial does),
// gives the copy its own port and starts it.
func handReplica(t testing.TB, n, from *node) {
	pgRun(t, "pg_basebackup", "-D", n.dataDir(), "-R", "-X", "stream", "-c", "fast",
		"-d", fmt.Sprintf("host=127.0.0.1 port=%d user=replicator password=repl-secret", from.pgPort))
	appendFile(t, filepath.Join(n.dataDir(), "postgresql.conf"), fmt.Sprintf("port = %d\nunix_socket_directories = '%s'\n", n.pgPort, n.dir))
	handStart(t, n)
}

func handStart(t testing.TB, n *node) {
	pgRun(t, "pg_ctl", "start", "-w", "-D", n.dataDir(), "-l", filepath.Join(n.dir, "handmade.log"))
}

// serverFacts is what must not change when a server is taken over.
type serverFacts struct {
	pid      int
	start    string // pg_postmaster_start_time()
	timeline string
	conf     string // the user's postgresql.conf
	inode    uint64 // the data directory's
}

func factsOf(t testing.TB, n *node) serverFacts {
	t.Helper()
	f := serverFacts{pid: n.postmasterPID(), conf: readText(t, filepath.Join(n.dataDir(), "postgresql.conf")), inode: inode(t, n.dataDir())}
	var err error
	if f.start, err = n.queryString("SELECT pg_postmaster_start_time()::text"); err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	if f.timeline, err = n.queryString("SELECT timeline_id::text FROM pg_control_checkpoint()"); err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
	return f
}

// checkSameServer: same postmaster (PID and start time), same timeline.
func checkSameServer(t testing.TB, n *node, before serverFacts) {
	t.Helper()
	after := factsOf(t, n)
	if after.pid != before.pid || after.start != before.start {
		t.Errorf("%s was restarted: postmaster %d started %s, before %d started %s", n.name, after.pid, after.start, before.pid, before.start)
	}
	if after.timeline != before.timeline {
		t.Errorf("%s: timeline %s, before %s", n.name, after.timeline, before.timeline)
	}
}

// handmade is the cluster built by hand, with what watches it meanwhile.
type handmade struct {
	w     *writer
	probe *probe // a write attempt on every node every 100 ms (never two writable)
	facts map[string]serverFacts
}

// buildHandmade builds node1 (primary) with node2 and node3 streaming from
// it, starts a writer and a probe of every node and returns each server's
// facts.
func buildHandmade(t *testing.T, c *cluster) handmade {
	primary := c.nodes[0]
	handPrimary(t, primary)
	for _, n := range c.nodes[1:] {
		handReplica(t, n, primary)
	}
	h := handmade{w: startWriter(t, c, 2), facts: map[string]serverFacts{}}
	var targets []probeTarget
	for _, n := range c.nodes {
		targets = append(targets, targetOf(n))
	}
	h.probe = startProbe(t, targets...)
	h.w.waitWritesOn(t, primary, time.Now(), 20*time.Second)
	for _, n := range c.nodes {
		h.facts[n.name] = factsOf(t, n)
	}
	return h
}

// checkNotMovedAside: the data directory is the one the user made (same
// inode: not re-cloned into a new one) and nothing was moved aside next to it.
func checkNotMovedAside(t testing.TB, n *node, before serverFacts) {
	t.Helper()
	if ino := inode(t, n.dataDir()); ino != before.inode {
		t.Errorf("%s: data directory replaced (inode %d, before %d)", n.name, ino, before.inode)
	}
	entries, err := os.ReadDir(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "data" && strings.HasPrefix(e.Name(), "data") {
			t.Errorf("%s: %s next to the data directory (moved aside)", n.name, e.Name())
		}
	}
}

func inode(t testing.TB, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// checkTakenOver checks what a DBA would after the takeover, and returns
// how long it took from startedAt (agents started) until the primary led
// with every replica streaming from it through its slot.
func checkTakenOver(t *testing.T, c *cluster, h handmade, startedAt time.Time) time.Duration {
	primary := c.nodes[0]
	if leader := c.waitHealthy(60 * time.Second); leader != primary {
		t.Fatalf("leader %s, want the running primary %s", leader.name, primary.name)
	}
	// Every replica streams from it under its member name, through the slot
	// the primary created for it.
	waitFor(t, 30*time.Second, "node2 and node3 streaming from node1 through their slots", func() error {
		got, err := primary.queryString(`SELECT coalesce(string_agg(r.application_name || ':' || s.slot_name, ',' ORDER BY r.application_name), '')
			FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE r.state = 'streaming'`)
		if err != nil {
			return err
		}
		if got != "node2:node2,node3:node3" {
			return fmt.Errorf("streaming through slots: %q", got)
		}
		return nil
	})
	took := time.Since(startedAt)
	t.Logf("takeover: %v from starting the agents to node1 leading with node2 and node3 streaming through their slots", took.Round(time.Millisecond))
	for _, n := range c.nodes {
		checkSameServer(t, n, h.facts[n.name])
		checkNotMovedAside(t, n, h.facts[n.name])
		if v, err := n.queryString("SHOW " + customSetting); err != nil || v != customValue {
			t.Errorf("%s: %s = %q (%v), want %q", n.name, customSetting, v, err, customValue)
		}
		if got := readText(t, filepath.Join(n.dataDir(), "postgresql.base.conf")); got != h.facts[n.name].conf {
			t.Errorf("%s: postgresql.base.conf is not the user's postgresql.conf", n.name)
		}
		if got := readText(t, filepath.Join(n.dataDir(), "pg_hba.conf")); got != handHBA {
			t.Errorf("%s: pg_hba.conf changed:\n%s", n.name, got)
		}
	}
	// wal_log_hints needs a restart: pending, not applied by surprise.
	if v, err := primary.queryString("SELECT bool_or(pending_restart)::text FROM pg_settings"); err != nil || v != "true" {
		t.Errorf("node1: pending_restart %q (%v), want true", v, err)
	}
	waitFor(t, 10*time.Second, "list showing the pending restart", func() error {
		out, err := primary.conclave("list")
		if err != nil || !strings.Contains(out, "Pending restart") {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	})
	h.probe.assertNeverTwoWritable(t)
	checkLedger(t, c, primary, h.w, noLoss)
	if _, fail, info := h.w.counts(); fail+info > 0 {
		t.Errorf("the applications saw the takeover: %d failed and %d indeterminate writes", fail, info)
	}
	return took
}

func TestTakeover_RunningCluster_AgentsStartedAtOnce_NothingRestarted(t *testing.T) {
	c := takeoverCluster(t)
	h := buildHandmade(t, c)
	started := time.Now()
	c.startAll()
	checkTakenOver(t, c, h, started)
	checkPendingRestartApplied(t, c, h.facts)
}

// checkPendingRestartApplied: the operator's restart --pending, at the time
// they choose, applies what the takeover left pending (wal_log_hints), the
// primary restarting in place: still the leader, same timeline, the custom
// setting still in effect.
func checkPendingRestartApplied(t *testing.T, c *cluster, facts map[string]serverFacts) {
	primary := c.nodes[0]
	if v, _ := primary.queryString("SHOW wal_log_hints"); v != "off" {
		t.Fatalf("node1: wal_log_hints %q before the restart, want the user's off", v)
	}
	out, err := primary.conclave("restart", c.scope, "--pending", "--force")
	t.Logf("conclave restart --pending:\n%s", out)
	if err != nil || !strings.Contains(out, "Success: restart on member node1") {
		t.Fatalf("restart --pending: %v", err)
	}
	if p := primary.postmasterPID(); p == facts[primary.name].pid {
		t.Errorf("node1: postmaster not restarted (pid %d)", p)
	}
	waitFor(t, 30*time.Second, "wal_log_hints on and nothing pending on node1", func() error {
		if v, err := primary.queryString("SHOW wal_log_hints"); err != nil || v != "on" {
			return fmt.Errorf("wal_log_hints %q, %v", v, err)
		}
		if v, err := primary.queryString("SELECT bool_or(pending_restart)::text FROM pg_settings"); err != nil || v != "false" {
			return fmt.Errorf("pending_restart %q, %v", v, err)
		}
		return nil
	})
	if leader := c.waitHealthy(30 * time.Second); leader != primary {
		t.Fatalf("leader %s after the restart, want node1 (restart in place)", leader.name)
	}
	for _, n := range c.nodes {
		if tl, err := n.queryString("SELECT timeline_id::text FROM pg_control_checkpoint()"); err != nil || tl != facts[n.name].timeline {
			t.Errorf("%s: timeline %q (%v) after the restart, want %s", n.name, tl, err, facts[n.name].timeline)
		}
		if v, err := n.queryString("SHOW " + customSetting); err != nil || v != customValue {
			t.Errorf("%s: %s = %q (%v) after the restart, want %q", n.name, customSetting, v, err, customValue)
		}
	}
}

func TestTakeover_RunningCluster_AgentsStartedInEachOrder(t *testing.T) {
	t.Run("PrimaryAgentFirst", func(t *testing.T) {
		c := takeoverCluster(t)
		h := buildHandmade(t, c)
		started := time.Now()
		c.nodes[0].start()
		waitFor(t, 10*time.Second, "node1's agent waiting for Raft", func() error {
			if !c.nodes[0].logs.contains("waiting for the Raft cluster") {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		c.nodes[1].start()
		// Raft forms with two agents; node1 seeds the cluster but takes the
		// key only once node3's agent has reported too.
		waitListWithoutLeader(t, c.nodes[0], "node1 takeover: waiting for the agents at", 1)
		c.nodes[2].start()
		checkTakenOver(t, c, h, started)
	})
	t.Run("PrimaryAgentLast", func(t *testing.T) {
		c := takeoverCluster(t)
		h := buildHandmade(t, c)
		c.nodes[1].start()
		c.nodes[2].start()
		// The replicas formed Raft and wait: neither seeds, neither leads.
		waitListWithoutLeader(t, c.nodes[1], "never seeds", 2)
		started := time.Now()
		c.nodes[0].start()
		checkTakenOver(t, c, h, started)
	})
}

// waitListWithoutLeader waits until n's list shows note count times, and
// fails at once if it shows a leader meanwhile.
func waitListWithoutLeader(t *testing.T, n *node, note string, count int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("list showing %q %d times", note, count), func() error {
		out, err := n.conclave("list")
		if err != nil || strings.Count(out, note) < count {
			return fmt.Errorf("%v\n%s", err, out)
		}
		if strings.Contains(out, "Leader") {
			t.Fatalf("the leader key was taken before every agent reported:\n%s", out)
		}
		return nil
	})
}

// waitRefused waits for n's agent to exit and its log to name why.
func waitRefused(t *testing.T, n *node, why string) {
	t.Helper()
	waitFor(t, 60*time.Second, n.name+"'s agent refusing: "+why, func() error {
		n.mu.Lock()
		done := n.done
		n.mu.Unlock()
		select {
		case <-done:
		default:
			return fmt.Errorf("still running")
		}
		if !n.logs.contains(why) {
			return fmt.Errorf("exited without saying %q", why)
		}
		return nil
	})
}

// checkUntouched: same server, same role, same configuration files.
func checkUntouched(t *testing.T, n *node, before serverFacts, inRecovery string) {
	t.Helper()
	checkSameServer(t, n, before)
	if v, err := n.queryString("SELECT pg_is_in_recovery()::text"); err != nil || v != inRecovery {
		t.Errorf("%s: in recovery %q (%v), want %s", n.name, v, err, inRecovery)
	}
	if got := readText(t, filepath.Join(n.dataDir(), "postgresql.conf")); got != before.conf {
		t.Errorf("%s: postgresql.conf was rewritten", n.name)
	}
	if _, err := os.Stat(filepath.Join(n.dataDir(), "postgresql.base.conf")); err == nil {
		t.Errorf("%s: postgresql.base.conf created", n.name)
	}
}

// node3 is a replica of a primary outside the cluster (another system
// identifier): its agent is refused and its server left streaming as it was,
// while node1 and node2 are taken over.
func TestTakeover_ReplicaOfAnotherSystem_RefusedAndUntouched(t *testing.T) {
	c := takeoverCluster(t)
	primary, foreign := c.nodes[0], c.nodes[2]
	handPrimary(t, primary)
	handReplica(t, c.nodes[1], primary)
	other := c.newNode("other") // not a member: only its PostgreSQL runs
	chownToPostgres(t, other.dir)
	t.Cleanup(func() {
		asPostgres(filepath.Join(pgBin, "pg_ctl"), "stop", "-m", "immediate", "-D", other.dataDir()).Run()
	})
	handPrimary(t, other)
	handReplica(t, foreign, other)
	before := factsOf(t, foreign)
	c.startAll()
	waitRefused(t, foreign, "system identifier")
	checkUntouched(t, foreign, before, "true")
	waitFor(t, 20*time.Second, "node3 still streaming from its own primary", func() error {
		v, err := foreign.queryString("SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')")
		if err != nil || v != "streaming" {
			return fmt.Errorf("%q %v", v, err)
		}
		return nil
	})
	waitFor(t, 60*time.Second, "node1 leading with node2 streaming", func() error {
		cl, err := primary.cluster()
		if err != nil {
			return err
		}
		ok := 0
		for _, m := range cl.Members {
			if (m.Name == "node1" && m.Role == "leader" && m.State == "running") || (m.Name == "node2" && m.State == "streaming") {
				ok++
			}
		}
		if ok != 2 {
			return fmt.Errorf("members %+v", cl.Members)
		}
		return nil
	})
}

// node2 is a copy of node1 the user promoted (a split): two running
// primaries of one system identifier. The agents refuse it and change
// neither server.
func TestTakeover_TwoPrimariesOfOneSystem_RefusedAndUntouched(t *testing.T) {
	c := takeoverCluster(t)
	p1, p2 := c.nodes[0], c.nodes[1]
	handPrimary(t, p1)
	handReplica(t, p2, p1)
	pgRun(t, "pg_ctl", "promote", "-w", "-D", p2.dataDir())
	handReplica(t, c.nodes[2], p1)
	facts := map[string]serverFacts{}
	for _, n := range c.nodes {
		facts[n.name] = factsOf(t, n)
	}
	c.startAll()
	// Either may seed; the other refuses first. node3's agent waits.
	waitRefused(t, p2, "both run a writable primary")
	// node1 saw node2's report before it could take the key (it waits for
	// every agent's): refused, or waiting while node2's report stands. It
	// never leads, and nobody follows anyone.
	holdsFor(t, 5*time.Second, "nobody holding the leader key", func() error {
		cl, err := p1.cluster()
		if err != nil {
			return nil // node1's agent refused and exited
		}
		for _, m := range cl.Members {
			if m.Role == "leader" {
				return fmt.Errorf("%s leads", m.Name)
			}
		}
		return nil
	})
	for _, n := range c.nodes {
		checkUntouched(t, n, facts[n.name], map[bool]string{true: "true", false: "false"}[n == c.nodes[2]])
	}
}

// The primary's agent seeds the cluster and is stopped before it took the
// key (the operator stops it while another agent is still missing): a
// manual failover is refused while it waits, its server keeps running as it
// was, the replicas wait for it, and the takeover completes once it returns.
// node3, started while node1's agent is down, has no Raft state: it
// withholds its vote until it caught up with a Raft leader (a new node looks
// like a wiped one, raftstore/voteguard.go), so node2 and node3 elect no
// Raft leader and nothing can change until node1 is back.
func TestTakeover_PrimaryAgentStoppedMidTakeover_NothingChangesUntilItReturns(t *testing.T) {
	c, h := seededWithoutKey(t)
	p, r2, r3 := c.nodes[0], c.nodes[1], c.nodes[2]
	waitListWithoutLeader(t, r2, "waiting for node1 to take the leader key", 1)
	out, err := r2.conclave("failover", "--candidate", r2.name, "--force")
	if err == nil || !strings.Contains(out, "no member has taken the leader key yet") {
		t.Errorf("failover during the takeover: %v\n%s", err, out)
	}
	// node2 formed the Raft cluster with node1 moments ago: it votes once it
	// learned its catch-up index from the leader (raftstore/voteguard.go).
	// Stopped before that, node1 could never be elected again (DESIGN.md,
	// "Membership"); this test is about the takeover, so it waits.
	waitFor(t, 10*time.Second, r2.name+" votes (no catchup.json)", func() error {
		if _, err := os.Stat(filepath.Join(r2.dir, "raft", "catchup.json")); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s withholds its vote (%v)", r2.name, err)
		}
		return nil
	})
	p.stop()
	checkUntouched(t, p, h.facts[p.name], "false")
	r3.start()
	holdsNoLeader(t, r2, r2, r3)
	if out, err := r2.conclave("failover", "--candidate", r2.name, "--force"); err == nil {
		t.Errorf("failover accepted while node1's agent is down mid-takeover:\n%s", out)
	}
	started := time.Now()
	p.start()
	checkTakenOver(t, c, h, started)
}

// A replica promoted by hand while the takeover waits for its agent: a
// second primary of the system. Its agent is refused and leaves it alone,
// the seeding primary does not take the key, nobody is demoted or promoted.
func TestTakeover_ReplicaPromotedByHandMidTakeover_RefusedNothingChanged(t *testing.T) {
	c, h := seededWithoutKey(t)
	p, r2, r3 := c.nodes[0], c.nodes[1], c.nodes[2]
	pgRun(t, "pg_ctl", "promote", "-w", "-D", r3.dataDir())
	r3.exec(t, "CHECKPOINT") // the promotion's checkpoint is asynchronous: facts on timeline 2
	promoted := factsOf(t, r3)
	r3.start()
	waitRefused(t, r3, "both run a writable primary")
	holdsNoLeader(t, r2, r2)
	checkUntouched(t, r3, promoted, "false")
	for _, n := range []*node{p, r2} {
		checkSameServer(t, n, h.facts[n.name])
		if _, err := os.Stat(filepath.Join(n.dataDir(), "postgresql.base.conf")); err == nil {
			t.Errorf("%s: postgresql.base.conf created", n.name)
		}
	}
	if v, err := p.queryString("SELECT pg_is_in_recovery()::text"); err != nil || v != "false" {
		t.Errorf("node1: in recovery %q (%v)", v, err)
	}
}

// seededWithoutKey builds the hand-made cluster and starts node1's and
// node2's agents: node1 seeded the cluster and waits for node3's agent
// before it takes the key.
func seededWithoutKey(t *testing.T) (*cluster, handmade) {
	c := takeoverCluster(t)
	h := buildHandmade(t, c)
	c.nodes[0].start()
	c.nodes[1].start()
	waitListWithoutLeader(t, c.nodes[0], "node1 takeover: waiting for the agents at", 1)
	return c, h
}

// holdsNoLeader: for 5 s via's list shows no leader and every replica
// stays in recovery.
func holdsNoLeader(t *testing.T, via *node, replicas ...*node) {
	holdsFor(t, 5*time.Second, "nobody leading, the replicas in recovery", func() error {
		if out, err := via.conclave("list"); err != nil || strings.Contains(out, "Leader") {
			return fmt.Errorf("%v\n%s", err, out)
		}
		for _, n := range replicas {
			if v, err := n.queryString("SELECT pg_is_in_recovery()::text"); err != nil || v != "true" {
				return fmt.Errorf("%s: in recovery %q (%v)", n.name, v, err)
			}
		}
		return nil
	})
}
