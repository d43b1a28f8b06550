package raftstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// followers returns the indexes of the nodes that do not lead.
func followers(c *rafttest.Cluster, leader *raftstore.Store) []int {
	var out []int
	for i := range c.Len() {
		if c.Store(i) != leader {
			out = append(out, i)
		}
	}
	return out
}

// The example: 3 voters, the leader A, B down. Removing C (its
// leave, or a remove asked anywhere) would leave {A, B} with only A
// answering: refused, naming B, and nothing changes. Evicting the dead B
// leaves {A, C}, both answering: allowed.
func TestCheckRemove_AnotherVoterDown_RefusesTheLeaveAndAllowsEvictingTheDeadOne(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(t)
	fs := followers(c, leader)
	down, leaving := fs[0], fs[1]
	downAddr, leavingAddr := c.Addr(down), c.Addr(leaving)
	c.Stop(down)
	ctx := testCtx(t)

	err := c.Store(leaving).CheckRemove(ctx, leavingAddr)
	if !errors.Is(err, raftstore.ErrQuorumLoss) || !strings.Contains(err.Error(), downAddr) {
		t.Fatalf("CheckRemove(%s) = %v, want ErrQuorumLoss naming %s", leavingAddr, err, downAddr)
	}
	if err := c.Store(leaving).Leave(ctx); !errors.Is(err, raftstore.ErrQuorumLoss) {
		t.Errorf("leave with another voter down = %v, want ErrQuorumLoss", err)
	}
	if err := c.Store(leaving).Remove(ctx, leavingAddr); !errors.Is(err, raftstore.ErrQuorumLoss) {
		t.Errorf("remove with another voter down = %v, want ErrQuorumLoss", err)
	}
	// The leader's own leave: {B, C} remain, only C answers.
	if err := leader.Leave(ctx); !errors.Is(err, raftstore.ErrQuorumLoss) {
		t.Errorf("the leader's leave with another voter down = %v, want ErrQuorumLoss", err)
	}
	if err := c.CheckVoters(3); err != nil {
		t.Errorf("configuration changed by a refused removal: %v", err)
	}
	idx, err := c.Store(leaving).Propose(ctx, upsert("still-committing"))
	if err != nil {
		t.Fatalf("propose after the refusals: %v", err)
	}
	c.WaitApplied(t, idx)

	// Evicting the dead voter (leave MEMBER --force) still works.
	if err := c.Store(leaving).CheckRemove(ctx, downAddr); err != nil {
		t.Errorf("CheckRemove of the dead voter: %v", err)
	}
	if err := c.Store(leaving).Remove(ctx, downAddr); err != nil {
		t.Fatalf("evict the dead voter: %v", err)
	}
	rafttest.WaitFor(t, 5*time.Second, func() error { return c.CheckVoters(2) })
}

// With every voter answering, a leave passes the check; a non-voter and an
// unknown server always do.
func TestCheckRemove_AllAnswer_OrNotAVoter_Passes(t *testing.T) {
	c := rafttest.New(t, 3)
	ctx := testCtx(t)
	f := c.Follower(t)
	// Every voter up: right after formation a peer may not answer its
	// first hello yet, so wait for the check to pass.
	rafttest.WaitFor(t, 10*time.Second, func() error {
		return f.CheckRemove(ctx, c.Addr(c.Index(f)))
	})
	dead := rafttest.DeadAddr(t)
	if _, err := f.Join(ctx, raftstore.JoinRequest{ID: dead, Addr: dead, Scope: rafttest.Scope}); err != nil {
		t.Fatalf("join a non-voter: %v", err)
	}
	if err := f.CheckRemove(ctx, dead); err != nil {
		t.Errorf("CheckRemove of a non-voter: %v", err)
	}
	if err := f.CheckRemove(ctx, "127.0.0.1:1"); err != nil {
		t.Errorf("CheckRemove of an unknown server: %v", err)
	}
}

// AnswersHello tells a running peer from a stopped one: an eviction by
// address refuses a server that answers.
func TestAnswersHello_RunningPeerAnswers_StoppedOneDoesNot(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(t)
	fs := followers(c, leader)
	ctx := testCtx(t)
	if !leader.AnswersHello(ctx, c.Addr(fs[0])) {
		t.Errorf("running peer %s does not answer a hello", c.Addr(fs[0]))
	}
	c.Stop(fs[1])
	if leader.AnswersHello(ctx, c.Addr(fs[1])) {
		t.Errorf("stopped peer %s answers a hello", c.Addr(fs[1]))
	}
	if dead := rafttest.DeadAddr(t); leader.AnswersHello(ctx, dead) {
		t.Errorf("%s, where nothing listens, answers a hello", dead)
	}
}
