package raftstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Two files in raft.data_dir carry a membership decision across restarts:
//
//   - left.json: this node left the cluster (`conclave leave`). Open refuses
//     with ErrLeft, so a restarted agent does not come back on its own.
//   - join.json: `conclave join --via` asked the cluster to add this node.
//     It lists the cluster's Raft servers and the catch-up index of the
//     answer; a node without Raft state then waits for the leader's entries
//     (asking those servers to add it, idempotently) and never bootstraps a
//     cluster of its own, even with no raft.partner_addrs.
const (
	leftFile = "left.json"
	joinFile = "join.json"
)

// ErrLeft is Open's answer on a node that left the cluster.
var ErrLeft = errors.New("this node left the cluster")

type joinRecord struct {
	Servers []string `json:"servers"`
	Index   uint64   `json:"index"`
}

// MarkLeft records in dir that this node left the cluster.
func MarkLeft(dir string) error {
	return writeOwned(filepath.Join(dir, leftFile), []byte("{}\n"))
}

func hasLeft(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, leftFile))
	return err == nil
}

// PrepareJoin readies dir for a node the cluster just added: it deletes
// the Raft state of an earlier membership (only after a leave: a node that
// is a member keeps its state and gets ErrRejected) and writes join.json.
// Files it creates get the owner of dir's parent, so an agent running as
// another user than the CLI can use them.
func PrepareJoin(dir string, servers []string, index uint64) error {
	if err := CanJoin(dir); err != nil {
		return err
	}
	for _, name := range []string{"raft.db", "snapshots", leftFile, catchUpFile} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("raft.data_dir %s: %w", dir, err)
		}
	}
	b, err := json.Marshal(joinRecord{Servers: servers, Index: index})
	if err != nil {
		return err
	}
	return writeOwned(filepath.Join(dir, joinFile), b)
}

// CanJoin refuses a node that has Raft state and did not leave: it is
// still a member (or belongs to another cluster), and `join` would throw
// its log away.
func CanJoin(dir string) error {
	if hasLeft(dir) {
		return nil
	}
	kept, err := raftLogKept(dir)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	if kept {
		return fmt.Errorf("%w: raft.data_dir %s holds Raft state: this node is already a member (run `conclave leave` first to move it)", ErrRejected, dir)
	}
	return nil
}

func readJoin(dir string) (*joinRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, joinFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	var rec joinRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("raftstore: %s: %w (run conclave join --via again)", filepath.Join(dir, joinFile), err)
	}
	return &rec, nil
}

// writeOwned writes path (creating its directory) and gives both the owner
// of the directory's parent.
func writeOwned(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("raft.data_dir %s: %w", dir, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("raft.data_dir: %w", err)
	}
	giveDirOwner(filepath.Dir(dir), dir, path)
	return nil
}

// giveDirOwner gives paths the owner of dir when running as root, so an
// agent running as another user than the CLI can use them.
func giveDirOwner(dir string, paths ...string) {
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		for _, p := range paths {
			_ = os.Chown(p, int(st.Uid), int(st.Gid))
		}
	}
}

// startJoined applies join.json at Open: its catch-up index, or, once the
// node has Raft state, its removal.
func (s *Store) startJoined() {
	if s.joined == nil {
		return
	}
	if s.hadState {
		_ = os.Remove(filepath.Join(s.cfg.DataDir, joinFile))
		s.joined = nil
		return
	}
	s.catchUp.setTarget(s.joined.Index)
}

// formJoined is formation for a node `conclave join` added: it never
// bootstraps; it asks the listed servers to add it (a no-op on the leader
// when it is already in) until the leader's entries arrive.
func (s *Store) formJoined(ctx context.Context) {
	s.logger.Info("added by conclave join: waiting for the leader's entries", "node", s.cfg.Addr, "servers", s.joined.Servers)
	for !s.Formed() {
		s.joinVia(ctx, s.joined.Servers)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.FormationInterval):
		}
	}
	_ = os.Remove(filepath.Join(s.cfg.DataDir, joinFile))
	s.logger.Info("raft state present: joined", "node", s.cfg.Addr)
}
