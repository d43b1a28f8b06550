package raftstore

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/conclave-ha/conclave/fsm"
)

// Errors returned by Store. Callers branch with errors.Is. A command that
// the FSM refused is returned as ErrRejected wrapping the FSM's own sentinel
// (fsm.ErrLeaderChanged, ...), so errors.Is works for both, on the leader and
// through a follower alike.
var (
	// ErrNotLeader: this node (or the node a request reached) is not the Raft
	// leader. Nothing was enqueued; retrying on the leader is safe.
	ErrNotLeader = errors.New("not the raft leader")
	// ErrNoLeader: no leader is known (election in progress, no quorum, or
	// the cluster is not formed yet). Nothing was enqueued.
	ErrNoLeader = errors.New("no raft leader")
	// ErrShutdown: the local Raft node is shut down (mapped from
	// raft.ErrRaftShutdown). A proposal cut short by the shutdown also
	// carries ErrUnknownOutcome.
	ErrShutdown = errors.New("raft is shut down")
	// ErrTimeout: ctx ended while waiting for a leader, or raft could not
	// enqueue in time (mapped from raft.ErrEnqueueTimeout). Nothing was
	// appended, unless ErrUnknownOutcome is in the chain too.
	ErrTimeout = errors.New("raft operation timed out")
	// ErrUnknownOutcome: the entry may or may not have been committed
	// (leadership lost after it was enqueued, mapped from
	// raft.ErrLeadershipLost; or the forwarded request was sent but its
	// answer never came back; or ctx ended while waiting). Callers must not
	// assume it failed: read the state again before deciding.
	ErrUnknownOutcome = errors.New("outcome unknown: the entry may have been committed")
	// ErrRejected: the request was refused: the FSM rejected the command
	// (wrapped with the FSM sentinel), a join was refused (other scope,
	// ValidateJoin), the shared secret did not match, or removing the last
	// voter was asked.
	ErrRejected = errors.New("rejected")
	// ErrQuorumLoss: removing a voter was refused because a majority of
	// the voters that would remain does not answer (removecheck.go).
	// Nothing was changed.
	ErrQuorumLoss = errors.New("removing this voter would lose the raft quorum")
)

// NothingAppended reports whether a failed Propose certainly appended
// nothing, so its command can never commit: no leader or not the leader
// (also when route gave up waiting for one), and no unknown outcome in the
// chain. Everything else, including a rejection, answers false; the ha
// package counts such a renewal's outcome as unknown.
func (s *Store) NothingAppended(err error) bool {
	return nothingAppended(err)
}

func nothingAppended(err error) bool {
	return err != nil && !errors.Is(err, ErrUnknownOutcome) &&
		(errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader))
}

// mapRaftErr turns hashicorp/raft errors into our sentinels, keeping the
// original in the chain.
func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrShutdown, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// Wire codes of our sentinels (rpcResponse.Code). Stable: only append.
var errorCodes = []struct {
	code string
	err  error
}{
	{"not_leader", ErrNotLeader},
	{"no_leader", ErrNoLeader},
	{"shutdown", ErrShutdown},
	{"timeout", ErrTimeout},
	{"unknown_outcome", ErrUnknownOutcome},
	{"rejected", ErrRejected},
	{"quorum_loss", ErrQuorumLoss},
}

func errorCode(err error) string {
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return ""
}

// remoteError is an error received from another node: its message as sent,
// and the sentinels rebuilt from the codes so that errors.Is works.
type remoteError struct {
	msg     string
	wrapped []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.wrapped }

// encodeErr fills the error fields of a response.
func encodeErr(resp *rpcResponse, err error) {
	if err == nil {
		return
	}
	resp.Error = err.Error()
	resp.Code = errorCode(err)
	resp.FSMCode = fsm.ErrorCode(err)
}

// decodeErr rebuilds the error of a response; nil when it carries none.
func decodeErr(resp rpcResponse) error {
	if resp.Error == "" && resp.Code == "" && resp.FSMCode == "" {
		return nil
	}
	e := &remoteError{msg: resp.Error}
	if e.msg == "" {
		e.msg = "remote error " + resp.Code + " " + resp.FSMCode
	}
	for _, c := range errorCodes {
		if c.code == resp.Code {
			e.wrapped = append(e.wrapped, c.err)
		}
	}
	if resp.FSMCode != "" {
		e.wrapped = append(e.wrapped, fsm.ErrorFromCode(resp.FSMCode, resp.Error))
	}
	return e
}
