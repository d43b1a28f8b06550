//go:build integration

package integration

// Rolling upgrades with a real older build (README and DESIGN.md, "Rolling
// upgrades"): the agents start on a binary built from an older commit of
// this repository and are replaced one at a time under the writer.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// oldCommit is the older release the upgrade tests start from. It is the
// oldest commit whose configuration and CLI the harness still drives
// unchanged (the harness's conclave.yml, `-c FILE run`, /cluster with
// replicas shown "streaming": the first commit, eb44ff6, shows them
// "running", which the convergence checks do not accept), and its agents
// publish no protocol level (0, older than Member.Protocol), so the
// upgrade crosses every gate of fsm/protocol.go (levels 1 to 5). It has no
// switchover (no POST /switchover, no hand-over): its primary moves by the
// key release at shutdown, the README's path for such a release.
const oldCommit = "af651b5a6a0bfa9758a5f2fcf3b5c782be59a24f"

// oldVersion is the version the old build is stamped with, so /cluster
// tells the two builds apart (both say 0.1.0 otherwise).
var oldVersion = "0.1.0+" + oldCommit[:7]

var oldBuild struct {
	sync.Mutex
	path string
}

// oldSource is oldCommit's tree (`git archive`), kept in the repository so
// the test needs no history: a CI clone may be shallow.
const oldSource = "testdata/release-af651b5.tar.gz"

// oldBinary builds oldCommit once per run from oldSource into a cache keyed
// by the commit (CONCLAVE_OLD_BUILDS, default $TMPDIR/conclave-old-builds)
// that later runs reuse.
func oldBinary(t testing.TB) string {
	t.Helper()
	oldBuild.Lock()
	defer oldBuild.Unlock()
	if oldBuild.path != "" {
		return oldBuild.path
	}
	dir := filepath.Join(envOr("CONCLAVE_OLD_BUILDS", filepath.Join(os.TempDir(), "conclave-old-builds")), oldCommit)
	out := filepath.Join(dir, "conclave")
	if _, err := os.Stat(out); err == nil {
		oldBuild.path = out
		return out
	}
	src, err := os.MkdirTemp("", "conclave-old-src-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(src)
	if b, err := exec.Command("tar", "-xzf", oldSource, "-C", src).CombinedOutput(); err != nil {
		t.Fatalf("upgrade test: unpacking %s: %v: %s", oldSource, err, b)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.%d", out, os.Getpid())
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+oldVersion, "-o", tmp, "./cmd/conclave")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("upgrade test: building %s: %v\n%s", oldCommit, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	oldBuild.path = out
	return out
}

// running reports whether n's agent process is still alive (an older agent
// that met a command it cannot apply exits).
func (n *node) running() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// assertRunning fails when one of the agents exited on its own.
func assertRunning(t testing.TB, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		if !n.running() {
			t.Fatalf("%s's agent exited (an older agent stops at a command it cannot apply)", n.name)
		}
	}
}

// upgrade replaces n's binary the operator's way: stop the agent (SIGTERM),
// start the binary under test with the same configuration.
func upgrade(n *node) {
	n.t.Helper()
	n.stop()
	n.bin = ""
	n.start()
}

type memberLevel struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
}

// levels reads the version and protocol level of every member from n's
// /cluster (only an upgraded agent reports them).
func (n *node) levels() (map[string]memberLevel, error) {
	var cl struct {
		Members []memberLevel `json:"members"`
	}
	if code, err := getJSONWith(n.http(), n.apiURL()+"/cluster", &cl); err != nil || code != 200 {
		return nil, fmt.Errorf("GET /cluster on %s: %d %v", n.name, code, err)
	}
	out := map[string]memberLevel{}
	for _, m := range cl.Members {
		out[m.Name] = m
	}
	return out, nil
}

// tableLine is the row of member in a pretty table ("" if none).
func tableLine(table, member string) string {
	for _, l := range strings.Split(table, "\n") {
		if strings.HasPrefix(l, "| "+member+" ") {
			return l
		}
	}
	return ""
}

// levelLine is the new agents' log line naming the cluster's protocol level
// (ha/protocol.go).
func levelLine(level int) []string {
	return []string{"cluster protocol level", fmt.Sprintf("level=%d ", level)}
}

// waitLevelLogged waits until every agent logged this build's level: the
// last older agent is gone and the newer commands are in use.
func waitLevelLogged(t testing.TB, c *cluster) {
	t.Helper()
	for _, n := range c.nodes {
		waitFor(t, 20*time.Second, n.name+" logging protocol level "+fmt.Sprint(fsm.Protocol), func() error {
			if !n.logs.containsAll(levelLine(fsm.Protocol)...) {
				return errors.New("not logged yet")
			}
			return nil
		})
	}
}

// assertGatesClosed checks, while an older agent still runs, that no
// upgraded agent ever saw a protocol level above 0 (it would have proposed
// commands the older agent cannot apply) and that the older agents still
// run.
func assertGatesClosed(t testing.TB, c *cluster) {
	t.Helper()
	for _, n := range c.nodes {
		if n.bin != "" {
			assertRunning(t, n)
			continue
		}
		for level := 1; level <= fsm.Protocol; level++ {
			if n.logs.containsAll(levelLine(level)...) {
				t.Fatalf("%s saw protocol level %d while an older agent still runs", n.name, level)
			}
		}
		// No cluster ID either: its preamble is what an older agent's Raft
		// port cannot read (DESIGN.md, "Cluster ID").
		if n.logs.contains("cluster id recorded") {
			t.Fatalf("%s recorded a cluster id while an older agent still runs", n.name)
		}
	}
}

// TestUpgrade_RollingFromAnOlderRelease_ReplicasThenThePrimary_UnderWrites
// is the README's procedure: replicas first, one at a time, then the
// primary's node (its agent gives the key back at shutdown and an upgraded
// replica takes over), all under the writer. After each step: one running
// leader with every other member streaming, the older agents still
// running, and no upgraded agent using a newer protocol level. At the end:
// every member reports this build's version and level, the agents log the
// level, a switchover (a hand-over, level 5) succeeds, every acknowledged
// row is present and no two nodes were ever writable at once.
func TestUpgrade_RollingFromAnOlderRelease_ReplicasThenThePrimary_UnderWrites(t *testing.T) {
	old := oldBinary(t)
	b := setUp(t, clusterOptions{bin: func(*node) string { return old }}, nil)
	c, leader := b.c, b.leader
	ctl := newCtl(t)

	replicas := b.others(leader)
	for i, r := range replicas {
		t.Logf("step %d: upgrading replica %s", i+1, r.name)
		upgrade(r)
		if got := waitConverged(c, 90*time.Second); got != leader {
			t.Fatalf("step %d: leader moved from %s to %s while a replica was upgraded", i+1, leader.name, got.name)
		}
		b.w.waitWritesOn(t, leader, time.Now(), 15*time.Second)
		assertGatesClosed(t, c)
		waitFor(t, 10*time.Second, r.name+" reporting this build's level beside the older members", func() error {
			lv, err := r.levels()
			if err != nil {
				return err
			}
			if lv[r.name].Protocol != fsm.Protocol || lv[leader.name].Protocol != 0 {
				return fmt.Errorf("levels %v", lv)
			}
			return nil
		})
		if !r.logs.containsAll(levelLine(0)...) {
			t.Errorf("%s never logged the cluster's protocol level 0", r.name)
		}
		// What the operator checks between steps: list -e's Version and
		// Protocol columns.
		out, _, err := ctl.run("", "-c", r.cfgPath, "list", "-e")
		if err != nil {
			t.Fatalf("list -e: %v", err)
		}
		if line := tableLine(out, r.name); !strings.Contains(line, fmt.Sprintf("| %d ", fsm.Protocol)) || strings.Contains(line, oldVersion) {
			t.Errorf("list -e shows the upgraded %s as %q", r.name, line)
		}
		if line := tableLine(out, leader.name); !strings.Contains(line, "| "+oldVersion+" ") || !strings.Contains(line, "| 0 ") {
			t.Errorf("list -e shows the older %s as %q", leader.name, line)
		}
		// version asks each member's /patroni, the older ones too.
		out, _, err = ctl.run("", "-c", r.cfgPath, "version", c.scope)
		if err != nil || !strings.Contains(out, leader.name+": Conclave "+oldVersion+" PostgreSQL 15") {
			t.Errorf("conclave version %s does not show the older %s's version: %v", c.scope, leader.name, err)
		}
	}

	// A new agent and the new CLI refuse a switchover the older primary
	// cannot carry out, naming why.
	code, body := postText(t, replicas[0], "POST", "/switchover", fmt.Sprintf(`{"leader":%q}`, leader.name))
	if code != 412 || !strings.Contains(body, "upgrade every member first") {
		t.Errorf("switchover in a mixed cluster: HTTP %d %q; want 412 naming the older agent", code, body)
	}
	if _, errOut, err := ctl.run("", "-c", replicas[0].cfgPath, "switchover", "--force"); err == nil || !strings.Contains(errOut, "the agent of "+leader.name+" is older than the hand-over") {
		t.Errorf("conclave switchover in a mixed cluster: %v %q; want a refusal naming %s", err, errOut, leader.name)
	}

	t.Logf("step 3: upgrading the primary's node %s", leader.name)
	assertGatesClosed(t, c)
	t0 := time.Now()
	leader.stop()
	next := waitLeaderAmong(t, c, replicas, leader, 60*time.Second)
	b.w.waitWritesOn(t, next, t0, 30*time.Second)
	t.Logf("writes resumed on %s %v after the old primary's agent was stopped", next.name, time.Since(t0).Round(time.Millisecond))
	leader.bin = ""
	leader.start()
	waitConverged(c, 90*time.Second)

	for _, n := range c.nodes {
		waitFor(t, 20*time.Second, n.name+" seeing every member at this build's level", func() error {
			lv, err := n.levels()
			if err != nil {
				return err
			}
			for _, m := range c.nodes {
				if got := lv[m.name]; got.Protocol != fsm.Protocol || got.Version == oldVersion || got.Version == "" {
					return fmt.Errorf("%s: %+v", m.name, got)
				}
			}
			return nil
		})
	}
	waitLevelLogged(t, c)
	waitClusterID(t, c.nodes...) // minted once the last older agent is gone

	// The hand-over (level 5) is in use now.
	code, body = postText(t, next, "POST", "/switchover", fmt.Sprintf(`{"leader":%q,"candidate":%q}`, next.name, leader.name))
	if code != 200 {
		t.Fatalf("switchover after the upgrade: HTTP %d %q", code, body)
	}
	if got := b.finish(noLoss); got != leader {
		t.Errorf("leader after the switchover: %s, want %s", got.name, leader.name)
	}
}

// TestUpgrade_MixedCluster_NewPrimaryDies_AnOlderAgentTakesOver_NewOneRejoins:
// one node upgraded and made primary (the other replica restarted with
// nofailover for that moment), then it crashes (agent and postmaster
// killed) while two older agents remain: one of them takes over without
// stopping at anything the new agent wrote, and the new node rejoins as
// a replica; then the upgrade is finished (replica, then the primary's
// node) with no acknowledged write lost and never two writable nodes.
func TestUpgrade_MixedCluster_NewPrimaryDies_AnOlderAgentTakesOver_NewOneRejoins(t *testing.T) {
	old := oldBinary(t)
	b := setUp(t, clusterOptions{bin: func(*node) string { return old }}, nil)
	c, first := b.c, b.leader
	others := b.others(first)
	fresh, keep := others[0], others[1]

	upgrade(fresh)
	waitConverged(c, 90*time.Second)
	assertGatesClosed(t, c)

	// Make fresh the primary: keep may not take over for a moment, then
	// first's agent stops (gives the key back) and starts again, older.
	keep.stop()
	c.writeConfig(keep, clusterOptions{extra: func(*node) string { return "tags:\n  nofailover: true\n" }})
	keep.start()
	waitConverged(c, 90*time.Second)
	first.stop()
	waitLeaderAmong(t, c, []*node{fresh, keep}, first, 60*time.Second)
	first.start()
	waitConverged(c, 90*time.Second) // first back in Raft before keep leaves: fresh alone has no quorum
	keep.stop()
	c.writeConfig(keep, clusterOptions{})
	keep.start()
	if got := waitConverged(c, 90*time.Second); got != fresh {
		t.Fatalf("leader %s, want the upgraded %s", got.name, fresh.name)
	}
	b.w.waitWritesOn(t, fresh, time.Now(), 15*time.Second)
	assertGatesClosed(t, c)

	t0 := time.Now()
	killAgent(t, fresh)
	killPostmaster(t, fresh)
	next := waitLeaderAmong(t, c, []*node{first, keep}, fresh, 60*time.Second)
	b.w.waitWritesOn(t, next, t0, 30*time.Second)
	t.Logf("the older %s took over; writes resumed %v after the crash", next.name, time.Since(t0).Round(time.Millisecond))
	assertRunning(t, first, keep)

	fresh.start()
	if got := waitConverged(c, 90*time.Second); got != next {
		t.Fatalf("leader %s after %s rejoined, want %s", got.name, fresh.name, next.name)
	}
	assertGatesClosed(t, c)

	// Finish the upgrade the README's way, so no older agent is left to
	// stop with the others at cleanup (this older release waits for a
	// quorum to give the key back at shutdown, without bound).
	for _, n := range c.nodes {
		if n != next && n.bin != "" {
			upgrade(n)
			waitConverged(c, 90*time.Second)
		}
	}
	next.stop()
	waitLeaderAmong(t, c, b.others(next), next, 60*time.Second)
	next.bin = ""
	next.start()
	b.finish(asyncMode)
	waitLevelLogged(t, c)
}
