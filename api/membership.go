package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Membership runs `conclave join` and `conclave leave` (POST /members and
// POST /leave, Conclave additions). Writes: they pass the same guard and
// authentication as every other POST.
type Membership interface {
	// Join asks the cluster to add a node: a Raft non-voter that the
	// leader promotes once it caught up.
	Join(ctx context.Context, req JoinRequest) (JoinAnswer, error)
	// Leave starts this member's graceful exit (Member empty or this
	// node's name), or, with Force, evicts a dead member, or the Raft
	// server at Member (HOST:PORT) when no member record names it. With
	// Check it only tells whether the Raft voters that would remain
	// answer, and changes nothing.
	Leave(ctx context.Context, req LeaveRequest) error
}

// JoinRequest is POST /members.
type JoinRequest struct {
	Name     string `json:"name"`
	Scope    string `json:"scope"`
	RaftAddr string `json:"raft_addr"`
}

// JoinAnswer tells the new node where the cluster is and how far its log
// must reach before it may vote (raftstore's catch-up index).
type JoinAnswer struct {
	Servers      []string `json:"servers"`
	CatchUpIndex uint64   `json:"catch_up_index"`
}

// LeaveRequest is POST /leave. Check asks only whether removing the
// member's Raft server keeps a quorum that answers (the CLI asks before it
// switches a primary over; an older agent refuses the unknown field: 400).
type LeaveRequest struct {
	Member string `json:"member,omitempty"`
	Force  bool   `json:"force,omitempty"`
	Check  bool   `json:"check,omitempty"`
}

// Errors a Membership returns, mapped by statusFor: the request is wrong
// (400), or the cluster's state forbids it now (409).
var (
	ErrMembershipInvalid  = errors.New("invalid membership request")
	ErrMembershipConflict = errors.New("membership change refused")
)

const membershipTimeout = 30 * time.Second

// errNoMembership answers 503 on a server without a Membership.
var errNoMembership = errors.New("membership changes are not available on this node")

func (s *Server) postMembers(w http.ResponseWriter, r *http.Request) error {
	var req JoinRequest
	if err := s.membershipRequest(r, &req); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), membershipTimeout)
	defer cancel()
	ans, err := s.cfg.Membership.Join(ctx, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func (s *Server) postLeave(w http.ResponseWriter, r *http.Request) error {
	var req LeaveRequest
	if err := s.membershipRequest(r, &req); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), membershipTimeout)
	defer cancel()
	if err := s.cfg.Membership.Leave(ctx, req); err != nil {
		return err
	}
	if req.Check {
		return writeText(w, http.StatusOK, "the voters that would remain answer")
	}
	if req.Force {
		return writeText(w, http.StatusOK, req.Member+" evicted")
	}
	return writeText(w, http.StatusAccepted, "leaving the cluster")
}

func (s *Server) membershipRequest(r *http.Request, v any) error {
	if s.cfg.Membership == nil {
		return errNoMembership
	}
	return decodeStrict(r, v)
}

// decodeStrict reads one JSON object into v, refusing unknown fields; an
// empty body leaves v as it is.
func decodeStrict(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", errBadRequest, err)
	}
	return nil
}
