package raftstore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Conclave RPC: on the Raft port, a connection that starts with rpcMagic
// carries one JSON rpcRequest and gets one JSON rpcResponse back, then it is
// closed. Bodies are bounded by maxRPCBody.
const (
	maxRPCBody        = 4 << 20
	rpcDialTimeout    = time.Second
	rpcDefaultTimeout = 10 * time.Second // when ctx has no deadline
	rpcMaxTimeout     = time.Minute
	rpcReadTimeout    = 5 * time.Second // to receive the request
)

// RPC operations.
const (
	opHello     = "hello"
	opPropose   = "propose"
	opJoin      = "join"
	opRemove    = "remove"
	opReadIndex = "read_index"
	// check_remove (removecheck.go): an older leader answers "unknown rpc op".
	opCheckRemove = "check_remove"
)

type rpcRequest struct {
	Op        string       `json:"op"`
	From      string       `json:"from,omitempty"`       // sender's address, for logs
	TimeoutMS int64        `json:"timeout_ms,omitempty"` // server-side budget
	Forwarded bool         `json:"forwarded,omitempty"`  // already forwarded once: do not forward again
	Command   []byte       `json:"command,omitempty"`    // propose: fsm.Encode bytes
	Join      *JoinRequest `json:"join,omitempty"`       // join
	ID        string       `json:"id,omitempty"`         // remove, check_remove
	Replace   string       `json:"replace,omitempty"`    // replace_state: ReplaceRestore or ReplaceForget
	Snapshot  []byte       `json:"snapshot,omitempty"`   // replace_state: a SavedSnapshot file
}

type rpcResponse struct {
	Error   string     `json:"error,omitempty"`
	Code    string     `json:"code,omitempty"`     // our sentinel (errorCodes)
	FSMCode string     `json:"fsm_code,omitempty"` // fsm.ErrorCode of a rejection
	Leader  string     `json:"leader,omitempty"`   // hint: the responder's leader
	Index   uint64     `json:"index,omitempty"`
	Hello   *helloInfo `json:"hello,omitempty"`
	// Snapshot is snapshot_save's SavedSnapshot file.
	Snapshot []byte `json:"snapshot,omitempty"`
}

// helloInfo is what a node tells a prospective peer about itself.
type helloInfo struct {
	Scope    string   `json:"scope"`
	Name     string   `json:"name"`
	ID       string   `json:"id"`
	Servers  []string `json:"servers"`   // its configured set: self ∪ partners, sorted
	HasState bool     `json:"has_state"` // it has Raft state (a formed cluster)
	// WasMember is its Config.WasMember: without state, it lost it.
	WasMember bool   `json:"was_member,omitempty"`
	Leader    string `json:"leader,omitempty"`
	// LastIndex is its last log index; Withholding tells whether it
	// withholds its vote (voteguard.go). The leader promotes a caught-up
	// non-voter from these (voters.go).
	LastIndex   uint64 `json:"last_index,omitempty"`
	Withholding bool   `json:"withholding,omitempty"`
}

// callError is a failed RPC exchange. sent tells whether the request may
// have reached the peer (then the outcome of a write is unknown).
type callError struct {
	addr string
	sent bool
	err  error
}

func (e *callError) Error() string {
	if e.sent {
		return fmt.Sprintf("rpc to %s: no answer: %v", e.addr, e.err)
	}
	return fmt.Sprintf("rpc to %s: %v", e.addr, e.err)
}
func (e *callError) Unwrap() error { return e.err }

// call sends one request to addr and returns its response. Transport
// failures are *callError; an error carried by the response is decoded by
// the caller (decodeErr).
func (s *Store) call(ctx context.Context, addr string, req rpcRequest) (rpcResponse, error) {
	var resp rpcResponse
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > rpcMaxTimeout {
		deadline = time.Now().Add(rpcDefaultTimeout)
	}
	req.From = s.cfg.Addr
	req.TimeoutMS = max(time.Until(deadline).Milliseconds(), 1)

	dctx, cancel := context.WithDeadline(ctx, deadline)
	dctx, cancelDial := context.WithTimeout(dctx, rpcDialTimeout)
	conn, err := s.dial(dctx, addr)
	cancelDial()
	cancel()
	if err != nil {
		return resp, &callError{addr: addr, err: err}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// Leave the server a little time to answer after its own budget ran out.
	_ = conn.SetDeadline(deadline.Add(500 * time.Millisecond))

	body, err := json.Marshal(req)
	if err != nil {
		return resp, &callError{addr: addr, err: err}
	}
	w := bufio.NewWriter(conn)
	_ = w.WriteByte(rpcMagic)
	_, _ = w.Write(body)
	if err := w.Flush(); err != nil {
		return resp, &callError{addr: addr, sent: true, err: err}
	}
	if err := json.NewDecoder(io.LimitReader(conn, maxRPCBody)).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return resp, &callError{addr: addr, sent: true, err: err}
	}
	return resp, nil
}

// serveRPC answers one Conclave RPC connection (the magic byte is still
// unread). Garbage is logged and the connection closed.
func (s *Store) serveRPC(conn net.Conn) {
	defer conn.Close()
	log := s.logger.With("remote", conn.RemoteAddr().String())
	_ = conn.SetDeadline(time.Now().Add(rpcReadTimeout))
	br := bufio.NewReader(io.LimitReader(conn, maxRPCBody+1))
	if b, err := br.ReadByte(); err != nil || b != rpcMagic {
		return
	}
	var req rpcRequest
	if err := json.NewDecoder(br).Decode(&req); err != nil {
		host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		if s.limit.allow("bad-rpc:" + host) {
			log.Warn("bad rpc request", "error", err)
		}
		return
	}
	log = log.With("op", req.Op, "from", req.From)
	// The connection was authenticated before it got here (auth.go).
	timeout := min(max(time.Duration(req.TimeoutMS)*time.Millisecond, 100*time.Millisecond), rpcMaxTimeout)
	_ = conn.SetDeadline(time.Now().Add(timeout + time.Second))
	ctx, cancel := context.WithTimeout(s.baseCtx, timeout)
	resp := s.dispatch(ctx, req)
	cancel()
	if resp.Error != "" {
		log.Debug("rpc failed", "error", resp.Error)
	}
	if err := json.NewEncoder(conn).Encode(resp); err != nil {
		log.Debug("rpc reply", "error", err)
	}
}

// dispatch answers a request. Writes (propose, join, remove) and read_index
// run on the leader: a follower forwards them once to its leader, and a
// request already forwarded is refused with ErrNotLeader instead of
// bouncing again.
func (s *Store) dispatch(ctx context.Context, req rpcRequest) rpcResponse {
	var resp rpcResponse
	switch req.Op {
	case opHello:
		resp.Hello = s.hello()
		return resp
	case opSnapshotSave:
		return s.serveSnapshotSave(ctx) // snapshot.go
	}
	h, ok := s.leaderOps()[req.Op]
	if !ok {
		encodeErr(&resp, fmt.Errorf("%w: unknown rpc op %q", ErrRejected, req.Op))
		return resp
	}
	if !s.IsLeader() {
		leader := s.Leader()
		resp.Leader = leader
		switch {
		case s.closing():
			encodeErr(&resp, ErrShutdown)
		case leader == "":
			encodeErr(&resp, ErrNoLeader)
		case req.Forwarded || leader == s.cfg.Addr:
			encodeErr(&resp, fmt.Errorf("%w: leader is %s", ErrNotLeader, leader))
		default:
			req.Forwarded = true
			fwd, err := s.call(ctx, leader, req)
			if err != nil {
				encodeErr(&resp, s.callFailure(err))
				return resp
			}
			return fwd
		}
		return resp
	}
	idx, err := h(ctx, req)
	resp.Index = idx
	resp.Leader = s.cfg.Addr
	encodeErr(&resp, err)
	return resp
}

// callFailure maps a transport failure: a request that may have been
// delivered has an unknown outcome; one that never left is retryable.
func (s *Store) callFailure(err error) error {
	var ce *callError
	if errors.As(err, &ce) && ce.sent {
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
	return fmt.Errorf("%w: %w", ErrNoLeader, err)
}

type leaderOp func(ctx context.Context, req rpcRequest) (uint64, error)

func (s *Store) leaderOps() map[string]leaderOp {
	return map[string]leaderOp{
		opPropose: func(ctx context.Context, req rpcRequest) (uint64, error) {
			return s.applyLocal(ctx, req.Command)
		},
		opJoin: func(ctx context.Context, req rpcRequest) (uint64, error) {
			if req.Join == nil {
				return 0, fmt.Errorf("%w: join: empty request", ErrRejected)
			}
			return s.joinLocal(ctx, *req.Join)
		},
		opRemove: func(ctx context.Context, req rpcRequest) (uint64, error) {
			return 0, s.removeLocal(ctx, req.ID)
		},
		opCheckRemove: func(ctx context.Context, req rpcRequest) (uint64, error) {
			servers, err := s.configuration(ctx)
			if err != nil {
				return 0, err
			}
			return 0, s.checkRemoveLocal(ctx, servers, raft.ServerID(req.ID))
		},
		opReadIndex: func(ctx context.Context, _ rpcRequest) (uint64, error) {
			return s.readIndexLocal(ctx)
		},
		opReplace: func(ctx context.Context, req rpcRequest) (uint64, error) {
			return 0, s.replaceLocal(ctx, req) // snapshot.go
		},
	}
}

// route runs a leader operation: locally when this node leads, otherwise
// over RPC through the known leader. While there is no leader, or the
// request reached a node that no longer leads, it retries with a small
// backoff until ctx is done. A proposal whose outcome is unknown is never
// retried (see retryable).
func (s *Store) route(ctx context.Context, req rpcRequest) (uint64, error) {
	h := s.leaderOps()[req.Op]
	var last error
	for {
		if s.closing() {
			return 0, ErrShutdown
		}
		var idx uint64
		var err error
		seen := s.leaderKnown()
		if s.IsLeader() {
			idx, err = h(ctx, req)
		} else if leader := s.Leader(); leader == "" || leader == s.cfg.Addr {
			err = ErrNoLeader
		} else {
			var resp rpcResponse
			resp, err = s.call(ctx, leader, req)
			if err != nil {
				err = s.callFailure(err)
			} else {
				idx, err = resp.Index, decodeErr(resp)
			}
		}
		if err == nil || !retryable(req.Op, err) {
			return idx, err
		}
		last = err
		// With no leader known, try again as soon as Raft reports one (a
		// node that just joined learns it from the leader's first entries)
		// rather than after the whole backoff.
		var leaderSeen <-chan struct{}
		if errors.Is(err, ErrNoLeader) {
			leaderSeen = seen
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %w; last: %w", ErrTimeout, ctx.Err(), last)
		case <-leaderSeen:
		case <-time.After(backoff()):
		}
	}
}

// retryable tells whether route may try op again after err. Nothing was
// appended after ErrNotLeader/ErrNoLeader. An unknown outcome is retried
// only for operations that are idempotent (join, remove) or reads; a
// proposal is not, so its caller decides.
func retryable(op string, err error) bool {
	if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) {
		return true
	}
	return op != opPropose && errors.Is(err, ErrUnknownOutcome)
}

// backoff is 50-100 ms with jitter, so retries of several nodes spread
// out; it stays short because an election on a LAN takes about a second.
func backoff() time.Duration {
	return 50*time.Millisecond + rand.N(50*time.Millisecond)
}
