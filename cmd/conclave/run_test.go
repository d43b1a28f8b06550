package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/agent"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/logfile"
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

// --log-level and --log-json override log.level and log.type.
func TestNewLogger_FlagsOverrideTheFile(t *testing.T) {
	cfg := &config.Config{Name: "node1", Log: config.Log{Level: "WARNING", Dir: t.TempDir(), FileSize: 1 << 20, FileNum: 2}}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("log-level", "", "")
	fs.Bool("log-json", false, "")
	if err := fs.Parse([]string{"--log-level", "DEBUG", "--log-json"}); err != nil {
		t.Fatal(err)
	}
	log, err := newLogger(cli.NewContext(newApp(), fs, nil), cfg)
	if err != nil {
		t.Fatal(err)
	}
	log.Named("ha").Debug("observed", "role", "replica")
	raw, err := os.ReadFile(filepath.Join(cfg.Log.Dir, logfile.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if line := string(raw); !strings.HasPrefix(line, `{"time":`) || !strings.Contains(line, `"level":"debug","logger":"node1.ha","message":"observed"`) {
		t.Fatalf("log.dir has %q, want one JSON debug line", line)
	}
}
