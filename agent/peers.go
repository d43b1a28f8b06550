package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
)

// peers sends failsafe heartbeats to the other members' REST APIs
// (POST /failsafe, Patroni's endpoint and body).
type peers struct {
	client        *http.Client
	auth          config.Credentials
	secret, scope string // the member credential (api.MemberToken)
}

func newPeers(cfg *config.Config) *peers {
	return &peers{client: peerClient(cfg), auth: cfg.RestAPI.Authentication, secret: cfg.Raft.Password, scope: cfg.Scope}
}

// Failsafe returns nil only if every member in to accepted the heartbeat.
// The body names every member asked: a member whose state names one more
// refuses (api.acceptFailsafe).
func (p *peers) Failsafe(ctx context.Context, self fsm.Member, to []fsm.Member) error {
	body, err := heartbeatBody(self, to)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(to))
	for i, m := range to {
		wg.Add(1)
		go func(i int, m fsm.Member) {
			defer wg.Done()
			errs[i] = p.post(ctx, m, body)
		}(i, m)
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", to[i].Name, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failsafe heartbeat refused or unanswered: %s", strings.Join(failed, "; "))
	}
	return nil
}

// heartbeatBody is Patroni's POST /failsafe body plus the members asked.
func heartbeatBody(self fsm.Member, to []fsm.Member) ([]byte, error) {
	asked := make([]string, 0, len(to))
	for _, m := range to {
		asked = append(asked, m.Name)
	}
	return json.Marshal(map[string]any{"name": self.Name, "api_url": self.APIURL,
		"conn_url": fmt.Sprintf("postgres://%s:%d/postgres", self.Host, self.Port), "members": asked})
}

func (p *peers) post(ctx context.Context, m fsm.Member, body []byte) error {
	url := strings.TrimSuffix(m.APIURL, "/patroni") + "/failsafe"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.auth.Username != "" {
		req.SetBasicAuth(p.auth.Username, p.auth.Password)
	}
	api.SetMemberToken(req, p.secret, p.scope)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
