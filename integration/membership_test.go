//go:build integration

package integration

// Membership without thinking about Raft (issue 11, part A): join --via,
// leave [MEMBER], non-voters beyond five voters, a node whose Raft data is
// wiped.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// joinNode writes a configuration for a new node that lists no partners
// (so only `join --via` can bring it in), runs `conclave join --via` against
// via's REST API and starts its agent.
func (b *bed) joinNode(name string, via *node) *node {
	b.t.Helper()
	return b.joinPlaced(b.c.newNode(name), via)
}

// joinPlaced is joinNode for a node from c.newNode that the caller may have
// placed (host, dial, prefix): `join` runs under the node's prefix too, on
// its host as an operator would run it.
func (b *bed) joinPlaced(n *node, via *node) *node {
	b.t.Helper()
	c := b.c
	saved := c.nodes
	c.nodes = []*node{n}
	c.writeConfig(n, clusterOptions{})
	c.nodes = append(saved, n)
	out, err := n.conclaveIn(n.prefix, "join", "--via", fmt.Sprintf("%s:%d", via.host, via.apiPort))
	if err != nil {
		b.t.Fatalf("conclave join --via %s: %v\n%s", via.name, err, out)
	}
	b.t.Logf("join: %s", strings.TrimSpace(out))
	n.start()
	return n
}

// dropNode takes n out of the harness's cluster (after it left).
func (b *bed) dropNode(n *node) {
	b.c.nodes = slices.DeleteFunc(b.c.nodes, func(o *node) bool { return o == n })
}

// raftRoles reads every member's Raft role from n's /cluster.
func raftRoles(n *node) (map[string]string, error) {
	var cl struct {
		Members []struct {
			Name     string `json:"name"`
			RaftRole string `json:"raft_role"`
		} `json:"members"`
	}
	if _, err := getJSONWith(n.http(), n.apiURL()+"/cluster", &cl); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range cl.Members {
		out[m.Name] = m.RaftRole
	}
	return out, nil
}

// waitRoles waits until n's /cluster shows exactly the wanted role counts.
func waitRoles(t testing.TB, n *node, d time.Duration, want map[string]int, also func(map[string]string) error) map[string]string {
	t.Helper()
	var roles map[string]string
	waitFor(t, d, fmt.Sprintf("raft roles %v", want), func() error {
		var err error
		if roles, err = raftRoles(n); err != nil {
			return err
		}
		got := map[string]int{}
		for _, r := range roles {
			got[r]++
		}
		for _, k := range []string{"leader", "voter", "non-voter", ""} {
			if got[k] != want[k] {
				return fmt.Errorf("roles %v, want counts %v", roles, want)
			}
		}
		if also != nil {
			return also(roles)
		}
		return nil
	})
	return roles
}

// maxWriteGap is the longest time between two acknowledged writes that
// ended after t0.
func maxWriteGap(w *writer, t0 time.Time) time.Duration {
	var ends []time.Time
	for _, op := range w.snapshot() {
		if op.result == opOK && op.end.After(t0) {
			ends = append(ends, op.end)
		}
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
	var gap time.Duration
	prev := t0
	for _, e := range ends {
		gap = max(gap, e.Sub(prev))
		prev = e
	}
	return gap
}

// leave runs `conclave leave [member] --force` (no question) on from and
// waits for the leaving agent to exit 0.
func (b *bed) leave(from, member *node) {
	b.t.Helper()
	args := []string{"leave", "--force"}
	if from != member {
		args = append(args, member.name)
	}
	out, err := from.conclave(args...)
	if err != nil {
		b.t.Fatalf("conclave %v on %s: %v\n%s", args, from.name, err, out)
	}
	b.t.Logf("%s", strings.TrimSpace(out))
	if err := member.wait(60 * time.Second); err != nil {
		b.t.Errorf("%s's agent after leave: %v, want exit 0", member.name, err)
	}
	if pid := member.postmasterPID(); pid != 0 {
		b.t.Errorf("%s's PostgreSQL still runs (pid %d) after leave", member.name, pid)
	}
	b.dropNode(member)
}

const growGap = 5 * time.Second

func TestMembership_GrowThreeToSix_SixthStaysNonvoter_ShrinkToThree_UnderWrites(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	t0 := time.Now()
	primary := b.leader
	replicas := b.others(primary)

	// 3 → 5: each joins through a replica's REST API, clones, streams and
	// becomes a voter.
	node4 := b.joinNode("node4", replicas[0])
	node5 := b.joinNode("node5", replicas[1])
	waitConverged(b.c, 120*time.Second)
	waitRoles(t, primary, 30*time.Second, map[string]int{"leader": 1, "voter": 4}, nil)

	// A sixth stays a non-voter: five voters at most.
	node6 := b.joinNode("node6", node4)
	waitConverged(b.c, 120*time.Second)
	waitRoles(t, primary, 30*time.Second, map[string]int{"leader": 1, "voter": 4, "non-voter": 1}, func(r map[string]string) error {
		if r["node6"] != "non-voter" {
			return fmt.Errorf("node6 is %q", r["node6"])
		}
		return nil
	})
	out, err := primary.conclave("list", "-e")
	if err != nil || !strings.Contains(out, "non-voter") || !strings.Contains(out, "Raft") {
		t.Errorf("list -e: %v\n%s", err, out)
	}
	t.Logf("list -e:\n%s", out)

	// A voter leaves (asked from another node): node6 takes its place.
	b.leave(primary, replicas[0])
	waitRoles(t, primary, 30*time.Second, map[string]int{"leader": 1, "voter": 4}, nil)

	// Back to three.
	b.leave(node6, node6)
	b.leave(primary, node5)
	waitConverged(b.c, 60*time.Second)
	waitRoles(t, primary, 30*time.Second, map[string]int{"leader": 1, "voter": 2}, nil)
	if gap := maxWriteGap(b.w, t0); gap > scaled(growGap) {
		t.Errorf("longest write gap while growing and shrinking: %v, want at most %v", gap.Round(time.Millisecond), scaled(growGap))
	} else {
		t.Logf("longest write gap while growing and shrinking: %v", gap.Round(time.Millisecond))
	}
	// The leaving node's slot is gone from the primary.
	waitFor(t, 30*time.Second, "slots of the nodes that left dropped", func() error {
		v, err := primary.queryString("SELECT coalesce(string_agg(slot_name, ',' ORDER BY slot_name), '') FROM pg_replication_slots")
		if err != nil {
			return err
		}
		for _, gone := range []*node{replicas[0], node5, node6} {
			if strings.Contains(v, gone.name) {
				return fmt.Errorf("slots %q still include %s", v, gone.name)
			}
		}
		return nil
	})
	leader := b.finish(noLoss)
	if leader != primary {
		t.Errorf("primary changed from %s to %s while only replicas left", primary.name, leader.name)
	}
	_ = node4
}

func TestMembership_LeaveOfThePrimary_SwitchesOverFirst_AndDoesNotComeBack(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	old := b.leader
	t0 := time.Now()
	b.leave(old, old)
	took := time.Since(t0)
	newLeader := waitConverged(b.c, 60*time.Second)
	if newLeader == old {
		t.Fatalf("%s still leads after leaving", old.name)
	}
	gap := writeGap(b.w, old, newLeader, t0)
	t.Logf("leave of the primary: %v; write gap %v", took.Round(time.Millisecond), gap.Round(time.Millisecond))
	if gap > scaled(growGap) {
		t.Errorf("write gap across the leave of the primary: %v, want at most %v", gap, scaled(growGap))
	}
	waitRoles(t, newLeader, 30*time.Second, map[string]int{"leader": 1, "voter": 1}, nil)

	// Restarted, the agent exits 0 at once and PostgreSQL stays down.
	old.start()
	if err := old.wait(30 * time.Second); err != nil {
		t.Errorf("restarted agent of a node that left: %v, want exit 0", err)
	}
	if !old.logs.containsAll("not starting", "left the cluster") {
		t.Errorf("%s's restart does not say it left the cluster", old.name)
	}
	if pid := old.postmasterPID(); pid != 0 {
		t.Errorf("%s's PostgreSQL runs again (pid %d)", old.name, pid)
	}
	cl, err := newLeader.cluster()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range cl.Members {
		if m.Name == old.name {
			t.Errorf("%s is still listed after leaving", old.name)
		}
	}

	// join brings it back (its old data directory is re-used or cloned).
	out, err := old.conclave("join", "--via", fmt.Sprintf("%s:%d", newLeader.host, newLeader.apiPort))
	if err != nil {
		t.Fatalf("join again: %v\n%s", err, out)
	}
	old.start()
	b.c.nodes = append(b.c.nodes, old)
	waitConverged(b.c, 120*time.Second)
	waitRoles(t, newLeader, 30*time.Second, map[string]int{"leader": 1, "voter": 2}, nil)
	b.finish(noLoss)
}

// A replica's Raft data is wiped while another replica is down: it comes
// back, withholds its vote until it caught up, and the cluster loses
// nothing it had committed (system identifier, the dynamic configuration
// changed just before, every acknowledged row).
//
// Two outcomes are both right, and which one happens is timing: while the
// wiped node restarts the leader hears from no follower, and hashicorp/raft
// steps down after LeaderLeaseTimeout (250 ms). If the wiped node is back
// in time it joins and catches up while the other is still down, and the
// primary stays. If not, no leader can be elected (the wiped node withholds
// its vote from a log it cannot check) until the other node returns: the
// test then checks that nobody leads meanwhile and that everything is there
// once it is back.
const walReceiverStatus = "SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')"

// shownStreaming checks rule 6 on a restarted replica, sample by sample: its
// own /cluster may show it streaming only once its WAL receiver was seen
// streaming. /cluster is read first, so a publish that said streaming (it
// saw the receiver streaming) came before the query that follows it.
type shownStreaming struct {
	n      *node
	seen   bool   // the WAL receiver was seen streaming
	untrue string // the first sample that broke the rule
}

func (s *shownStreaming) sample() {
	state := "unanswered"
	if cl, err := s.n.cluster(); err == nil {
		for _, m := range cl.Members {
			if m.Name == s.n.name {
				state = m.State
			}
		}
	}
	v, err := s.n.queryString(walReceiverStatus)
	s.seen = s.seen || (err == nil && v == "streaming")
	if state == "streaming" && !s.seen && s.untrue == "" {
		s.untrue = fmt.Sprintf("%s's /cluster showed it streaming while its WAL receiver was %q (%v)", s.n.name, v, err)
	}
}

func TestMembership_RaftDataWipedWhileAnotherNodeIsDown_LosesNothing(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	primary := b.leader
	down, wiped := b.others(primary)[0], b.others(primary)[1]
	before, err := primary.cluster()
	if err != nil {
		t.Fatal(err)
	}
	if code, text := postText(t, primary, "PATCH", "/config", `{"postgresql":{"parameters":{"work_mem":"7MB"}}}`); code != 200 {
		t.Fatalf("PATCH /config: %d %s", code, text)
	}
	down.stop()
	wiped.stop()
	raftDir := filepath.Join(wiped.dir, "raft")
	if err := os.RemoveAll(raftDir); err != nil {
		t.Fatal(err)
	}
	wiped.logs.mu.Lock()
	mark := len(wiped.logs.lines) // judge only what the restarted agent logs
	wiped.logs.mu.Unlock()
	wiped.start()
	shown := &shownStreaming{n: wiped}
	stepDown := false
	waitFor(t, 60*time.Second, "the wiped node is back, or waiting for a Raft leader", func() error {
		shown.sample()
		if _, err := wiped.cluster(); err == nil {
			return nil
		}
		wiped.logs.mu.Lock()
		after := strings.Join(wiped.logs.lines[mark:], "\n")
		wiped.logs.mu.Unlock()
		if strings.Count(after, `error="no raft leader"`) >= 2 {
			stepDown = true
			return nil
		}
		return errors.New("neither")
	})
	if stepDown {
		t.Logf("the Raft leader stepped down while %s restarted: waiting for %s", wiped.name, down.name)
		holdsFor(t, 5*time.Second, "no Raft leader while "+down.name+" is down", func() error {
			if rl, err := b.c.raftLeader(); err == nil {
				return fmt.Errorf("%s is Raft leader", rl.name)
			}
			return nil
		})
		down.start()
	}
	waitFor(t, 60*time.Second, "the wiped node is back and streams", func() error {
		shown.sample()
		if v, err := wiped.queryString(walReceiverStatus); err != nil || v != "streaming" {
			return fmt.Errorf("%s's walreceiver %q %v", wiped.name, v, err)
		}
		cl, err := wiped.cluster()
		if err != nil {
			return err
		}
		if cl.SystemIdentifier != before.SystemIdentifier {
			return fmt.Errorf("system identifier %q, want %q", cl.SystemIdentifier, before.SystemIdentifier)
		}
		for _, m := range cl.Members {
			if m.Name == wiped.name && m.State != "streaming" {
				return fmt.Errorf("%s is %s", m.Name, m.State)
			}
			if !stepDown && m.Role == "leader" && m.Name != primary.name {
				return fmt.Errorf("leader is %s, want %s", m.Name, primary.name)
			}
		}
		return nil
	})
	if shown.untrue != "" {
		t.Errorf("rule 6: %s", shown.untrue)
	}
	var cfg struct {
		PostgreSQL struct {
			Parameters map[string]any `json:"parameters"`
		} `json:"postgresql"`
	}
	if _, err := getJSONWith(wiped.http(), wiped.apiURL()+"/config", &cfg); err != nil || cfg.PostgreSQL.Parameters["work_mem"] != "7MB" {
		t.Errorf("the wiped node's /config lacks the change committed before: %v %v", cfg.PostgreSQL.Parameters, err)
	}
	wiped.logs.mu.Lock()
	after := strings.Join(wiped.logs.lines[mark:], "\n")
	wiped.logs.mu.Unlock()
	if !strings.Contains(after, "catch_up_index") {
		t.Errorf("%s did not report joining with a catch-up index", wiped.name)
	}
	if strings.Contains(after, "bootstrapped the cluster") {
		t.Errorf("%s bootstrapped a cluster of its own", wiped.name)
	}
	if !stepDown {
		down.start()
	}
	leader := b.finish(noLoss)
	if !stepDown && leader != primary {
		t.Errorf("primary changed from %s to %s", primary.name, leader.name)
	}
	waitRoles(t, leader, 30*time.Second, map[string]int{"leader": 1, "voter": 2}, nil)
}

// A leave the voters that remain cannot commit is refused (issue 11): with
// one agent of three stopped, `leave` of a replica and of the primary end
// with a non-zero exit and an HTTP 409 naming the stopped member, and
// nothing changes (no switchover, three voters, the same primary taking
// writes). Evicting the stopped member (leave MEMBER --force) still works:
// the two that remain both answer.
func TestMembership_LeaveWithAnotherVoterDown_IsRefusedAndEvictingTheDeadOneWorks(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	primary := b.leader
	down, leaving := b.others(primary)[0], b.others(primary)[1]
	down.stop()
	t0 := time.Now()

	for _, n := range []*node{leaving, primary} {
		out, err := n.conclave("leave", "--force") // --force: no question; the refusal comes before anything changes
		if err == nil || !strings.Contains(out, "409") || !strings.Contains(out, down.name) {
			t.Errorf("leave of %s with %s down: %v, want a non-zero exit and a 409 naming %s\n%s", n.name, down.name, err, down.name, out)
		}
		t.Logf("leave of %s: %s", n.name, strings.TrimSpace(out))
	}
	leaving.mu.Lock()
	done := leaving.done
	leaving.mu.Unlock()
	select {
	case <-done:
		t.Errorf("%s's agent exited after a refused leave", leaving.name)
	default:
	}
	holdsFor(t, 5*time.Second, "nothing changed", func() error {
		roles, err := raftRoles(primary)
		if err != nil {
			return err
		}
		if len(roles) != 3 || roles[down.name] == "non-voter" || roles[leaving.name] == "non-voter" {
			return fmt.Errorf("raft roles %v, want three voters", roles)
		}
		cl, err := primary.cluster()
		if err != nil {
			return err
		}
		streaming := false
		for _, m := range cl.Members {
			switch {
			case m.Role == "leader" && m.Name != primary.name:
				return fmt.Errorf("%s leads", m.Name)
			case m.Name == leaving.name:
				streaming = m.State == "streaming"
			}
		}
		if !streaming || len(cl.Members) != 3 {
			return fmt.Errorf("members %+v, want 3 with %s streaming", cl.Members, leaving.name)
		}
		return nil
	})
	b.w.waitWritesOn(t, primary, t0, 15*time.Second)

	waitFor(t, 90*time.Second, "the stopped member evicted", func() error {
		out, err := primary.conclave("leave", down.name, "--force")
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(out))
		}
		return nil
	})
	b.dropNode(down)
	waitRoles(t, primary, 30*time.Second, map[string]int{"leader": 1, "voter": 1}, nil)
	if leader := b.finish(noLoss); leader != primary {
		t.Errorf("primary changed from %s to %s", primary.name, leader.name)
	}
}

// A Raft server that no member record names (here a node that joined and
// whose agent never ran; an eviction whose second step failed leaves one
// too) counts in the quorum: list -e names it, and `leave HOST:PORT
// --evict` removes it. An address a member record names is refused with
// that member's name.
func TestMembership_RaftServerWithoutMemberRecord_IsListedAndEvictedByAddress(t *testing.T) {
	b := setUp(t, clusterOptions{}, nil)
	primary := b.leader
	other := b.others(primary)[0]
	ghost := b.c.newNode("ghost")
	saved := b.c.nodes
	b.c.nodes = []*node{ghost}
	b.c.writeConfig(ghost, clusterOptions{})
	b.c.nodes = saved
	if out, err := ghost.conclave("join", "--via", fmt.Sprintf("%s:%d", primary.host, primary.apiPort)); err != nil {
		t.Fatalf("conclave join --via %s: %v\n%s", primary.name, err, out)
	}
	addr := fmt.Sprintf("%s:%d", ghost.host, ghost.raftPort)
	line := "Raft non-voter " + addr + " has no member record"
	waitFor(t, 30*time.Second, "list -e names the Raft server", func() error {
		if out, err := other.conclave("list", "-e"); err != nil || !strings.Contains(out, line) {
			return fmt.Errorf("list -e: %v, want %q:\n%s", err, line, out)
		}
		return nil
	})

	primaryAddr := fmt.Sprintf("%s:%d", primary.host, primary.raftPort)
	out, err := other.conclave("leave", primaryAddr, "--evict", "--force")
	if err == nil || !strings.Contains(out, "409") || !strings.Contains(out, "belongs to member "+primary.name) {
		t.Errorf("leave %s --evict: %v, want a 409 naming %s\n%s", primaryAddr, err, primary.name, out)
	}
	if out, err := other.conclave("leave", addr, "--evict", "--force"); err != nil {
		t.Fatalf("leave %s --evict: %v\n%s", addr, err, out)
	}
	waitFor(t, 30*time.Second, "the Raft server gone from list -e", func() error {
		out, err := other.conclave("list", "-e")
		if err != nil || strings.Contains(out, addr) {
			return fmt.Errorf("list -e: %v, want no %s:\n%s", err, addr, out)
		}
		return nil
	})
	waitRoles(t, primary, 30*time.Second, map[string]int{"leader": 1, "voter": 2}, nil)
	b.finish(noLoss)
}
