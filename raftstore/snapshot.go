package raftstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/conclave-ha/conclave/fsm"
)

// Saving and replacing the replicated state (DESIGN.md, "Raft state
// backup and recovery"). A saved snapshot is a JSON file: the scope, when it
// was saved, and the FSM's snapshot document. Replacing the state (restore
// from such a file, or forget for `conclave remove`) runs on the Raft
// leader: Config.PrepareReplace builds the new state from the current one
// and the file's (it decides what may come back; raftstore knows no
// primary). A restore changes only the dynamic configuration and commits it
// as an ordinary SetConfig entry; forget installs the new state with
// raft.Restore as a snapshot that every node receives, at an index above
// every earlier entry (an entry committed between the hook's read and that
// install is undone: DESIGN.md, known limits).

// Kinds of state replacement.
const (
	ReplaceRestore = "restore" // from a saved snapshot
	ReplaceForget  = "forget"  // conclave remove: the members rebuild it
)

const (
	opSnapshotSave = "snapshot_save"
	opReplace      = "replace_state"
	snapshotMagic  = "conclave raft snapshot"
	restoreTimeout = 30 * time.Second
)

// SavedSnapshot is the file `conclave raft snapshot save` writes.
type SavedSnapshot struct {
	Kind    string          `json:"kind"` // snapshotMagic
	Scope   string          `json:"scope"`
	SavedAt time.Time       `json:"saved_at"`
	Index   uint64          `json:"index"`
	FSM     json.RawMessage `json:"fsm"` // the FSM's snapshot document
}

// serveSnapshotSave answers on any node: after a read-index its FSM holds
// every acknowledged write, and it writes its own copy.
func (s *Store) serveSnapshotSave(ctx context.Context) rpcResponse {
	var resp rpcResponse
	if _, err := s.LinearizableState(ctx); err != nil {
		encodeErr(&resp, err)
		return resp
	}
	st := s.fsm.State()
	doc, err := fsm.EncodeSnapshot(st)
	if err == nil {
		resp.Snapshot, err = json.Marshal(SavedSnapshot{Kind: snapshotMagic, Scope: s.cfg.Scope, SavedAt: time.Now().UTC(), Index: st.Index, FSM: doc})
	}
	encodeErr(&resp, err)
	return resp
}

// replaceLocal runs on the leader.
func (s *Store) replaceLocal(ctx context.Context, req rpcRequest) error {
	if s.cfg.PrepareReplace == nil {
		return fmt.Errorf("%w: this node cannot replace the state", ErrRejected)
	}
	var restored fsm.State
	switch req.Replace {
	case ReplaceRestore:
		var saved SavedSnapshot
		if err := json.Unmarshal(req.Snapshot, &saved); err != nil || saved.Kind != snapshotMagic {
			return fmt.Errorf("%w: not a conclave raft snapshot file", ErrRejected)
		}
		if saved.Scope != s.cfg.Scope {
			return fmt.Errorf("%w: the snapshot is of scope %q, this cluster is %q", ErrRejected, saved.Scope, s.cfg.Scope)
		}
		st, err := fsm.DecodeSnapshot(bytes.NewReader(saved.FSM))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
		restored = st
	case ReplaceForget:
	default:
		return fmt.Errorf("%w: unknown state replacement %q", ErrRejected, req.Replace)
	}
	// Everything committed so far is applied here before the hook looks.
	if _, err := s.readIndexLocal(ctx); err != nil {
		return err
	}
	current := s.fsm.State()
	next, err := s.cfg.PrepareReplace(req.Replace, current, restored)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	if req.Replace == ReplaceRestore {
		// Only the dynamic configuration changes: an ordinary SetConfig
		// entry, ordered after everything that commits while this runs.
		// Installing next as a whole state undid any entry committed
		// between the read above and the install (a failover's key, its
		// recorded synchronous standbys). The compare-and-swap on the
		// configuration's version refuses a restore that raced a PATCH.
		expect := current.ConfigIndex
		if _, err := s.Propose(ctx, fsm.SetConfig{Config: next.Config, ExpectIndex: &expect}); err != nil {
			return fmt.Errorf("restore the dynamic configuration: %w", err)
		}
		s.logger.Warn("restored the dynamic configuration from a snapshot file")
		return nil
	}
	next.Index = current.Index
	// The cluster stays the same cluster: its ID never comes from the hook
	// or a file (DESIGN.md, "Cluster ID").
	next.ClusterID = current.ClusterID
	doc, err := fsm.EncodeSnapshot(next)
	if err != nil {
		return err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: int64(len(doc))}
	timeout := restoreTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	if err := s.raft.Restore(meta, bytes.NewReader(doc), timeout); err != nil {
		return fmt.Errorf("install the new state: %w", mapRaftErr(err))
	}
	s.logger.Warn("replaced the replicated state", "kind", req.Replace, "index", s.raft.LastIndex())
	return nil
}

// Client reaches a node's Raft port from the CLI, authenticated as a member
// (raft.password, raft TLS).
type Client struct {
	Addr   string
	Scope  string
	Secret string
	TLS    *tls.Config
}

func (c Client) store() (*Store, error) {
	s := &Store{cfg: Config{Addr: "cli", Scope: c.Scope, Secret: c.Secret}, limit: newThrottle(time.Minute), logger: hclog.NewNullLogger()}
	var err error
	s.sec, err = newSecurity(c.Secret, c.TLS)
	return s, err
}

func (c Client) do(ctx context.Context, req rpcRequest) (rpcResponse, error) {
	s, err := c.store()
	if err != nil {
		return rpcResponse{}, err
	}
	resp, err := s.call(ctx, c.Addr, req)
	if err != nil {
		return resp, err
	}
	return resp, decodeErr(resp)
}

// SaveSnapshot returns a SavedSnapshot file's bytes.
func (c Client) SaveSnapshot(ctx context.Context) ([]byte, error) {
	resp, err := c.do(ctx, rpcRequest{Op: opSnapshotSave})
	if err != nil {
		return nil, fmt.Errorf("snapshot save via %s: %w", c.Addr, err)
	}
	if len(resp.Snapshot) == 0 {
		return nil, errors.New("snapshot save: empty answer")
	}
	return resp.Snapshot, nil
}

// Replace asks the leader to replace the state (kind ReplaceRestore with a
// SavedSnapshot file, or ReplaceForget).
func (c Client) Replace(ctx context.Context, kind string, snapshot []byte) error {
	if _, err := c.do(ctx, rpcRequest{Op: opReplace, Replace: kind, Snapshot: snapshot}); err != nil {
		return fmt.Errorf("%s via %s: %w", kind, c.Addr, err)
	}
	return nil
}
