package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/agent"
	"github.com/conclave-ha/conclave/config"
)

// The error the agent stops with is a log line (JSON under log.type: json);
// main prints it on stderr only when the log goes to log.dir.
func TestLoggedExit_TheLastErrorIsALogLine(t *testing.T) {
	var buf strings.Builder
	log := hclog.New(&hclog.LoggerOptions{Name: "node1", JSONFormat: true, Output: &buf})
	cfg := &config.Config{}
	err := loggedExit(agent.Config{File: cfg, Logger: log}, errors.New("refusing to continue: system identifier differs"))
	if !errors.As(err, new(alreadyLogged)) || !strings.Contains(buf.String(), `"@message":"agent stopped"`) ||
		!strings.Contains(buf.String(), "system identifier differs") {
		t.Fatalf("err %v, log %q", err, buf.String())
	}
	cfg.Log.Dir = t.TempDir()
	if err := loggedExit(agent.Config{File: cfg, Logger: log}, errors.New("x")); err == nil || errors.As(err, new(alreadyLogged)) {
		t.Fatalf("with log.dir: %v, want printed by main too", err)
	}
	if loggedExit(agent.Config{File: cfg, Logger: log}, nil) != nil {
		t.Fatal("nil error became one")
	}
}
