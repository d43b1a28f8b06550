package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// FailsafeReceiver takes the leader's failsafe heartbeat. While Raft is
// unavailable and failsafe_mode is on, the leader keeps its role only if
// every member accepts; a member that accepted does not take the leader key
// for a TTL after it (see ha/failsafe.go).
type FailsafeReceiver interface {
	FailsafeHeartbeat(leader string) error
}

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

// failsafeRequest is Patroni's POST /failsafe body; only name is used.
type failsafeRequest struct {
	Name    string `json:"name"`
	APIURL  string `json:"api_url,omitempty"`
	ConnURL string `json:"conn_url,omitempty"`
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
	if err := s.cfg.Failsafe.FailsafeHeartbeat(req.Name); err != nil {
		code, msg = http.StatusInternalServerError, err.Error()
	}
	s.noteFailsafe(req.Name, msg)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, err = io.WriteString(w, msg)
	return err
}
