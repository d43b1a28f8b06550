//go:build integration

package integration

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// clusterIDOf is the cluster ID a node shows in /patroni ("" when none).
func clusterIDOf(n *node) (string, error) {
	var p struct {
		Raft struct {
			ClusterID string `json:"cluster_id"`
		} `json:"raft"`
	}
	_, err := getJSON(n.apiURL()+"/patroni", &p)
	return p.Raft.ClusterID, err
}

// waitClusterID waits until every node shows the same cluster ID and
// returns it.
func waitClusterID(t *testing.T, nodes ...*node) string {
	t.Helper()
	var id string
	waitFor(t, 60*time.Second, "one cluster id on every node", func() error {
		var err error
		if id, err = clusterIDOf(nodes[0]); err != nil || id == "" {
			return fmt.Errorf("%s: cluster id %q, %v", nodes[0].name, id, err)
		}
		for _, n := range nodes[1:] {
			if got, err := clusterIDOf(n); err != nil || got != id {
				return fmt.Errorf("%s: cluster id %q (%v), %s: %q", n.name, got, err, nodes[0].name, id)
			}
		}
		return nil
	})
	return id
}

// stopWithPostgres stops the nodes' agents together (as stopAll: no
// failover between them) and any PostgreSQL left behind.
func stopWithPostgres(nodes ...*node) {
	for _, n := range nodes {
		n.signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		n.wait(60 * time.Second)
		if pid := n.postmasterPID(); pid > 0 {
			syscall.Kill(pid, syscall.SIGQUIT)
			for deadline := time.Now().Add(10 * time.Second); n.postmasterPID() > 0 && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
		}
		n.stopWatchdog()
	}
}

// DESIGN.md "Cluster ID": a replica is down while the Raft data of the two
// other nodes is lost and rebuilt (DESIGN "Rebuilding the Raft state"; their
// partner lists now name only each other, as for a node gone for good, so
// the rebuild completes without it). The replica comes back with its old
// Raft log: it is refused on both sides with both IDs named, and the cluster
// keeps its primary and every acknowledged row. With its raft.data_dir
// moved aside it joins the new cluster and streams.
func TestClusterID_NodeWithOldRaftLogAfterRebuild_IsRefusedThenJoins(t *testing.T) {
	b := setUp(t, clusterOptions{dcs: rebuildDCS}, nil)
	oldID := waitClusterID(t, b.c.nodes...)
	before := stateFacts(t, b.leader)
	var stale *node
	var rest []*node
	for _, n := range b.c.nodes {
		if n != b.leader && stale == nil {
			stale = n
		} else {
			rest = append(rest, n)
		}
	}
	stopWithPostgres(stale)
	stopWithPostgres(rest...)
	rebuilt := &cluster{t: t, scope: b.c.scope, dir: b.c.dir, nodes: rest, hbaNet: b.c.hbaNet}
	for _, n := range rest {
		wipeRaft(t, n)
		rebuilt.writeConfig(n, clusterOptions{dcs: rebuildDCS})
		n.start()
	}
	leader := waitConverged(rebuilt, 120*time.Second)
	if after := stateFacts(t, leader); after != before {
		t.Fatalf("after the rebuild %+v, before %+v", after, before)
	}
	newID := waitClusterID(t, rest...)
	if newID == oldID {
		t.Fatalf("the rebuilt cluster kept the old cluster id %s", oldID)
	}

	stale.start()
	const refusedIn = "raft port refused a connection: the peer's raft log belongs to another cluster"
	waitFor(t, 30*time.Second, "the refusal logged on both sides", func() error {
		if !stale.logs.containsAll("the peer's raft log belongs to another cluster", oldID, newID) {
			return fmt.Errorf("%s did not log the refusal naming both ids", stale.name)
		}
		for _, n := range rest {
			if n.logs.containsAll(refusedIn, oldID, newID) {
				return nil
			}
		}
		return errors.New("no rebuilt node logged the refusal naming both ids")
	})
	holdsFor(t, 5*time.Second, "the rebuilt cluster keeps its primary; the stale node its old id", func() error {
		if f := stateFacts(t, leader); f != before {
			return fmt.Errorf("now %+v, before %+v", f, before)
		}
		// The stale agent waits for a Raft leader it never gets (its REST
		// API is not up): it must never apply the new cluster's ID, and
		// never report into the rebuilt state.
		if stale.logs.contains("cluster_id=" + newID) {
			return fmt.Errorf("%s applied the new cluster id", stale.name)
		}
		cl, err := leader.cluster()
		if err != nil {
			return err
		}
		for _, m := range cl.Members {
			if m.Name == stale.name {
				return fmt.Errorf("%s reported into the rebuilt cluster", stale.name)
			}
		}
		return nil
	})

	stopWithPostgres(stale)
	wipeRaft(t, stale)
	stale.start()
	b.leader = b.finish(noLoss)
	if got := waitClusterID(t, b.c.nodes...); got != newID {
		t.Errorf("after the join the cluster id is %s, want %s", got, newID)
	}
}
