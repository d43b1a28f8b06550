package raftstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// `raft recover` on survivors one of which still withholds its vote (it
// joined and had not caught up when the majority was lost): without ending
// the withholding, the two survivors could never elect a leader.
func TestRecover_SurvivorThatWithholds_VotesAgain(t *testing.T) {
	c := rafttest.New(t, 3)
	idx, err := c.Leader(t).Propose(testCtx(t), upsert("kept"))
	if err != nil {
		t.Fatal(err)
	}
	c.WaitApplied(t, idx)
	for _, i := range []int{2, 0, 1} { // node 2 is lost for good
		c.Stop(i)
	}
	if err := os.WriteFile(filepath.Join(c.DataDir(1), "catchup.json"), []byte(`{"index":1099511627776}`), 0o600); err != nil {
		t.Fatal(err)
	}
	survivors := []string{c.Addr(0), c.Addr(1)}
	for _, i := range []int{0, 1} {
		if err := raftstore.Recover(c.DataDir(i), c.Addr(i), survivors, nil); err != nil {
			t.Fatalf("recover node %d: %v", i, err)
		}
	}
	c.Restart(0)
	c.Restart(1)
	if err := hasMember(c.Leader(t), "kept"); err != nil {
		t.Fatal(err)
	}
	if withholding, _ := c.Store(1).Withholding(); withholding {
		t.Error("the recovered survivor still withholds its vote")
	}
}

// A node without partners that lost its Raft state (one that joined with
// `conclave join` may run without raft.partner_addrs) must not form a
// one-node cluster beside the one it belonged to (FORMATION.md). When it was
// a one-node cluster, `raft recover --voters SELF` forms it on purpose.
func TestRecover_NodeAloneThatLostItsState_FormsOnlyWhenTold(t *testing.T) {
	ln := rafttest.Listener(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	cfg := rafttest.Config(t, "x", ln, []string{addr})
	cfg.WasMember = true
	s := rafttest.OpenStore(t, cfg, fsm.New())
	rafttest.HoldsFor(t, time.Second, notFormed(s))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The agent ran and left an empty raft.db: `join` may replace it.
	if err := raftstore.CanJoin(cfg.DataDir); err != nil {
		t.Errorf("join refused on a node without Raft state: %v", err)
	}

	// Without state, its vote would not be withheld: no cluster of several.
	if err := raftstore.Recover(cfg.DataDir, addr, []string{addr, rafttest.DeadAddr(t)}, nil); err == nil {
		t.Fatal("recover with other voters accepted on a node without Raft state")
	}
	empty := t.TempDir()
	if err := raftstore.Recover(empty, addr, []string{addr, rafttest.DeadAddr(t)}, nil); err == nil {
		t.Fatal("recover with other voters accepted on an empty raft.data_dir")
	}
	if _, err := os.Stat(filepath.Join(empty, "raft.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused recover created raft.db: %v", err)
	}

	// An old cluster's ID and catch-up target must not carry over.
	for _, name := range []string{"cluster_id", "catchup.json"} {
		if err := os.WriteFile(filepath.Join(cfg.DataDir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := raftstore.Recover(cfg.DataDir, addr, []string{addr}, nil); err != nil {
		t.Fatalf("recover on a node without Raft state: %v", err)
	}
	for _, name := range []string{"cluster_id", "catchup.json"} {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left by recover: %v", name, err)
		}
	}
	cfg.Listener = rafttest.Listener(t, addr)
	s = rafttest.OpenStore(t, cfg, fsm.New())
	rafttest.WaitFor(t, 10*time.Second, func() error {
		if !s.IsLeader() {
			return errors.New("not leader")
		}
		return nil
	})
	if _, err := s.Propose(testCtx(t), upsert("m")); err != nil {
		t.Fatalf("propose: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := raftstore.CanJoin(cfg.DataDir); !errors.Is(err, raftstore.ErrRejected) {
		t.Errorf("join on a node with Raft state: %v, want raftstore.ErrRejected", err)
	}
}

// Recover refuses, before writing anything, a node whose log was lost while
// snapshots remain, and one that is joining a cluster.
func TestRecover_LogLostWithSnapshotsOrJoining_RefusedNothingCreated(t *testing.T) {
	addr := rafttest.DeadAddr(t)
	snapsOnly := t.TempDir()
	if err := os.MkdirAll(filepath.Join(snapsOnly, "snapshots", "2-10-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	joining := t.TempDir()
	if err := os.WriteFile(filepath.Join(joining, "join.json"), []byte(`{"servers":["x"],"index":3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"snapshots without a log": snapsOnly, "joining": joining} {
		if err := raftstore.Recover(dir, addr, []string{addr}, nil); err == nil {
			t.Errorf("%s: recover accepted", name)
		}
		if _, err := os.Stat(filepath.Join(dir, "raft.db")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a refused recover created raft.db: %v", name, err)
		}
	}
}

// join and recover read raft.db without the agent: an empty or foreign
// file is an error naming the file, never a panic; a running agent's file
// is "in use"; a bolt file without Raft's buckets holds no state.
func TestCanJoin_RaftDBUnreadableInUseOrEmpty(t *testing.T) {
	zero := t.TempDir()
	if err := os.WriteFile(filepath.Join(zero, "raft.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := raftstore.CanJoin(zero); !errors.Is(err, raftstore.ErrRejected) || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("zero-byte raft.db: %v, want raftstore.ErrRejected naming the unreadable file", err)
	}

	bare := t.TempDir()
	db, err := bbolt.Open(filepath.Join(bare, "raft.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := raftstore.CanJoin(bare); err != nil {
		t.Errorf("bolt file without Raft's buckets: %v, want nil", err)
	}

	c := rafttest.New(t, 1)
	if err := raftstore.CanJoin(c.DataDir(0)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("raft.db of a running node: %v, want in use", err)
	}
}
