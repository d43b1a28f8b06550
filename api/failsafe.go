package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// FailsafeReceiver takes the leader's failsafe heartbeat. While Raft is
// unavailable and failsafe_mode is on, the leader keeps its role only if
// every member accepts; a member that accepted does not take the leader key
// for a TTL after it (see ha/failsafe.go).
type FailsafeReceiver interface {
	FailsafeHeartbeat(leader string) error
}

// failsafeRequest is Patroni's POST /failsafe body; only name is used.
type failsafeRequest struct {
	Name    string `json:"name"`
	APIURL  string `json:"api_url,omitempty"`
	ConnURL string `json:"conn_url,omitempty"`
}

func (s *Server) failsafe(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Failsafe == nil {
		return fmt.Errorf("failsafe heartbeats are not accepted by this node")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	var req failsafeRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Name == "" {
		return fmt.Errorf("%w: body must be a JSON object with the leader's \"name\"", errBadRequest)
	}
	if err := s.cfg.Failsafe.FailsafeHeartbeat(req.Name); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = io.WriteString(w, "Accepted")
	return err
}
