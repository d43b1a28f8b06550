package pgctl

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestReal_PrimaryReplicaFailoverRewind drives real PostgreSQL binaries:
// initdb, roles, a streaming replica by pg_basebackup, a promotion while the
// old primary still writes (diverged history), then pg_rewind of the old
// primary (stopped uncleanly) as a non-superuser and its return as a
// streaming replica. It runs with PGCTL_REAL=1 or CONCLAVE_REQUIRE_ALL=1
// (make test sets the latter); as root it runs itself again as the postgres
// OS user, since PostgreSQL refuses to run as root.
func TestReal_PrimaryReplicaFailoverRewind(t *testing.T) {
	requireAll := os.Getenv("CONCLAVE_REQUIRE_ALL") == "1"
	if os.Getenv("PGCTL_REAL") != "1" && !requireAll {
		t.Skip("set PGCTL_REAL=1 to run against real PostgreSQL binaries")
	}
	binDir := os.Getenv("PG_BIN")
	if binDir == "" {
		binDir = DefaultBinDir
	}
	for _, b := range []string{"initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "pg_controldata", "postgres"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			if requireAll {
				t.Fatalf("PostgreSQL binary missing (.ci/run installs postgresql-15; or set PG_BIN): %v", err)
			}
			t.Skipf("PostgreSQL binary missing: %v", err)
		}
	}
	if os.Geteuid() == 0 {
		runAsPostgres(t)
		return
	}
	base, err := os.MkdirTemp("", "pgctl-real-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	users := Config{
		Superuser:   Credentials{Username: "postgres", Password: "su pw'"},
		Replication: Credentials{Username: "repl", Password: `re:pl\pw`},
		Rewind:      Credentials{Username: "rewinder", Password: "rw pw"},
	}
	mk := func(name string) *Instance {
		cfg := users
		cfg.Name = name
		cfg.BinDir = binDir
		cfg.DataDir = filepath.Join(base, name)
		cfg.ListenHosts = []string{"127.0.0.1"}
		cfg.Port = freePort(t)
		cfg.SocketDir = filepath.Join(base, "sock-"+name)
		cfg.StartTimeout = 30 * time.Second
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: name, Output: testWriter{t}, Level: hclog.Info})
		if err := os.MkdirAll(cfg.SocketDir, 0o700); err != nil {
			t.Fatal(err)
		}
		i, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	n1, n2 := mk("n1"), mk("n2")
	t.Cleanup(func() {
		for _, i := range []*Instance{n1, n2} {
			_ = i.Stop(context.Background(), StopOptions{Mode: StopImmediate, Timeout: 20 * time.Second})
			_ = i.Close()
			if t.Failed() {
				if b, err := os.ReadFile(i.Config().LogFile); err == nil {
					t.Logf("%s log:\n%s", i.Config().Name, b)
				}
			}
		}
		os.RemoveAll(base)
	})
	hba := []string{
		"local all all trust",
		"host all all 127.0.0.1/32 scram-sha-256",
		"host replication repl 127.0.0.1/32 scram-sha-256",
	}
	params := map[string]any{"shared_buffers": "16MB", "max_connections": 20, "fsync": false}
	primaryOf := func(i *Instance) ConnInfo {
		return ConnInfo{Host: "127.0.0.1", Port: i.Config().Port, User: "repl", Password: users.Replication.Password}
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// n1: initdb, configure, start, roles.
	must("initdb", n1.Initdb(ctx, []string{"--encoding=UTF8"}))
	_, err = n1.WriteConfig(ServerConfig{Parameters: params, PgHBA: hba})
	must("write config n1", err)
	must("start n1", n1.Start(ctx))
	if err := n1.Start(ctx); err == nil {
		t.Fatal("second start succeeded")
	}
	must("create roles", n1.CreateRoles(ctx, map[string]User{"app": {Password: "app", Options: []string{"CREATEDB"}}}))
	must("create roles again", n1.CreateRoles(ctx, nil))
	must("ensure slots", n1.EnsureSlots(ctx, []string{"n2", "gone"}))
	must("ensure slots", n1.EnsureSlots(ctx, []string{"n2"}))
	var nslots int
	must("count slots", n1.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots", nil, &nslots))
	if nslots != 1 {
		t.Fatalf("slots = %d, want 1", nslots)
	}
	must("create table", n1.Exec(ctx, "CREATE TABLE t (id int)"))
	must("insert", n1.Exec(ctx, "INSERT INTO t VALUES ($1)", 1))

	st1, err := n1.Observe(ctx)
	must("observe n1", err)
	cd1, err := n1.ControlData(ctx)
	must("control data n1", err)
	if !st1.Running || st1.InRecovery || st1.Timeline != 1 || st1.SystemID != cd1.SystemID ||
		st1.ServerVersion < 150000 || st1.WALPosition == 0 || st1.PostmasterStartTime.IsZero() {
		t.Fatalf("n1 status %+v (control data %+v)", st1, cd1)
	}
	t.Logf("n1 primary: %+v", st1)

	// n2: clone, configure as standby, start, streaming.
	must("basebackup", n2.Basebackup(ctx, ConnInfo{Host: "127.0.0.1", Port: n1.Config().Port}))
	must("basebackup refuses", func() error {
		if err := n2.Basebackup(ctx, ConnInfo{Host: "127.0.0.1", Port: n1.Config().Port}); err == nil {
			return fmt.Errorf("second basebackup succeeded")
		}
		return nil
	}())
	_, err = n2.WriteConfig(ServerConfig{Parameters: params, PgHBA: hba,
		Standby: &StandbyConfig{Primary: primaryOf(n1), SlotName: "n2"}})
	must("write config n2", err)
	must("start n2", n2.Start(ctx))
	st2 := waitStreaming(t, ctx, n2)
	if st2.SystemID != st1.SystemID || st2.PrimaryConnInfoHost != "127.0.0.1" || st2.Timeline != 1 {
		t.Fatalf("n2 status %+v", st2)
	}
	t.Logf("n2 replica: %+v", st2)
	waitFor(t, ctx, func() error {
		st, err := n1.Observe(ctx)
		if err != nil {
			return err
		}
		if len(st.Replication) != 1 || st.Replication[0].ApplicationName != "n2" ||
			st.Replication[0].State != "streaming" || st.Replication[0].Username != "repl" {
			return fmt.Errorf("replication %+v", st.Replication)
		}
		return nil
	})

	// Failover with a diverged old primary: promote n2 while n1 still
	// writes, then kill n1 uncleanly.
	must("promote n2", n2.Promote(ctx))
	st2, err = n2.Observe(ctx)
	must("observe n2", err)
	if st2.InRecovery || st2.Timeline != 2 {
		t.Fatalf("n2 after promote %+v", st2)
	}
	must("diverging insert", n1.Exec(ctx, "INSERT INTO t SELECT generate_series(100, 2000)"))
	must("stop n1 immediate", n1.Stop(ctx, StopOptions{Mode: StopImmediate, Timeout: 20 * time.Second}))
	if _, alive := n1.PostmasterPID(); alive {
		t.Fatal("n1 alive after stop")
	}
	cd1, err = n1.ControlData(ctx)
	must("control data n1", err)
	if cd1.CleanShutdown() {
		t.Fatalf("n1 unexpectedly clean: %+v", cd1.ClusterState)
	}
	must("insert on n2", n2.Exec(ctx, "INSERT INTO t VALUES (2)"))
	must("ensure slot n1 on n2", n2.EnsureSlots(ctx, []string{"n1"}))

	must("rewind n1", n1.Rewind(ctx, ConnInfo{Host: "127.0.0.1", Port: n2.Config().Port}))
	_, err = n1.WriteConfig(ServerConfig{Parameters: params, PgHBA: hba,
		Standby: &StandbyConfig{Primary: primaryOf(n2), SlotName: "n1"}})
	must("write config n1 standby", err)
	must("start n1 as standby", n1.Start(ctx))
	st1 = waitStreaming(t, ctx, n1)
	if st1.Timeline != 2 {
		t.Fatalf("n1 after rewind %+v", st1)
	}
	var ids string
	waitFor(t, ctx, func() error {
		if err := n1.QueryRow(ctx, "SELECT string_agg(id::text, ',' ORDER BY id) FROM t", nil, &ids); err != nil {
			return err
		}
		if ids != "1,2" {
			return fmt.Errorf("rows on n1 = %s", ids)
		}
		return nil
	})

	must("stop n1", n1.StopEscalating(ctx, 20*time.Second))
	must("stop n2", n2.Stop(ctx, StopOptions{Mode: StopFast, Timeout: 20 * time.Second}))
	for _, i := range []*Instance{n1, n2} {
		if st, err := i.Observe(ctx); err != nil || st.Running {
			t.Fatalf("%s after stop: %+v %v", i.Config().Name, st, err)
		}
	}
}

// runAsPostgres runs the calling test again, in a copy of this test binary
// that the postgres OS user can read, as that user, and fails when it fails
// or skips.
func runAsPostgres(t *testing.T) {
	t.Helper()
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root needs the postgres OS user to run PostgreSQL (apt-get install postgresql-15 creates it): %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pgctl-real-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	copyExe := filepath.Join(dir, "pgctl.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyExe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, copyExe} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("runuser", "-u", "postgres", "--", copyExe,
		"-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=5m")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PGCTL_REAL=1", "TMPDIR="+dir, "HOME="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("as the postgres OS user:\n%s", out)
	if err != nil {
		t.Fatalf("%s as postgres: %v", t.Name(), err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s as postgres did not pass (skipped?)", t.Name())
	}
}

func waitStreaming(t *testing.T, ctx context.Context, i *Instance) Status {
	t.Helper()
	var st Status
	waitFor(t, ctx, func() error {
		var err error
		st, err = i.Observe(ctx)
		if err != nil {
			return err
		}
		if !st.InRecovery || st.WALReceiverStatus != "streaming" || st.ReplayLSN == 0 {
			return fmt.Errorf("not streaming yet: %+v", st)
		}
		return nil
	})
	return st
}

// waitFor polls cond until it returns nil, failing the test at ctx's end.
func waitFor(t *testing.T, ctx context.Context, cond func() error) {
	t.Helper()
	deadline, stop := context.WithTimeout(ctx, 60*time.Second)
	defer stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-deadline.Done():
			t.Fatalf("condition not met: %v", err)
		case <-tick.C:
		}
	}
}

// freePort returns a free loopback port below the kernel's ephemeral range
// (32768 and up) and the integration suite's (15000 and up): initdb runs
// for seconds before PostgreSQL binds it, and a ":0" port was taken by
// another test's outgoing connection meanwhile ("could not bind ... Address
// already in use" in one CI run).
// Each port is handed out once: two instances get theirs before either
// binds it.
func freePort(t *testing.T) int {
	t.Helper()
	const base, span = 10000, 5000
	if nextRealPort == 0 {
		nextRealPort = int(time.Now().UnixNano() % span)
	}
	for range span {
		p := base + nextRealPort%span
		nextRealPort++
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatal("no free loopback port in 10000-14999")
	return 0
}

// nextRealPort is where freePort looks next (offset from 10000).
var nextRealPort int

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
