//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rebuildDCS keeps the rebuild's full-ttl wait short.
const rebuildDCS = "    synchronous_mode: true\n    ttl: 10\n    loop_wait: 2\n    retry_timeout: 3"

// clusterFacts is what the rebuild must keep: the system identifier, the
// primary and its timeline.
type clusterFacts struct {
	systemID, primary string
	timeline          int
}

func stateFacts(t *testing.T, n *node) clusterFacts {
	t.Helper()
	cl, err := n.cluster()
	if err != nil {
		t.Fatal(err)
	}
	f := clusterFacts{systemID: cl.SystemIdentifier}
	for _, m := range cl.Members {
		if m.Role == "leader" || m.Role == "primary" {
			f.primary, f.timeline = m.Name, m.Timeline
		}
	}
	if f.systemID == "" || f.primary == "" {
		t.Fatalf("no system identifier or primary in /cluster: %+v", cl)
	}
	return f
}

// wipeRaft deletes a stopped node's whole raft.data_dir.
func wipeRaft(t *testing.T, n *node) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(n.dir, "raft")); err != nil {
		t.Fatal(err)
	}
}

// DESIGN.md "Rebuilding the Raft state": every node's Raft data deleted,
// the agents restarted. The state is rebuilt from the members' PostgreSQL
// data: the same system identifier (no initdb), the same primary resumed in
// place on its timeline (no promotion, no rewind), every acknowledged
// synchronous commit present, never two writable nodes.
func TestRaftDataLost_AllNodesWiped_SamePrimaryResumesWithEveryRow(t *testing.T) {
	b := setUp(t, clusterOptions{dcs: rebuildDCS}, nil)
	before := stateFacts(t, b.leader)
	b.c.stopAll()
	for _, n := range b.c.nodes {
		wipeRaft(t, n)
	}
	restarted := time.Now()
	b.c.startAll()
	leader := waitConverged(b.c, 120*time.Second)
	t.Logf("figure: rebuilt and converged %v after the restart (ttl 10 s, loop_wait 2 s)", time.Since(restarted).Round(100*time.Millisecond))
	after := stateFacts(t, leader)
	if after != before {
		t.Errorf("after the rebuild %+v, before %+v: want the same system identifier, primary and timeline", after, before)
	}
	for _, n := range b.c.nodes {
		if rewound(n) || movedAside(n) {
			t.Errorf("%s was rewound or re-cloned", n.name)
		}
	}
	if !b.c.byName(before.primary).logs.contains("resuming the stopped primary") {
		t.Error("the former primary's log does not say it resumed in place")
	}
	gap := b.w.waitWritesOn(t, leader, restarted, 30*time.Second)
	t.Logf("figure: first acknowledged write %v after the restart", gap.Round(100*time.Millisecond))
	b.finish(noLoss)
}

// Every node's Raft data lost and, at the same time, a replica's data
// directory (its machine replaced). The member without data must not
// initialize a new cluster at its first turn while the former primary
// waits its full ttl (review 3: it did, and the cluster came back empty,
// under another system identifier); it waits for the former primary to
// resume, then clones from it.
func TestRaftDataLost_AllNodesWiped_ReplicaWithoutData_ClonesInsteadOfInitializing(t *testing.T) {
	b := setUp(t, clusterOptions{dcs: rebuildDCS}, nil)
	before := stateFacts(t, b.leader)
	b.c.stopAll()
	var lost *node
	for _, n := range b.c.nodes {
		wipeRaft(t, n)
		if n.name != before.primary && lost == nil {
			lost = n
		}
	}
	if err := os.Rename(lost.dataDir(), lost.dataDir()+".lost"); err != nil {
		t.Fatal(err)
	}
	b.c.startAll()
	leader := waitConverged(b.c, 120*time.Second)
	if after := stateFacts(t, leader); after != before {
		t.Errorf("after the rebuild %+v, before %+v: want the same system identifier, primary and timeline", after, before)
	}
	if lost.logs.contains("initializing a new cluster") {
		t.Errorf("%s, without data, initialized a new cluster", lost.name)
	}
	b.finish(noLoss)
}

// Issue 11: the Raft data of two nodes is lost while the third is down. The
// two are a majority, but the third may hold entries only it and the lost
// nodes had, and its old log could later overwrite a new cluster: they must
// not form one while it is silent (FORMATION.md, "A node that lost its Raft
// state"), so nothing runs and nothing is writable. When the third comes
// back with its state, the two cannot join it: with their votes lost it has
// no majority. The operator's repair, which the waiting nodes' log names,
// is to move its raft.data_dir aside too; the three then rebuild the state
// from PostgreSQL: the same primary and every acknowledged row.
func TestRaftDataLost_TwoWipedWhileThirdDown_NoNewClusterUntilItAnswers(t *testing.T) {
	b := setUp(t, clusterOptions{dcs: rebuildDCS}, nil)
	before := stateFacts(t, b.leader)
	stale := b.others(b.leader)[0]
	var rest []*node
	for _, n := range b.c.nodes {
		if n != stale {
			rest = append(rest, n)
		}
	}
	stopWithPostgres(stale)
	stopWithPostgres(rest...)
	for _, n := range rest {
		wipeRaft(t, n)
		n.start()
	}
	nothingRuns := func() error {
		for _, n := range b.c.nodes {
			if _, err := n.cluster(); err == nil {
				return fmt.Errorf("%s's REST API answers: a Raft cluster formed", n.name)
			}
			if pid := n.postmasterPID(); pid > 0 {
				return fmt.Errorf("%s runs PostgreSQL (pid %d)", n.name, pid)
			}
		}
		return nil
	}
	const waiting = "not forming a new Raft cluster: Raft state was lost on a node that ran a member before"
	waitFor(t, 30*time.Second, "both wiped nodes say why they wait", func() error {
		for _, n := range rest {
			if !n.logs.containsAll(waiting, stale.raftAddr()) {
				return fmt.Errorf("%s has not logged %q naming %s", n.name, waiting, stale.raftAddr())
			}
		}
		return nil
	})
	holdsFor(t, scaled(8*time.Second), "no new cluster while "+stale.name+" is silent", nothingRuns)

	const tryJoin = "join not done yet; retrying"
	joinsBefore := map[*node]int{}
	for _, n := range rest {
		joinsBefore[n] = n.logs.count(tryJoin)
	}
	stale.start()
	waitFor(t, 30*time.Second, "the wiped nodes try to join "+stale.name, func() error {
		for _, n := range rest {
			if n.logs.count(tryJoin) == joinsBefore[n] {
				return fmt.Errorf("%s has not tried to join since %s started", n.name, stale.name)
			}
		}
		return nil
	})
	holdsFor(t, scaled(5*time.Second), "no majority with two votes lost", nothingRuns)

	stopWithPostgres(stale)
	wipeRaft(t, stale)
	stale.start()
	leader := waitConverged(b.c, 120*time.Second)
	if after := stateFacts(t, leader); after != before {
		t.Errorf("after the rebuild %+v, before %+v: want the same system identifier, primary and timeline", after, before)
	}
	b.finish(noLoss)
}

// raftAddr is the node's raft.self_addr.
func (n *node) raftAddr() string { return fmt.Sprintf("%s:%d", n.host, n.raftPort) }

// A snapshot saved, the configuration changed, the snapshot restored: the
// configuration is back, and the live primary kept its tenure throughout
// (same postmaster, no failover), every acknowledged write present.
func TestRaftSnapshot_SavedAndRestored_ConfigurationBackPrimaryUntouched(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	file := filepath.Join(b.c.dir, "state.snap")
	replica := b.others(b.leader)[0]
	if out, err := replica.conclave("raft", "snapshot", "save", file); err != nil {
		t.Fatalf("snapshot save: %v: %s", err, out)
	}
	pid := b.leader.postmasterPID()
	patchConfigRetrying(t, replica, `{"maximum_lag_on_failover": 4242}`)
	waitFor(t, 10*time.Second, "the PATCH seen on the primary", func() error {
		if v := configValue(t, b.leader.http(), b.leader.apiURL(), "maximum_lag_on_failover"); fmt.Sprint(v) != "4242" {
			return fmt.Errorf("maximum_lag_on_failover %v", v)
		}
		return nil
	})
	if out, err := replica.conclave("raft", "snapshot", "restore", file); err != nil {
		t.Fatalf("snapshot restore: %v: %s", err, out)
	}
	waitFor(t, 10*time.Second, "the saved configuration back on every node", func() error {
		for _, n := range b.c.nodes {
			if v := configValue(t, n.http(), n.apiURL(), "maximum_lag_on_failover"); fmt.Sprint(v) != "1048576" {
				return fmt.Errorf("%s: maximum_lag_on_failover %v", n.name, v)
			}
		}
		return nil
	})
	b.w.waitWritesOn(t, b.leader, time.Now(), 15*time.Second)
	if leader := b.finish(noLoss); leader != b.leader || b.leader.postmasterPID() != pid {
		t.Errorf("the restore moved the primary: %s (postmaster %d), before %s (%d)", leader.name, b.leader.postmasterPID(), b.leader.name, pid)
	}
	out, err := replica.conclave("raft", "snapshot", "restore", filepath.Join(b.c.dir, "missing.snap"))
	if err == nil || !strings.Contains(out, "missing.snap") {
		t.Errorf("restore of a missing file: %v: %s", err, out)
	}
}

// removeAnswers is what the operator types at remove's two prompts.
func (c *cluster) removeAnswers() string { return c.scope + "\nYes I am aware\n" }

func (n *node) conclaveInput(input string, args ...string) (string, error) {
	cmd := exec.Command(binary, append([]string{"-c", n.cfgPath}, args...)...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// conclave remove: refused while the primary holds its lease; once its
// agent is stopped (paused, so nobody takes over) and the lease ran out,
// the state is forgotten and the agents rebuild it from their data: same
// system identifier (no initdb), same primary, every acknowledged row.
func TestRemove_ForgetsTheState_AgentsRebuildItWithoutInitdb(t *testing.T) {
	b := setUp(t, clusterOptions{dcs: rebuildDCS}, nil)
	before := stateFacts(t, b.leader)
	replica := b.others(b.leader)[0]
	out, err := replica.conclaveInput(b.c.removeAnswers(), "remove", b.c.scope)
	if err == nil || !strings.Contains(out, "holds the leader lease") {
		t.Fatalf("remove with a live primary: %v: %s; want it refused", err, out)
	}
	if out, err := replica.conclaveInput("wrong\n", "remove", b.c.scope); err == nil || !strings.Contains(out, "does not match") {
		t.Errorf("remove with the wrong name typed: %v: %s", err, out)
	}
	pauseCluster(t, b.c)
	b.leader.stop()
	waitFor(t, 60*time.Second, "remove accepted once the lease ran out", func() error {
		out, err := replica.conclaveInput(b.c.removeAnswers(), "remove", b.c.scope)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	b.leader.start()
	patchConfigRetrying(t, replica, `{"pause": false}`)
	leader := waitConverged(b.c, 120*time.Second)
	if after := stateFacts(t, leader); after.systemID != before.systemID || after.primary != before.primary {
		t.Errorf("after remove %+v, before %+v: want the same system identifier and primary", after, before)
	}
	b.w.waitWritesOn(t, leader, time.Now(), 30*time.Second)
	b.finish(noLoss)
}

// Lost quorum: the primary's and a replica's nodes are gone for good. The
// survivor's agent is stopped, `conclave raft recover --voters SELF` makes
// it a one-voter Raft cluster, and it serves the same PostgreSQL cluster
// as its primary, with every row the old primary had replicated to it.
func TestRaftRecover_MajorityLostForGood_SurvivorServesTheSameCluster(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{dcs: "    ttl: 10\n    loop_wait: 2\n    retry_timeout: 3"})
	c.startAll()
	leader := waitConverged(c, 90*time.Second)
	before := stateFacts(t, leader)
	leader.exec(t, "CREATE TABLE kept (id int)")
	leader.exec(t, "INSERT INTO kept SELECT generate_series(1, 100)")
	var survivor, lost *node
	for _, n := range c.nodes {
		if n != leader && survivor == nil {
			survivor = n
		} else if n != leader {
			lost = n
		}
	}
	waitFor(t, 30*time.Second, survivor.name+" replayed the rows", func() error {
		v, err := survivor.queryString("SELECT count(*)::text FROM kept")
		if err != nil || v != "100" {
			return fmt.Errorf("count %q, %v", v, err)
		}
		return nil
	})
	leader.stop()
	lost.stop()
	survivor.stop()
	out, err := asPostgres(binary, "-c", survivor.cfgPath, "raft", "recover", "--voters", survivor.raftAddr()).CombinedOutput()
	if err != nil {
		t.Fatalf("raft recover: %v: %s", err, out)
	}
	survivor.start()
	waitFor(t, 90*time.Second, survivor.name+" primary of the recovered cluster", func() error {
		v, err := survivor.queryString("SELECT pg_is_in_recovery()::text")
		if err != nil || v != "false" {
			return fmt.Errorf("pg_is_in_recovery %q, %v", v, err)
		}
		return nil
	})
	if v, err := survivor.queryString("SELECT count(*)::text FROM kept"); err != nil || v != "100" {
		t.Errorf("rows on the survivor: %q, %v; want 100", v, err)
	}
	cl, err := survivor.cluster()
	if err != nil || cl.SystemIdentifier != before.systemID {
		t.Errorf("system identifier %q (%v), want %s", cl.SystemIdentifier, err, before.systemID)
	}
	survivor.exec(t, "INSERT INTO kept VALUES (101)")
}
