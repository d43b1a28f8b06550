package raftstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// A follower cut off from the leader keeps its address until its election
// timer fires; InContact says it is cut off once no leader was heard for a
// heartbeat timeout (failsafe heartbeats are then answered from the local
// state at once, not after a read-index that cannot succeed).
func TestInContact_FollowerCutOff_NotInContact(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(t)
	follower := c.Follower(t)
	rafttest.WaitFor(t, 5*time.Second, func() error {
		if !leader.IsLeader() || !leader.InContact() || !follower.InContact() {
			return errors.New("leader or follower not in contact yet")
		}
		return nil
	})
	c.Net().Isolate(c.Addr(c.Index(follower)))
	rafttest.WaitFor(t, 5*time.Second, func() error {
		if follower.InContact() {
			return errors.New("the isolated follower still counts as in contact")
		}
		return nil
	})
	// The cut-off follower's view of the leader is stale by design, so the
	// majority's leader is looked for among the other two nodes only.
	cut := c.Index(follower)
	rafttest.WaitFor(t, 5*time.Second, func() error {
		for i := range c.Len() {
			if s := c.Store(i); i != cut && s != nil && s.IsLeader() && s.InContact() {
				return nil
			}
		}
		return errors.New("no node of the majority leads in contact")
	})
}
