package raftstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// A voter whose Raft data was lost (disk replaced, directory wiped) comes
// back on the same address and ID. hashicorp/raft grants its vote to any
// candidate while its own configuration is empty ("likely bootstrapping"),
// so it can elect a candidate that lacks entries it helped commit before the
// wipe: a committed entry (for Conclave a leader-key change) is lost, and a
// node that had applied it keeps it in its FSM for good (the log is
// truncated, the FSM never un-applies). Found by the fault suite (seed 311
// of the ops sweep: two nodes each believed their own replicated state
// named a different key holder).
//
// Sequence: B is cut off; X commits on {A, W}; A stops; W is wiped and
// restarts empty; B and W can talk. Raft's safety requires that B never
// leads without X.
func TestWipedVoter_DoesNotElectACandidateMissingCommittedEntries(t *testing.T) {
	lostVoterData(t, nil, func(c *rafttest.Cluster, w int) { c.Wipe(w) })
}

// lostVoterData plays the sequence above: "before" commits everywhere,
// prepare runs, B is cut off, X commits on {A, W}, A stops, lose(W), and B
// and W can talk. It fails the test if B or W leads without X, then starts
// A and checks the cluster keeps X. It returns the cluster and W's index.
func lostVoterData(t *testing.T, prepare func(c *rafttest.Cluster, w int), lose func(c *rafttest.Cluster, w int)) (*rafttest.Cluster, int) {
	t.Helper()
	c := rafttest.New(t, 3)
	leader := c.Leader(t)
	a := c.Index(leader)
	b, w := (a+1)%3, (a+2)%3
	ctx := testCtx(t)
	before, err := leader.Propose(ctx, upsert("before"))
	if err != nil {
		t.Fatal(err)
	}
	// B holds more than the bootstrap configuration before its cut (a node
	// cut off since it bootstrapped is the vote guard's documented gap).
	c.WaitApplied(t, before)
	if prepare != nil {
		prepare(c, w)
	}
	c.Net().Isolate(c.Addr(b))
	idx, err := leader.Propose(ctx, upsert("x"))
	if err != nil {
		t.Fatalf("X did not commit on A and W: %v", err)
	}
	rafttest.WaitFor(t, rafttest.Scaled(5*time.Second), func() error { return hasMember(c.Store(w), "x") })
	c.Stop(a)
	lose(c, w)
	c.Net().Heal()
	deadline := time.Now().Add(rafttest.Scaled(3 * time.Second))
	for leads := false; !leads && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, i := range []int{b, w} {
			s := c.Store(i)
			if s == nil || !s.IsLeader() {
				continue
			}
			if err := hasMember(s, "x"); err != nil {
				t.Fatalf("node %d leads without the committed entry X (index %d): %v", i, idx, err)
			}
			leads = true
		}
	}
	// No leader among B and W is the safe outcome: a majority that holds X
	// (A) is needed; start A and check the cluster keeps X.
	c.Restart(a)
	l := c.Leader(t)
	rafttest.WaitFor(t, rafttest.Scaled(15*time.Second), func() error { return hasMember(l, "x") })
	return c, w
}

// Losing raft.db alone (a corrupt bolt file deleted, say) leaves the
// snapshots: hashicorp/raft then counts the node as having state, restores
// the last snapshot, and starts at term 0 with no vote recorded. The
// entries it acknowledged after that snapshot are gone as surely as after
// a whole wipe, so it must withhold its vote the same way.
//
// Sequence: W snapshots; B is cut off; X commits on {A, W} after W's
// snapshot; A stops; W loses raft.db and restarts from its snapshot; B and
// W can talk. B must never lead without X.
func TestLostLogWithSnapshotLeft_DoesNotElectACandidateMissingCommittedEntries(t *testing.T) {
	snapshotOnW := func(c *rafttest.Cluster, w int) {
		if err := raftstore.TakeSnapshot(c.Store(w)); err != nil {
			t.Fatalf("snapshot on W: %v", err)
		}
	}
	c, w := lostVoterData(t, snapshotOnW, func(c *rafttest.Cluster, w int) { c.LoseFiles(w, "raft.db") })
	// W votes again once it holds the log up to the leader's commit index.
	rafttest.WaitFor(t, rafttest.Scaled(15*time.Second), func() error {
		if on, target := c.Store(w).Withholding(); on {
			return fmt.Errorf("W still withholds its vote (catch-up index %d)", target)
		}
		return hasMember(c.Store(w), "x")
	})
}
