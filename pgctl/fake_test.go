package pgctl

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// call is one recorded Runner invocation.
type call struct {
	env  []string
	name string
	args []string
}

func (c call) argv() string { return filepath.Base(c.name) + " " + strings.Join(c.args, " ") }

// fakeRunner records argv and lets a test script each call's effect.
type fakeRunner struct {
	mu    sync.Mutex
	calls []call
	do    func(c call) ([]byte, error)
}

func (f *fakeRunner) Run(ctx context.Context, env []string, name string, args ...string) ([]byte, []byte, error) {
	c := call{env: env, name: name, args: args}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.do == nil {
		return nil, nil, nil
	}
	out, err := f.do(c)
	return out, nil, err
}

func (f *fakeRunner) argvs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for _, c := range f.calls {
		s = append(s, c.argv())
	}
	return s
}

// newTestInstance returns an Instance over dir/data with a fake runner.
func newTestInstance(t *testing.T, mod func(*Config)) (*Instance, *fakeRunner) {
	t.Helper()
	fr := &fakeRunner{}
	cfg := Config{
		Name:        "n1",
		DataDir:     filepath.Join(t.TempDir(), "data"),
		BinDir:      "/pg/bin",
		ListenHosts: []string{"10.0.0.1", "127.0.0.1"},
		Port:        5433,
		SocketDir:   "/run/pg",
		Superuser:   Credentials{Username: "postgres", Password: "su-secret"},
		Replication: Credentials{Username: "repl", Password: "re:pl\\pw"},
		Rewind:      Credentials{Username: "rewinder", Password: "rw"},
		Runner:      fr,
	}
	if mod != nil {
		mod(&cfg)
	}
	i, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return i, fr
}

// makeValidDataDir creates the files that make dir look like a cluster.
func makeValidDataDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "global"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"PG_VERSION", "global/pg_control", "postgresql.conf"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("15\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// fakePostmaster starts a process whose cwd is dir and writes its pid to
// dir/postmaster.pid, so PostmasterPID reports it alive. kill ends it.
func fakePostmaster(t *testing.T, dir string) (pid int, kill func()) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = os.Remove(filepath.Join(dir, "postmaster.pid"))
		})
	}
	t.Cleanup(kill)
	pidStr := []byte(strings.Join([]string{strconv.Itoa(cmd.Process.Pid), dir, "0", "5433", ""}, "\n"))
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), pidStr, 0o600); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid, kill
}

// fakeConn is an sqlConn answering a script: QueryRow results by SQL text,
// Exec recorded.
type fakeConn struct {
	sqlConn // nil: unused methods panic
	mu      sync.Mutex
	execs   []string
	rows    map[string][]func(dest ...any) error // consumed in order; the last repeats
}

func (c *fakeConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.execs = append(c.execs, sql)
	return pgconn.CommandTag{}, nil
}

func (c *fakeConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.rows[sql]
	if len(q) == 0 {
		return fakeRow{err: errors.New("unexpected query: " + sql)}
	}
	f := q[0]
	if len(q) > 1 {
		c.rows[sql] = q[1:]
	}
	return fakeRow{scan: f}
}

func (c *fakeConn) Close(ctx context.Context) error { return nil }
func (c *fakeConn) IsClosed() bool                  { return false }

type fakeRow struct {
	scan func(dest ...any) error
	err  error
}

func (r fakeRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.scan(dest...)
}

func boolRow(v bool) func(dest ...any) error {
	return func(dest ...any) error { *dest[0].(*bool) = v; return nil }
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestExecRunner_ErrorCarriesStderrTail(t *testing.T) {
	_, _, err := ExecRunner{}.Run(context.Background(), []string{"X=from-env"}, "sh", "-c", `echo "$X" >&2; exit 3`)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "from-env") {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := (ExecRunner{}).Run(ctx, nil, "sh", "-c", "sleep 30 & sleep 30; wait"); err == nil {
		t.Fatal("cancelled command succeeded")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("cancel did not kill the process group")
	}
}
