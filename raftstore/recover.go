package raftstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/conclave-ha/conclave/fsm"
)

// Recover rewrites this stopped node's Raft configuration to exactly
// voters (addresses, which are also the server IDs) for `conclave raft
// recover`, when a permanent loss of a majority left the cluster without a
// quorum (as Consul's peers.json). It runs offline, on every survivor with
// the same voters, before their agents start again; the survivors then
// elect a leader among themselves, the one with the longest log winning,
// and continue the same state. Entries that only the lost nodes held are
// gone: that is the price of recovering without a quorum (DESIGN.md).
// On a node without Raft state (lost, and formation refusing to form alone:
// FORMATION.md) it writes voters as a new cluster's first configuration.
func Recover(dataDir, self string, voters []string, logger hclog.Logger) error {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if len(voters) == 0 {
		return errors.New("recover: name the surviving voters")
	}
	var conf raft.Configuration
	seen := map[string]bool{}
	for _, v := range voters {
		if !seen[v] {
			seen[v] = true
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(v), Address: raft.ServerAddress(v)})
		}
	}
	if !seen[self] {
		return fmt.Errorf("recover: this node's raft.self_addr %s is not among the voters %v", self, voters)
	}
	dbPath := filepath.Join(dataDir, "raft.db")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: dbPath, BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		return fmt.Errorf("recover: open %s (is the agent still running?): %w", dbPath, err)
	}
	defer bolt.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dataDir, retainSnapshots, logger)
	if err != nil {
		return fmt.Errorf("recover: snapshot store: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(self)
	rc.Logger = logger
	_, trans := raft.NewInmemTransport(raft.ServerAddress(self))
	hasState, err := raft.HasExistingState(bolt, bolt, snaps)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if !hasState {
		// A node that lost its Raft state does not form a cluster on its
		// own (FORMATION.md); the operator names its voters here instead.
		if err := raft.BootstrapCluster(rc, bolt, bolt, snaps, trans, conf); err != nil {
			return fmt.Errorf("recover: bootstrap %v on a node without Raft state: %w", voters, err)
		}
		logger.Warn("this node had no Raft state: wrote a new Raft configuration; the state is rebuilt from PostgreSQL", "voters", voters)
		return nil
	}
	if err := raft.RecoverCluster(rc, fsm.New(), bolt, bolt, snaps, trans, conf); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	// A survivor still withholding its vote (it joined and had not caught
	// up) would leave the survivors unable to elect anyone. Recovery
	// already accepts losing what only the lost nodes held, and the
	// election among the survivors picks the longest log, so the
	// withholding has nothing left to protect.
	if err := os.Remove(filepath.Join(dataDir, catchUpFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("recover: %w", err)
	}
	return nil
}
