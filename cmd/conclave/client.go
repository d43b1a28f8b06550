package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/config"
)

// apiClient talks to one agent's REST API, as patronictl talks to Patroni's.
type apiClient struct {
	base string
	http *http.Client
}

func loadConfig(c *cli.Context) (*config.Config, error) {
	path := c.String("config")
	if path == "" {
		return nil, usageError{fmt.Errorf("no configuration file: pass -c FILE or set CONCLAVE_CONFIG")}
	}
	return config.Load(path)
}

func newAPIClient(cfg *config.Config) *apiClient {
	return &apiClient{base: cfg.APIURL(), http: &http.Client{Timeout: 5 * time.Second}}
}

func (a *apiClient) getJSON(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the agent's REST API at %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: bad JSON: %w", path, err)
	}
	return nil
}

// clusterView is GET /cluster as the CLI reads it.
type clusterView struct {
	Scope            string          `json:"scope"`
	SystemIdentifier string          `json:"system_identifier"`
	Pause            bool            `json:"pause"`
	Members          []clusterMember `json:"members"`
}

type clusterMember struct {
	Name           string         `json:"name"`
	Role           string         `json:"role"`
	State          string         `json:"state"`
	Host           string         `json:"host"`
	Port           int            `json:"port"`
	Timeline       *int           `json:"timeline"`
	Lag            any            `json:"lag"`
	Tags           map[string]any `json:"tags"`
	PendingRestart bool           `json:"pending_restart"`
	Problem        string         `json:"problem"` // why a replica does not stream (Conclave)
}
