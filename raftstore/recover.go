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
// FORMATION.md) it only forms a one-node cluster of itself (recoverAlone).
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
	if _, err := os.Stat(dataDir); err != nil {
		return fmt.Errorf("recover: raft.data_dir: %w", err)
	}
	dbPath := filepath.Join(dataDir, "raft.db")
	// Decide before anything below creates a file.
	logKept, err := raftLogKept(dataDir)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	alone := !logKept
	if alone {
		if snapshotsKept(dataDir) {
			return fmt.Errorf("recover: %s holds no log while snapshots remain: this node's Raft log was lost. "+
				"Leave it out of --voters, recover the other survivors, then move its raft.data_dir aside and let it join", dbPath)
		}
		if err := aloneOnly(dataDir, self, conf); err != nil {
			return err
		}
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
	if alone {
		return recoverAlone(dataDir, dbPath, self, conf, rc, bolt, snaps, trans, logger)
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

// recoverAlone forms a one-node cluster of a node without a Raft log: a
// one-node cluster whose Raft data was lost, which formation does not form
// by itself (FORMATION.md). More voters are refused: a node without state
// cannot tell which entries the others committed, and its vote, not
// withheld after a bootstrap, could elect one that lacks them; such a node
// joins the recovered survivors instead.
func recoverAlone(dataDir, dbPath, self string, conf raft.Configuration, rc *raft.Config,
	bolt *raftboltdb.BoltStore, snaps raft.SnapshotStore, trans raft.Transport, logger hclog.Logger) error {
	// The agent must be able to open what this creates, whatever happens next.
	defer giveDirOwner(dataDir, dbPath, filepath.Join(dataDir, "snapshots"))
	// A new cluster: no ID of an old one, nothing to catch up with. Removed
	// first, so a failure leaves the node without state, as it was.
	for _, name := range []string{idFileName, catchUpFile} {
		if err := os.Remove(filepath.Join(dataDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("recover: %w", err)
		}
	}
	if err := raft.BootstrapCluster(rc, bolt, bolt, snaps, trans, conf); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	logger.Warn("this node had no Raft state: formed a one-node Raft cluster; the agent rebuilds the state from PostgreSQL", "voter", self)
	return nil
}

// aloneOnly refuses what recoverAlone must not do: form a cluster of
// several voters, or of a node that is joining one.
func aloneOnly(dataDir, self string, conf raft.Configuration) error {
	if len(conf.Servers) != 1 {
		return fmt.Errorf("recover: this node has no Raft state, so it can only form a one-node cluster of itself (--voters %s); "+
			"in a cluster, recover the survivors that kept their state, then bring this node back with `conclave join --via HOST:PORT`", self)
	}
	if _, err := os.Stat(filepath.Join(dataDir, joinFile)); err == nil {
		return fmt.Errorf("recover: this node is joining a cluster (%s): start its agent, or move raft.data_dir aside first",
			filepath.Join(dataDir, joinFile))
	}
	return nil
}
