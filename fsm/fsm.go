package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// Result is what Apply returns for every entry: the index it was applied
// at, and a rejection (nil when the command took effect).
type Result struct {
	Index uint64
	Err   error
}

type handler struct {
	decode func(body []byte) (Command, error)
	apply  func(s *State, c Command, index uint64) error
}

// handlers is the dispatch table: a new command is a constant, a body type,
// an apply function and one row here.
var handlers = map[CommandType]handler{
	CmdClaimInitialize:     {decodeAs[ClaimInitialize], applyClaimInitialize},
	CmdSetInitialize:       {decodeAs[SetInitialize], applySetInitialize},
	CmdAbortInitialize:     {decodeAs[AbortInitialize], applyAbortInitialize},
	CmdAcquireLeader:       {decodeAs[AcquireLeader], applyAcquireLeader},
	CmdRenewLeader:         {decodeAs[RenewLeader], applyRenewLeader},
	CmdReleaseLeader:       {decodeAs[ReleaseLeader], applyReleaseLeader},
	CmdUpsertMember:        {decodeAs[UpsertMember], applyUpsertMember},
	CmdRemoveMember:        {decodeAs[RemoveMember], applyRemoveMember},
	CmdSetConfig:           {decodeAs[SetConfig], applySetConfig},
	CmdSetSync:             {decodeAs[SetSync], applySetSync},
	CmdAppendHistory:       {decodeAs[AppendHistory], applyAppendHistory},
	CmdSetPending:          {decodeAs[SetPending], applySetPending},
	CmdClearPending:        {decodeAs[ClearPending], applyClearPending},
	CmdSwapSync:            {decodeAs[SwapSync], applySwapSync},
	CmdRemoveStaleMember:   {decodeAs[RemoveStaleMember], applyRemoveStaleMember},
	CmdAppendTenureHistory: {decodeAs[AppendTenureHistory], applyAppendTenureHistory},
	CmdRenewLeaderCAS:      {decodeAs[RenewLeaderCAS], applyRenewLeaderCAS},
	CmdSwapSyncSealed:      {decodeAs[SwapSyncSealed], applySwapSyncSealed},

	CmdHandOver:     {decodeAs[HandOver], applyHandOver},
	CmdSetClusterID: {decodeAs[SetClusterID], applySetClusterID},
}

// FSM implements raft.FSM over State.
type FSM struct {
	mu      sync.RWMutex
	state   State
	changed chan struct{}
}

// New returns an FSM with an empty state.
func New() *FSM {
	return &FSM{state: emptyState(), changed: make(chan struct{})}
}

func emptyState() State { return State{Members: map[string]Member{}} }

// State returns a deep copy of the current state.
func (f *FSM) State() State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Clone()
}

// AppliedIndex is the index of the last applied entry.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Index
}

// Changed returns a channel that is closed at the next applied entry or
// restore. Watchers call it again after each wake-up.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

// Apply applies one Raft log entry. Non-command entries only advance the index.
func (f *FSM) Apply(l *raft.Log) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.notifyLocked()
	if l.Type != raft.LogCommand {
		f.state.Index = l.Index
		return Result{Index: l.Index}
	}
	err := ApplyEntry(&f.state, l.Data, l.Index)
	return Result{Index: l.Index, Err: err}
}

// ApplyEntry applies encoded command bytes to s at index. It is the whole of
// Apply without Raft, so tests can drive it directly. A command a newer
// version wrote that this one does not know is skipped when it is flagged
// ignorable; otherwise it panics, since diverging from the other replicas is
// worse than stopping.
func ApplyEntry(s *State, data []byte, index uint64) error {
	s.Index = index
	cmd, err := Decode(data)
	if err != nil {
		if errors.Is(err, ErrUnknownCommand) && len(data) > 0 && CommandType(data[0])&FlagIgnorable != 0 {
			return err
		}
		panic(fmt.Sprintf("fsm: entry %d: %v", index, err))
	}
	return handlers[cmd.Type()].apply(s, cmd, index)
}

func (f *FSM) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// snapshotFormat is the version of the snapshot document.
const snapshotFormat = 1

type snapshotDoc struct {
	Format int    `json:"format"`
	Index  uint64 `json:"index"`
	State  State  `json:"state"`
}

// Snapshot captures a copy of the state.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &snapshot{doc: snapshotDoc{Format: snapshotFormat, Index: f.state.Index, State: f.state.Clone()}}, nil
}

// Restore replaces the state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := DecodeSnapshot(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = st
	f.notifyLocked()
	return nil
}

// DecodeSnapshot reads a snapshot document; an unknown format is an error.
func DecodeSnapshot(r io.Reader) (State, error) {
	var doc snapshotDoc
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return State{}, fmt.Errorf("restore snapshot: %w", err)
	}
	if doc.Format != snapshotFormat {
		return State{}, fmt.Errorf("restore snapshot: unknown format %d (this version reads %d)", doc.Format, snapshotFormat)
	}
	if doc.State.Members == nil {
		doc.State.Members = map[string]Member{}
	}
	return doc.State, nil
}

type snapshot struct{ doc snapshotDoc }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s.doc); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}

// EncodeSnapshot writes st as a snapshot document, what Restore reads
// (raftstore installs a restored or rebuilt state with it).
func EncodeSnapshot(st State) ([]byte, error) {
	if st.Members == nil {
		st.Members = map[string]Member{}
	}
	return json.Marshal(snapshotDoc{Format: snapshotFormat, Index: st.Index, State: st})
}
