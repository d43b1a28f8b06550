package adapter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
)

// methodRunner: /bin/sh (a method's command) leaves a partial file and
// fails; pg_basebackup creates a valid data directory.
type methodRunner struct {
	dir   string
	calls []string
}

func (r *methodRunner) Run(_ context.Context, _ []string, name string, args ...string) ([]byte, []byte, error) {
	r.calls = append(r.calls, filepath.Base(name)+" "+strings.Join(args, " "))
	switch filepath.Base(name) {
	case "sh":
		os.WriteFile(filepath.Join(r.dir, "partial"), nil, 0o600)
		return nil, []byte("ERROR: [075]: no backup set found to restore"), errors.New("exit status 75")
	case "pg_basebackup":
		os.MkdirAll(filepath.Join(r.dir, "global"), 0o700)
		os.WriteFile(filepath.Join(r.dir, "PG_VERSION"), []byte("15\n"), 0o600)
		os.WriteFile(filepath.Join(r.dir, "global", "pg_control"), nil, 0o600)
	}
	return nil, nil, nil
}

func TestClone_FailingMethodFallsBack_LeftoversMovedAsideNotDeleted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r := &methodRunner{dir: dir}
	cfg := testConfig(dir, "4MB")
	cfg.Scope = "demo"
	cfg.PostgreSQL.ReplicaMethods = []config.ReplicaMethod{
		{Name: "pgbackrest", Command: "pgbackrest --stanza=demo --delta restore", KeepData: true, NoParams: true},
		{Name: "basebackup"},
	}
	p, err := newWithRunner(cfg, func() fsm.DynamicConfig { return fsm.DynamicConfig{} }, hclog.NewNullLogger(), r)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Clone(context.Background(), fsm.Member{Name: "n1", Host: "10.0.0.1", Port: 5432}); err != nil {
		t.Fatalf("clone: %v (calls %q)", err, r.calls)
	}
	if len(r.calls) != 2 || !strings.HasPrefix(r.calls[0], "sh -c pgbackrest --stanza=demo --delta restore \"$@\" sh") ||
		!strings.HasPrefix(r.calls[1], "pg_basebackup ") {
		t.Fatalf("calls %q", r.calls)
	}
	if _, err := os.Stat(filepath.Join(dir, "standby.signal")); err != nil {
		t.Fatalf("the clone is not marked a standby: %v", err)
	}
	aside, _ := filepath.Glob(dir + ".before-basebackup-*")
	if len(aside) != 1 {
		t.Fatalf("moved-aside directories: %q", aside)
	}
	if _, err := os.Stat(filepath.Join(aside[0], "partial")); err != nil {
		t.Fatalf("what the failed method left was not kept: %v", err)
	}
}

func TestClone_NoLeader_RunsOnlyNoLeaderMethods(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r := &methodRunner{dir: dir}
	cfg := testConfig(dir, "4MB")
	cfg.PostgreSQL.ReplicaMethods = []config.ReplicaMethod{{Name: "basebackup"}}
	p, err := newWithRunner(cfg, func() fsm.DynamicConfig { return fsm.DynamicConfig{} }, hclog.NewNullLogger(), r)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Clone(context.Background(), fsm.Member{})
	if err == nil || !strings.Contains(err.Error(), "no_leader") || len(r.calls) != 0 {
		t.Fatalf("got %v, calls %q", err, r.calls)
	}
}

func TestServerConfig_DynamicRecoveryConf_OnStandbysOnly_NoTargets(t *testing.T) {
	cfg := testConfig(t.TempDir(), "4MB")
	dyn := fsm.DynamicConfig{RecoveryConf: map[string]any{"restore_command": "pgbackrest --stanza=s archive-get %f \"%p\"", "recovery_target_time": "2026-12-01"}}
	p, err := newWithRunner(cfg, func() fsm.DynamicConfig { return dyn }, hclog.NewNullLogger(), &methodRunner{})
	if err != nil {
		t.Fatal(err)
	}
	standby := p.serverConfig(cfg, &fsm.Member{Name: "n1", Host: "h", Port: 5432})
	if standby.Parameters["restore_command"] != dyn.RecoveryConf["restore_command"] {
		t.Errorf("standby restore_command = %v", standby.Parameters["restore_command"])
	}
	if _, ok := standby.Parameters["recovery_target_time"]; ok {
		t.Error("a recovery target was written on a standby")
	}
	if _, ok := p.serverConfig(cfg, nil).Parameters["restore_command"]; ok {
		t.Error("restore_command written on the primary")
	}
}
