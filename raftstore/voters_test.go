package raftstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

func suffrage(t *testing.T, s *raftstore.Store, id string) (present, voter bool) {
	t.Helper()
	servers, err := s.Servers(testCtx(t))
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	for _, srv := range servers {
		if srv.ID == id {
			return true, srv.Voter
		}
	}
	return false, false
}

func TestVoters_SixthNode_StaysNonvoter_UntilAVoterLeaves(t *testing.T) {
	c := rafttest.New(t, 5)
	i := c.AddNode(t, nil)
	rafttest.WaitFor(t, 10*time.Second, func() error {
		if !c.Store(i).Formed() {
			return errors.New("sixth node not formed")
		}
		if present, _ := suffrage(t, c.Leader(t), c.Addr(i)); !present {
			return errors.New("sixth node not in the configuration")
		}
		return nil
	})
	rafttest.HoldsFor(t, 2*time.Second, func() error {
		if err := c.CheckVoters(raftstore.MaxVoters); err != nil {
			return err
		}
		if _, voter := suffrage(t, c.Leader(t), c.Addr(i)); voter {
			return errors.New("the sixth node became a voter")
		}
		return nil
	})
	if roles := c.Leader(t).Roles(); roles[c.Addr(i)] != raftstore.RoleNonvoter {
		t.Errorf("Roles()[%s] = %q, want %q", c.Addr(i), roles[c.Addr(i)], raftstore.RoleNonvoter)
	}

	// A voter (a follower) leaves: the non-voter takes its place.
	for j := range 5 {
		if s := c.Store(j); !s.IsLeader() {
			if err := s.Leave(testCtx(t)); err != nil {
				t.Fatalf("leave: %v", err)
			}
			c.Stop(j)
			break
		}
	}
	rafttest.WaitFor(t, 10*time.Second, func() error {
		if _, voter := suffrage(t, c.Leader(t), c.Addr(i)); !voter {
			return errors.New("the sixth node is not a voter yet")
		}
		return c.CheckVoters(raftstore.MaxVoters)
	})
}

func TestVoters_JoiningNode_EntersAsNonvoter_AndIsPromotedOnlyOnceCaughtUp(t *testing.T) {
	c := rafttest.New(t, 3)
	// A server that never answers is added but never promoted.
	dead := rafttest.DeadAddr(t)
	if _, err := c.Follower(t).Join(testCtx(t), raftstore.JoinRequest{ID: dead, Addr: dead, Scope: rafttest.Scope}); err != nil {
		t.Fatalf("join: %v", err)
	}
	rafttest.HoldsFor(t, 2*time.Second, func() error {
		if present, voter := suffrage(t, c.Leader(t), dead); !present || voter {
			return fmt.Errorf("dead server present=%v voter=%v, want a non-voter", present, voter)
		}
		return nil
	})
	if err := c.Follower(t).Remove(testCtx(t), dead); err != nil {
		t.Fatalf("remove: %v", err)
	}
	// A live one catches up and is promoted.
	i := c.AddNode(t, nil)
	rafttest.WaitFor(t, 10*time.Second, func() error {
		if _, voter := suffrage(t, c.Leader(t), c.Addr(i)); !voter {
			return errors.New("not promoted yet")
		}
		return c.CheckVoters(4)
	})
	if withholding, _ := c.Store(i).Withholding(); withholding {
		t.Error("the promoted node still withholds its vote")
	}
}

// The scenario: an entry committed by the leader and one follower
// while the other follower is cut off; the leader goes down and the
// follower that had the entry loses its Raft data. The cut-off follower
// must not be elected with the wiped node's vote.
func TestWipe_WhileAnotherNodeIsDown_LosesNoCommittedEntry(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(t)
	li := c.Index(leader)
	var lagging, holder int
	for j := range 3 {
		if j != li {
			lagging = j
			break
		}
	}
	holder = 3 - li - lagging
	// Every node holds an entry past the bootstrap configuration before the
	// cut: a node cut off since it bootstrapped is the one case the vote
	// guard leaves open (DESIGN.md, "Membership"), not this scenario.
	warm, err := leader.Propose(testCtx(t), upsert("before"))
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	c.WaitApplied(t, warm)
	c.Net().Isolate(c.Addr(lagging))
	idx, err := leader.Propose(testCtx(t), upsert("committed"))
	if err != nil {
		t.Fatalf("propose: %v", err)
	}
	rafttest.WaitFor(t, 5*time.Second, func() error { return hasMember(c.Store(holder), "committed") })

	// Cut the leader from the holder before stopping it, so that it cannot
	// hand leadership over to the holder (which would then replicate the
	// entry to the lagging node and hand over to it in turn).
	c.Net().Partition([]string{c.Addr(li)}, []string{c.Addr(holder)})
	c.Stop(li)
	c.Net().Heal()
	c.Wipe(holder)
	// The lagging node lacks the entry; the wiped node withholds its vote,
	// so no leader can be elected without the old leader.
	rafttest.HoldsFor(t, 3*time.Second, func() error {
		for _, j := range []int{lagging, holder} {
			if s := c.Store(j); s.IsLeader() {
				if err := hasMember(s, "committed"); err != nil {
					return fmt.Errorf("node %d leads without the committed entry: %w", j, err)
				}
			}
		}
		return nil
	})
	if withholding, _ := c.Store(holder).Withholding(); !withholding {
		t.Error("the wiped node does not withhold its vote")
	}

	c.Restart(li)
	rafttest.WaitFor(t, 15*time.Second, func() error {
		for j := range 3 {
			if err := hasMember(c.Store(j), "committed"); err != nil {
				return err
			}
		}
		withholding, _ := c.Store(holder).Withholding()
		if withholding {
			return errors.New("the wiped node still withholds its vote after catching up")
		}
		return nil
	})
	c.WaitApplied(t, idx)
	if got := voters(t, c.Leader(t)); !slices.Equal(got, func() []string { a := c.Addrs(); slices.Sort(a); return a }()) {
		t.Errorf("voters %v, want all three", got)
	}
}
