package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// raftLogKept reports, without the agent running, whether dir's raft.db
// holds a term or a log entry. An agent that lost its Raft state and ran
// since leaves an empty file, which join and recover may replace. It reads
// bbolt directly: raftboltdb opened read-only does not create its buckets,
// and its reads panic on a file without them.
func raftLogKept(dir string) (bool, error) {
	path := filepath.Join(dir, "raft.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	switch {
	case errors.Is(err, bbolt.ErrTimeout):
		return false, fmt.Errorf("%s is in use: stop the agent first", path)
	case err != nil:
		return false, fmt.Errorf("cannot read %s (%v): if this node's Raft state is lost, move raft.data_dir aside first", path, err)
	}
	defer db.Close()
	kept := false
	err = db.View(func(tx *bbolt.Tx) error {
		// raftboltdb's bucket and key names; values are big-endian.
		if conf := tx.Bucket([]byte("conf")); conf != nil {
			if v := conf.Get([]byte("CurrentTerm")); len(v) == 8 && binary.BigEndian.Uint64(v) > 0 {
				kept = true
			}
		}
		if logs := tx.Bucket([]byte("logs")); logs != nil {
			if k, _ := logs.Cursor().First(); k != nil {
				kept = true
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return kept, nil
}

// snapshotsKept reports whether dir holds Raft snapshots.
func snapshotsKept(dir string) bool {
	entries, _ := os.ReadDir(filepath.Join(dir, "snapshots"))
	return len(entries) > 0
}

// HasRaftState reports whether the stopped node's raft.data_dir holds Raft
// state: a term or log entry in raft.db, or a snapshot.
func HasRaftState(dir string) (bool, error) {
	kept, err := raftLogKept(dir)
	return kept || snapshotsKept(dir), err
}
