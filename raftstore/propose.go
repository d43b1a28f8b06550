package raftstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// applyTimeoutDefault bounds raft.Apply's enqueue wait when ctx has no deadline.
const applyTimeoutDefault = 10 * time.Second

// Propose replicates c and returns the index it was applied at. On a
// follower it is forwarded to the leader; it is never applied locally. While
// there is no leader it retries every 50-100 ms until ctx is done.
//
// Errors: a command the FSM refused is ErrRejected wrapping the FSM sentinel
// (errors.Is(err, fsm.ErrLeaderChanged) works, on the leader and through a
// follower; the index is then the rejected entry's). ErrUnknownOutcome means
// the entry may have been committed: do not assume it failed (it may come
// together with ErrShutdown). Otherwise ErrNoLeader, ErrNotLeader, ErrTimeout
// and ErrShutdown mean nothing was appended.
func (s *Store) Propose(ctx context.Context, c fsm.Command) (uint64, error) {
	data, err := fsm.Encode(c)
	if err != nil {
		return 0, fmt.Errorf("propose: %w", err)
	}
	idx, err := s.route(ctx, rpcRequest{Op: opPropose, Command: data})
	if err != nil {
		return idx, fmt.Errorf("propose command %d: %w", c.Type(), err)
	}
	return idx, nil
}

// applyLocal appends data on this node, which must be the leader, and waits
// until it is applied here.
func (s *Store) applyLocal(ctx context.Context, data []byte) (uint64, error) {
	if err := checkEntry(data); err != nil {
		return 0, err
	}
	timeout := applyTimeoutDefault
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	f := s.raft.Apply(data, timeout)
	if err := waitFuture(ctx, f); err != nil {
		switch {
		case errors.Is(err, ErrUnknownOutcome):
			return 0, err
		case ctx.Err() != nil:
			return 0, fmt.Errorf("%w: %w", ErrUnknownOutcome, ctx.Err())
		case errors.Is(err, ErrShutdown):
			// raft answers ErrRaftShutdown also to committed entries whose
			// FSM apply was cut short by the shutdown.
			return 0, fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
		}
		return 0, err
	}
	res, ok := f.Response().(fsm.Result)
	if !ok {
		return f.Index(), fmt.Errorf("unexpected fsm response %T", f.Response())
	}
	if res.Err != nil {
		return res.Index, fmt.Errorf("%w: %w", ErrRejected, res.Err)
	}
	return res.Index, nil
}

// checkEntry keeps the leader from appending an entry every replica would
// panic on (fsm.ApplyEntry panics on undecodable, non-ignorable entries). An
// unknown command flagged ignorable passes: replicas skip it.
func checkEntry(data []byte) error {
	_, err := fsm.Decode(data)
	if err == nil {
		return nil
	}
	if errors.Is(err, fsm.ErrUnknownCommand) && len(data) > 0 && fsm.CommandType(data[0])&fsm.FlagIgnorable != 0 {
		return nil
	}
	if errors.Is(err, fsm.ErrUnknownCommand) {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return fmt.Errorf("%w: %w: %v", ErrRejected, fsm.ErrInvalidCommand, err)
}

// LinearizableState returns a state that includes every write acknowledged
// before the call (Raft read-index). On the leader: leadership is confirmed
// with VerifyLeader and the local state is returned. On a follower: the
// leader confirms its leadership and returns its applied index, and this
// node waits until it has applied as far. Retries while there is no leader,
// until ctx is done.
func (s *Store) LinearizableState(ctx context.Context) (fsm.State, error) {
	idx, err := s.route(ctx, rpcRequest{Op: opReadIndex})
	if err != nil {
		return fsm.State{}, fmt.Errorf("linearizable read: %w", err)
	}
	if err := s.waitFSM(ctx, idx); err != nil {
		return fsm.State{}, fmt.Errorf("linearizable read: %w", err)
	}
	return s.fsm.State(), nil
}

// readIndexLocal runs on the leader. The index it returns is the FSM's
// (fsm.FSM.AppliedIndex: the last command entry applied), the same measure
// every replica keeps, so a follower can wait for it.
//
// Why this is enough: a write acknowledged before the read was applied on
// the leader that accepted it. If that is this node in its current term, its
// FSM has it. If it came from an earlier leader, this node has it once it
// has applied an entry of its own term: hence the Barrier, once per term.
// VerifyLeader then confirms, after the read arrived, that no newer leader
// can have acknowledged writes this node has not seen.
func (s *Store) readIndexLocal(ctx context.Context) (uint64, error) {
	term := s.raft.CurrentTerm()
	s.readyMu.Lock()
	ready := s.readyTerm == term
	s.readyMu.Unlock()
	if !ready {
		timeout := applyTimeoutDefault
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(dl), time.Millisecond)
		}
		if err := waitFuture(ctx, s.raft.Barrier(timeout)); err != nil {
			return 0, fmt.Errorf("barrier: %w", err)
		}
		if s.raft.CurrentTerm() == term {
			s.readyMu.Lock()
			s.readyTerm = term
			s.readyMu.Unlock()
		}
	}
	if err := waitFuture(ctx, s.raft.VerifyLeader()); err != nil {
		return 0, fmt.Errorf("verify leader: %w", err)
	}
	return s.fsm.AppliedIndex(), nil
}

// waitFSM waits until the local FSM has applied index.
func (s *Store) waitFSM(ctx context.Context, index uint64) error {
	for {
		ch := s.fsm.Changed()
		if s.fsm.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting to apply index %d (at %d): %w", ErrTimeout, index, s.fsm.AppliedIndex(), ctx.Err())
		case <-s.baseCtx.Done():
			return ErrShutdown
		}
	}
}
