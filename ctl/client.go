package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/conclave-ha/conclave/config"
)

// apiClient talks to one agent's REST API, as patronictl talks to Patroni's.
type apiClient struct {
	base string
	http *http.Client
	auth config.Credentials // restapi.authentication, sent with writes
}

func newAPIClient(cfg *config.Config) *apiClient {
	return &apiClient{base: cfg.APIURL(), http: &http.Client{Timeout: 5 * time.Second, Transport: ctlTransport(cfg)}, auth: cfg.Ctl.Authentication}
}

// apiError is a non-2xx answer: the HTTP status and the body's message.
type apiError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// send makes one request with an optional JSON body and decodes a JSON
// answer into out (when out is non-nil and the body is JSON; a *string gets
// the body as text, for Patroni's plain-text answers). A non-2xx
// answer is an *apiError carrying the body as Patroni words it (plain text
// or a JSON message). Writes carry restapi.authentication when it is set.
func (a *apiClient) send(ctx context.Context, method, path string, in, out any) error {
	_, err := a.exchange(ctx, method, path, nil, in, out)
	return err
}

// exchange is send with extra request headers; it returns the answer's
// headers (edit-config reads the configuration's ETag and sends If-Match).
func (a *apiClient) exchange(ctx context.Context, method, path string, hdr http.Header, in, out any) (http.Header, error) {
	_, h, err := a.request(ctx, method, path, hdr, in, out)
	return h, err
}

// request is exchange that also returns the answer's HTTP status.
func (a *apiClient) request(ctx context.Context, method, path string, hdr http.Header, in, out any) (int, http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet && a.auth.Username != "" {
		req.SetBasicAuth(a.auth.Username, a.auth.Password)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		// No answer at all: askAnyMember may try another member.
		return 0, nil, &reachError{fmt.Errorf("cannot reach the agent's REST API at %s: %w", a.base, err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		msg := string(bytes.TrimSpace(raw))
		var m struct {
			Message string `json:"message"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(raw, &m) == nil && (m.Message != "" || m.Error != "") {
			msg = m.Message + m.Error
		}
		return resp.StatusCode, resp.Header, &apiError{Method: method, Path: path, Status: resp.StatusCode, Message: msg}
	}
	if s, ok := out.(*string); ok {
		*s = string(bytes.TrimSpace(raw))
		return resp.StatusCode, resp.Header, nil
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: bad JSON: %w", method, path, err)
		}
	}
	return resp.StatusCode, resp.Header, nil
}

func (a *apiClient) getJSON(ctx context.Context, path string, out any) error {
	return a.send(ctx, http.MethodGet, path, nil, out)
}

// clusterView is GET /cluster as the CLI reads it.
type clusterView struct {
	Scope               string               `json:"scope"`
	SystemIdentifier    string               `json:"system_identifier"`
	Pause               bool                 `json:"pause"`
	ScheduledSwitchover *scheduledSwitchover `json:"scheduled_switchover"`
	Members             []clusterMember      `json:"members"`
	// RaftServersWithoutMember are Raft servers no member record names (Conclave).
	RaftServersWithoutMember []raftServer `json:"raft_servers_without_member"`
}

type raftServer struct {
	RaftAddr string `json:"raft_addr"`
	RaftRole string `json:"raft_role"`
}

type scheduledSwitchover struct {
	At   string `json:"at"`
	From string `json:"from"`
	To   string `json:"to"`
}

type scheduledRestart struct {
	Schedule        string `json:"schedule"`
	PostgresVersion string `json:"postgres_version"`
}

type clusterMember struct {
	Name           string         `json:"name"`
	Role           string         `json:"role"`
	State          string         `json:"state"`
	APIURL         string         `json:"api_url"`
	Host           string         `json:"host"`
	Port           int            `json:"port"`
	Timeline       *int           `json:"timeline"`
	Lag            any            `json:"lag"`
	Tags           map[string]any `json:"tags"`
	PendingRestart bool           `json:"pending_restart"`
	// ScheduledRestart is set while a restart is scheduled (Patroni's field).
	ScheduledRestart *scheduledRestart `json:"scheduled_restart"`
	Problem          string            `json:"problem"`   // why a replica does not stream (Conclave)
	Takeover         string            `json:"takeover"`  // what taking the member over waits for (Conclave)
	RaftRole         string            `json:"raft_role"` // leader, voter or non-voter (Conclave)
	Version          string            `json:"version"`   // the member's agent version (Conclave)
	Protocol         int               `json:"protocol"`  // its protocol level, 0 when older than the field (Conclave)
}
