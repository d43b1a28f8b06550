//go:build integration

package integration

// Member tags end to end (README "How it fails over": the most advanced
// eligible replica is promoted, no nofailover, then failover_priority).
// Both tests keep the cluster idle, so the replicas are equally advanced
// when the primary dies and the tags decide.

import (
	"fmt"
	"testing"
	"time"
)

// tagsFor returns clusterOptions.extra writing a tags: section per node.
func tagsFor(tags map[string]string) func(n *node) string {
	return func(n *node) string {
		if y, ok := tags[n.name]; ok {
			return "tags:\n" + y
		}
		return ""
	}
}

// nofailover: node3 carries nofailover together with the highest
// failover_priority, so ignoring the tag would make it the winner. It never
// bootstraps, and when the primary dies the other replica is promoted while
// node3 stays a replica.
func TestTags_NoFailoverMemberIsNeverPromoted(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{extra: tagsFor(map[string]string{
		"node3": "  nofailover: true\n  failover_priority: 10\n",
	})})
	c.startAll()
	leader := waitConverged(c, 90*time.Second)
	if leader.name == "node3" {
		t.Fatalf("the nofailover member node3 leads after bootstrap")
	}
	var other *node
	for _, n := range c.nodes {
		if n != leader && n.name != "node3" {
			other = n
		}
	}
	node3 := c.byName("node3")
	waitFor(t, 10*time.Second, "node3's tags in /patroni", func() error {
		var st struct {
			Tags map[string]any `json:"tags"`
		}
		if _, err := getJSONWith(node3.http(), node3.apiURL()+"/patroni", &st); err != nil {
			return err
		}
		if st.Tags["nofailover"] != true {
			return fmt.Errorf("tags %v", st.Tags)
		}
		return nil
	})
	t0 := crashNode(t, leader)
	newLeader := waitLeaderAmong(t, c, []*node{other, node3}, leader, 30*time.Second)
	t.Logf("%s leads %v after %s's crash", newLeader.name, time.Since(t0).Round(time.Millisecond), leader.name)
	if newLeader == node3 {
		t.Fatalf("the nofailover member node3 was promoted")
	}
	// node3 may restart PostgreSQL to follow the new primary; it must
	// never be writable nor named leader.
	holdsFor(t, 2*ttl, "node3 never primary", func() error {
		if v, err := node3.queryString("SELECT pg_is_in_recovery()::text"); err == nil && v != "true" {
			return fmt.Errorf("node3: pg_is_in_recovery() = %q", v)
		}
		if role, _, _, err := newLeader.member("node3"); err == nil && role == "leader" {
			return fmt.Errorf("%s names node3 leader", newLeader.name)
		}
		return nil
	})
	leader.start()
	if l := waitConverged(c, 90*time.Second); l == node3 {
		t.Errorf("node3 leads after the old primary rejoined")
	}
}

// failover_priority: node1 < node2 < node3, against the name tie-break
// (lower name wins among equals). Whoever leads, the higher-priority one of
// the other two is promoted when it crashes; then again with the next
// leader, so both pairs that can occur are checked.
func TestTags_FailoverPriority_HigherPriorityWinsAmongEqualReplicas(t *testing.T) {
	prio := map[string]int{"node1": 1, "node2": 2, "node3": 3}
	c := newCluster(t, 3, clusterOptions{extra: tagsFor(map[string]string{
		"node1": "  failover_priority: 1\n",
		"node2": "  failover_priority: 2\n",
		"node3": "  failover_priority: 3\n",
	})})
	c.startAll()
	leader := waitConverged(c, 90*time.Second)
	for round := 1; round <= 2; round++ {
		var a, b *node
		for _, n := range c.nodes {
			if n == leader {
				continue
			}
			if a == nil {
				a = n
			} else {
				b = n
			}
		}
		want := a
		if prio[b.name] > prio[a.name] {
			want = b
		}
		// Both replicas have replayed everything the idle primary wrote.
		lsn, err := leader.queryString("SELECT pg_current_wal_lsn()::text")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []*node{a, b} {
			n := n
			waitFor(t, 15*time.Second, n.name+" replays "+lsn, func() error {
				v, err := n.queryString("SELECT (pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn)::text")
				if err != nil || v != "true" {
					return fmt.Errorf("%q, %v", v, err)
				}
				return nil
			})
		}
		// The candidates compare their own position with the others'
		// reports: wait until both replicas have reported it (lag 0 on the
		// leader's /cluster). Not held: an idle primary still writes a
		// little WAL now and then.
		reportedLagZero := func() error {
			cl, err := leader.cluster()
			if err != nil {
				return err
			}
			for _, m := range cl.Members {
				if (m.Name == a.name || m.Name == b.name) && m.Lag != float64(0) {
					return fmt.Errorf("%s lag %v", m.Name, m.Lag)
				}
			}
			return nil
		}
		waitFor(t, 15*time.Second, "both replicas reporting lag 0", reportedLagZero)
		t0 := crashNode(t, leader)
		got := waitLeaderAmong(t, c, []*node{a, b}, leader, 30*time.Second)
		loser := a
		if got == a {
			loser = b
		}
		t.Logf("round %d: %s crashed; %s (priority %d) promoted over %s (priority %d) %v later",
			round, leader.name, got.name, prio[got.name], loser.name, prio[loser.name], time.Since(t0).Round(time.Millisecond))
		if got != want {
			t.Errorf("round %d: %s (failover_priority %d) was promoted; want %s (failover_priority %d)", round, got.name, prio[got.name], want.name, prio[want.name])
		}
		old := leader
		old.start()
		leader = waitConverged(c, 90*time.Second)
		if leader != got {
			t.Fatalf("round %d: leader %s after %s rejoined; want %s", round, leader.name, old.name, got.name)
		}
	}
}
