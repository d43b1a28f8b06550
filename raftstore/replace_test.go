package raftstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// `raft snapshot restore` takes only the dynamic configuration from the
// file. It was installed as a whole state built from a read of the current
// one, so whatever committed between that read and the install (a failover's
// AcquireLeader, a primary's SwapSync, a renewal) was silently undone: the
// new primary's key and recorded synchronous standbys went back to the
// previous tenure's (rule 2: a standby of the old set, lacking commits only
// the new set acknowledged, became promotable). Here the hook commits an
// entry while it builds the new state, as a failover landing in that moment
// would.
func TestRestore_AnEntryCommittedWhileReplacing_IsKept(t *testing.T) {
	var mu sync.Mutex
	var leader *raftstore.Store
	var c *rafttest.Cluster
	c = rafttest.NewWithOptions(t, 3, rafttest.Options{Edit: func(i int, cfg *raftstore.Config) {
		cfg.PrepareReplace = func(kind string, current, restored fsm.State) (fsm.State, error) {
			mu.Lock()
			l := leader
			mu.Unlock()
			if _, err := l.Propose(testCtx(t), upsert("racer")); err != nil {
				t.Errorf("racing entry: %v", err)
			}
			next := current.Clone()
			next.Config = restored.Config
			next.ConfigIndex = current.Index + 1
			return next, nil
		}
	}})
	ctx := testCtx(t)
	l := c.Leader(t)
	mu.Lock()
	leader = l
	mu.Unlock()
	if _, err := l.Propose(ctx, fsm.SetConfig{Config: map[string]any{"ttl": 30}}); err != nil {
		t.Fatal(err)
	}
	cl := raftstore.Client{Addr: l.Addr(), Scope: rafttest.Scope}
	file, err := cl.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Replace(ctx, raftstore.ReplaceRestore, file); err != nil {
		t.Fatalf("restore: %v", err)
	}
	for i := 0; i < c.Len(); i++ {
		s := c.Store(i)
		rafttest.WaitFor(t, rafttest.Scaled(5*time.Second), func() error { return hasMember(s, "racer") })
	}
}
