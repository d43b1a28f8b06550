package pgctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteConfig_PrimaryThenStandby(t *testing.T) {
	i, _ := newTestInstance(t, nil)
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	_ = os.Rename(filepath.Join(dir, "postgresql.conf"), filepath.Join(dir, "postgresql.base.conf"))
	if err := os.WriteFile(filepath.Join(dir, "standby.signal"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sc := ServerConfig{
		Parameters: map[string]any{
			"max_connections":              100,
			"shared_buffers":               "128MB",
			"max_wal_senders":              20,
			"max_replication_slots":        5,
			"wal_level":                    "minimal",
			"hot_standby":                  false,
			"wal_log_hints":                "off",
			"port":                         1,
			"archive_command":              `cp "%p" 'x\y'`,
			"checkpoint_completion_target": 0.9,
			"synchronous_commit":           true,
			"primary_conninfo":             "host=evil",
			"shared_preload_libraries":     []string{"pg_stat_statements", "auto_explain"},
			"ignored_nil":                  nil,
		},
		PgHBA: []string{"local all all trust", "host replication repl 0.0.0.0/0 scram-sha-256"},
	}
	changed, err := i.WriteConfig(sc)
	if err != nil || !changed {
		t.Fatalf("changed %v err %v", changed, err)
	}
	want := `# managed by Conclave; edits are overwritten
include 'postgresql.base.conf'

# enforced by Conclave
hot_standby = on
listen_addresses = '10.0.0.1,127.0.0.1'
max_replication_slots = 10
max_wal_senders = 20
port = 5433
unix_socket_directories = '/run/pg'
wal_level = 'replica'
wal_log_hints = on

# parameters
archive_command = 'cp "%p" ''x\\y'''
checkpoint_completion_target = 0.9
max_connections = 100
shared_buffers = '128MB'
shared_preload_libraries = 'pg_stat_statements,auto_explain'
synchronous_commit = on
`
	if got := readFile(t, filepath.Join(dir, "postgresql.conf")); got != want {
		t.Fatalf("postgresql.conf:\n%s\nwant:\n%s", got, want)
	}
	if got := readFile(t, filepath.Join(dir, "pg_hba.conf")); got != configHeader+"local all all trust\nhost replication repl 0.0.0.0/0 scram-sha-256\n" {
		t.Fatalf("pg_hba.conf = %q", got)
	}
	for _, f := range []string{"postgresql.conf", "pg_hba.conf"} {
		if fi, _ := os.Stat(filepath.Join(dir, f)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode())
		}
	}
	if i.HasStandbySignal() {
		t.Fatal("standby.signal kept for a primary")
	}
	if changed, err := i.WriteConfig(sc); err != nil || changed {
		t.Fatalf("identical rewrite: changed %v err %v", changed, err)
	}

	sc.Parameters["wal_level"] = "logical"
	sc.Standby = &StandbyConfig{
		Primary:  ConnInfo{Host: "10.0.0.2", Port: 5432, User: "repl", Password: "it's"},
		SlotName: "n1",
	}
	if changed, err := i.WriteConfig(sc); err != nil || !changed {
		t.Fatalf("standby: changed %v err %v", changed, err)
	}
	got := readFile(t, filepath.Join(dir, "postgresql.conf"))
	for _, line := range []string{
		`primary_conninfo = 'host=10.0.0.2 port=5432 user=repl password=''it\\''s'' application_name=n1'`,
		"primary_slot_name = 'n1'",
		"recovery_target_timeline = 'latest'",
		"wal_level = 'logical'",
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("missing %q in\n%s", line, got)
		}
	}
	if strings.Contains(got, "evil") {
		t.Error("caller's primary_conninfo leaked through")
	}
	if !i.HasStandbySignal() {
		t.Fatal("standby.signal missing for a standby")
	}
	if changed, _ := i.WriteConfig(sc); changed {
		t.Fatal("identical standby rewrite reported a change")
	}
}

func TestWriteConfig_CallerSocketDirWins_AndBadNamesRejected(t *testing.T) {
	i, _ := newTestInstance(t, func(c *Config) { c.SocketDir = "" })
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	_ = os.Remove(filepath.Join(dir, "postgresql.conf")) // no user file to keep as the base
	if _, err := i.WriteConfig(ServerConfig{Parameters: map[string]any{"unix_socket_directories": "/tmp"}}); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, filepath.Join(dir, "postgresql.conf"))
	if !strings.Contains(got, "unix_socket_directories = '/tmp'\n") || strings.Contains(got, "include") {
		t.Fatalf("got\n%s", got)
	}
	if _, err := i.WriteConfig(ServerConfig{Parameters: map[string]any{"a = 1\nb": 1}}); err == nil {
		t.Fatal("newline in a parameter name accepted")
	}
	if _, err := i.WriteConfig(ServerConfig{Standby: &StandbyConfig{Primary: ConnInfo{Host: "10.0.0.1", Port: 5432}, SlotName: "Bad-Slot"}}); err == nil {
		t.Fatal("invalid slot name accepted")
	}
}

func TestWriteConfig_StandbyFollowingNobody_HasNoPrimaryConninfo(t *testing.T) {
	i, _ := newTestInstance(t, nil)
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	if _, err := i.WriteConfig(ServerConfig{Standby: &StandbyConfig{SlotName: "n2"}}); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, filepath.Join(dir, "postgresql.conf"))
	if strings.Contains(got, "primary_conninfo") || strings.Contains(got, "primary_slot_name") {
		t.Fatalf("standby without a primary got connection settings:\n%s", got)
	}
	if !exists(filepath.Join(dir, "standby.signal")) {
		t.Fatal("standby.signal missing")
	}
}

func TestWriteConfig_RefusesMissingDataDir(t *testing.T) {
	i, _ := newTestInstance(t, nil)
	if _, err := i.WriteConfig(ServerConfig{}); err == nil {
		t.Fatal("want error")
	}
}
