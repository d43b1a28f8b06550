package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// FailsafeReceiver takes the leader's failsafe heartbeat. While Raft is
// unavailable and failsafe_mode is on, the leader keeps its role only if
// every member accepts; a member that accepted does not take the leader key
// for a TTL after it (see ha/failsafe.go). st is the state the answer is
// decided on (failsafeState).
type FailsafeReceiver interface {
	FailsafeHeartbeat(leader string, st fsm.State) error
}

// FailsafeStateReader is implemented by a Source that can tell whether it
// reaches a Raft leader: the state a failsafe heartbeat is checked against.
type FailsafeStateReader interface {
	// FailsafeState returns a Raft read-index state when this node is in
	// contact with a Raft leader, its local state when it is not (cut off
	// from Raft itself), and an error when it is but the read failed
	// within ctx.
	FailsafeState(ctx context.Context) (fsm.State, error)
}

// failsafeReadWait bounds the fresh read behind a heartbeat answer. The
// holder sends its heartbeats 300 ms before its trust runs out (ha's
// failsafeReserve): an answer later than that is useless to it.
const failsafeReadWait = 200 * time.Millisecond

// failsafeLog is the last heartbeat outcome logged: a leader retries while
// Raft is down, so a refusal is logged once per leader and reason, and
// once more when heartbeats are accepted again.
type failsafeLog struct {
	mu   sync.Mutex
	last string // leader + "\x00" + answer
}

func (s *Server) noteFailsafe(leader, answer string) {
	key := leader + "\x00" + answer
	s.failsafeLog.mu.Lock()
	prev := s.failsafeLog.last
	s.failsafeLog.last = key
	s.failsafeLog.mu.Unlock()
	switch {
	case key == prev || answer == "Accepted" && prev == "":
	case answer == "Accepted":
		s.logger.Info("failsafe heartbeat accepted again", "leader", leader)
	default:
		s.logger.Warn("failsafe heartbeat refused", "leader", leader, "reason", answer)
	}
}

// failsafeRequest is Patroni's POST /failsafe body plus Members.
type failsafeRequest struct {
	Name    string `json:"name"`
	APIURL  string `json:"api_url,omitempty"`
	ConnURL string `json:"conn_url,omitempty"`
	// Members are the members the sender asked in this round, this one
	// included (Conclave's field; absent from an older agent: none).
	Members []string `json:"members,omitempty"`
}

// errFailsafeOff answers 502 as Patroni does when failsafe_mode is off.
var errFailsafeOff = errors.New("failsafe_mode is not enabled")

// failsafe answers as Patroni's do_POST_failsafe: 200 "Accepted", 500 with
// the reason as plain text when this member refuses the heartbeat, 502 when
// failsafe_mode is off (or this server has no receiver).
// Refusing is always safe: the leader then stops trusting its lease.
func (s *Server) failsafe(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Failsafe == nil || !dynamicConfig(s.cfg.Source.Cluster().Config).FailsafeMode {
		return errFailsafeOff
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	var req failsafeRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Name == "" {
		return fmt.Errorf("%w: body must be a JSON object with the leader's \"name\"", errBadRequest)
	}
	code, msg := http.StatusOK, "Accepted"
	if err := s.acceptFailsafe(r.Context(), req); err != nil {
		code, msg = http.StatusInternalServerError, err.Error()
	}
	s.noteFailsafe(req.Name, msg)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, err = io.WriteString(w, msg)
	return err
}

// acceptFailsafe decides on a heartbeat: nil accepts it. The state it is
// checked against is fresh when this node reaches a Raft leader, so a
// member added after the sender was cut off is seen (DESIGN "Failsafe
// mode": a sender that did not ask it is refused and fences).
func (s *Server) acceptFailsafe(ctx context.Context, req failsafeRequest) error {
	st, err := s.failsafeState(ctx)
	if err != nil {
		return err
	}
	if !dynamicConfig(st.Config).FailsafeMode {
		return errors.New("failsafe_mode is not enabled in the current state")
	}
	if name := unlistedMember(st, req.Name, req.Members); name != "" {
		return fmt.Errorf("%s did not ask member %s (asked: %s)", req.Name, name, strings.Join(req.Members, ", "))
	}
	return s.cfg.Failsafe.FailsafeHeartbeat(req.Name, st)
}

// failsafeState is the state a heartbeat is answered from: a Raft
// read-index when this node is in contact with a Raft leader (a failed read
// refuses), else the local state (this node is cut off from Raft itself).
func (s *Server) failsafeState(ctx context.Context) (fsm.State, error) {
	fr, ok := s.cfg.Source.(FailsafeStateReader)
	if !ok {
		return s.cfg.Source.Cluster(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, failsafeReadWait)
	defer cancel()
	st, err := fr.FailsafeState(ctx)
	if err != nil {
		return fsm.State{}, fmt.Errorf("no fresh read of the Raft state: %w", err)
	}
	return st, nil
}

// unlistedMember returns a member of st that is neither the sender nor in
// asked ("" when there is none). Such a member may take the key once the
// sender's key expires in its view, and it holds off only for heartbeats it
// accepted itself. An older agent lists nobody: refused.
func unlistedMember(st fsm.State, sender string, asked []string) string {
	return st.MemberNotIn(append([]string{sender}, asked...)...)
}
