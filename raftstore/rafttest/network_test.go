package rafttest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

func propose(s *raftstore.Store, name string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := s.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: name}})
	return err
}

func TestNetwork_IsolatedNode_CannotCommitUntilHealed(t *testing.T) {
	c := rafttest.New(t, 3)
	f := c.Follower(t)
	i := c.Index(f)
	c.Net().Isolate(c.Addr(i))
	if err := propose(f, "cut", 300*time.Millisecond); err == nil {
		t.Fatal("an isolated follower committed a proposal")
	}
	// The majority still commits.
	rafttest.WaitFor(t, 5*time.Second, func() error {
		for j := range c.Len() {
			if j != i && c.Store(j).IsLeader() {
				return propose(c.Store(j), "majority", time.Second)
			}
		}
		return errors.New("no leader in the majority")
	})
	c.Net().Heal()
	rafttest.WaitFor(t, 5*time.Second, func() error { return propose(f, "healed", time.Second) })
}

func TestNetwork_Loss_ProposalsStillCommitWithRetries(t *testing.T) {
	c := rafttest.New(t, 3)
	c.Net().SetLoss(0.2, 7)
	for k := range 5 {
		rafttest.WaitFor(t, 10*time.Second, func() error { return propose(c.Follower(t), fmt.Sprint("m", k), time.Second) })
	}
}

func TestNetwork_Delay_SlowsCommits(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(t)
	li := c.Index(leader)
	for j := range c.Len() {
		if j != li {
			c.Net().SetDelay(c.Addr(li), c.Addr(j), 100*time.Millisecond)
		}
	}
	start := time.Now()
	// A delayed link may also cost the leadership; retry until one commits.
	rafttest.WaitFor(t, 10*time.Second, func() error { return propose(c.Store(li), "slow", 2*time.Second) })
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("commit over links delayed 100ms took %v", d)
	}
}

func TestWipe_NodeRejoinsAndCatchesUp(t *testing.T) {
	c := rafttest.New(t, 3)
	if err := propose(c.Leader(t), "before", time.Second); err != nil {
		t.Fatal(err)
	}
	f := c.Index(c.Follower(t))
	c.Wipe(f)
	rafttest.WaitFor(t, 10*time.Second, func() error {
		if _, ok := c.Store(f).State().Members["before"]; !ok {
			return errors.New("wiped node has not caught up")
		}
		return nil
	})
}
