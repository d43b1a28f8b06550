package raftstore_test

import (
	"fmt"
	"slices"
	"time"

	"testing"

	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// The ha loop's protocol gates match these IDs with Member.RaftAddr: every
// node's list names every server by its raft.self_addr.
func TestRaftServerIDs_ListEveryServerByItsAddress(t *testing.T) {
	c := rafttest.New(t, 3)
	c.Leader(t)
	want := slices.Clone(c.Addrs())
	slices.Sort(want)
	for i := 0; i < c.Len(); i++ {
		// A node that joined learns the configuration from the leader.
		rafttest.WaitFor(t, 5*time.Second, func() error {
			got, err := c.Store(i).RaftServerIDs()
			if err != nil {
				return fmt.Errorf("node %d: %w", i, err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("node %d: RaftServerIDs = %v, want %v", i, got, want)
			}
			return nil
		})
	}
}
