package adapter

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
)

// fakeRunner stands in for PostgreSQL's programs. A pg_ctl subcommand listed
// in block waits until its channel is closed (or ctx ends); every call is
// announced on started.
type fakeRunner struct {
	block   map[string]chan struct{}
	started chan string
	onStop  func() // pg_ctl stop: ends the fake postmaster
	// output answers a program by its base name (pg_controldata…).
	output map[string][]byte
}

func (r *fakeRunner) Run(ctx context.Context, _ []string, name string, args ...string) ([]byte, []byte, error) {
	what := filepath.Base(name)
	if len(args) > 0 {
		what += " " + args[0]
	}
	select {
	case r.started <- what:
	default:
	}
	for sub, ch := range r.block {
		if len(args) > 0 && args[0] == sub && filepath.Base(name) == "pg_ctl" {
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
	}
	if what == "pg_ctl stop" && r.onStop != nil {
		r.onStop()
	}
	return r.output[filepath.Base(name)], nil, nil
}

// newTestAdapter returns an adapter on a data directory that looks valid to
// pgctl, with a live "postmaster" (a sleep process running in it).
func newTestAdapter(t *testing.T, r *fakeRunner) (*Postgres, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "global"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"PG_VERSION", filepath.Join("global", "pg_control")} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("15\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pm := exec.Command("sleep", "60")
	pm.Dir = dir
	if err := pm.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { _ = pm.Process.Kill(); _ = pm.Wait() }) }
	r.onStop = stop
	t.Cleanup(stop)
	pid := strings.Join([]string{strconv.Itoa(pm.Process.Pid), dir, "0", "5432", ""}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(pid), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir, "4MB")
	p, err := newWithRunner(cfg, func() fsm.DynamicConfig { return fsm.DynamicConfig{} }, hclog.NewNullLogger(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !p.PostmasterRunning() {
		t.Fatal("the fake postmaster is not seen as running")
	}
	return p, cfg
}

func testConfig(dataDir, workMem string) *config.Config {
	return &config.Config{
		Name: "node1",
		PostgreSQL: config.PostgreSQL{
			Listen: "127.0.0.1:5432", DataDir: dataDir, BinDir: "/nonexistent/bin", PgCtlTimeout: 1,
			Parameters: map[string]any{"work_mem": workMem},
		},
	}
}

func readConf(t *testing.T, p *Postgres) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.local.Load().PostgreSQL.DataDir, "postgresql.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A SIGHUP reload while the loop is in a slow step waits for that step, and
// then writes the new parameters: two goroutines never write the
// configuration files or drive pg_ctl at the same time.
func TestSetLocalConfig_DuringSlowPromote_WaitsThenRewritesConfig(t *testing.T) {
	release := make(chan struct{})
	r := &fakeRunner{block: map[string]chan struct{}{"promote": release}, started: make(chan string, 16)}
	p, cfg := newTestAdapter(t, r)

	promoted := make(chan error, 1)
	go func() { _, err := p.Promote(context.Background()); promoted <- err }()
	waitStarted(t, r, "pg_ctl promote")

	reloaded := make(chan struct{})
	go func() { p.SetLocalConfig(testConfig(cfg.PostgreSQL.DataDir, "8MB")); close(reloaded) }()
	select {
	case <-reloaded:
		t.Fatal("SetLocalConfig finished while a promote was still running: two writers of PostgreSQL's files")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case <-reloaded:
	case <-time.After(10 * time.Second):
		t.Fatal("SetLocalConfig did not finish after the promote")
	}
	<-promoted
	if conf := readConf(t, p); !strings.Contains(conf, "work_mem = '8MB'") {
		t.Fatalf("postgresql.conf after the reload lacks the new value:\n%s", conf)
	}
}

// Fence must not wait behind a slow step: the lease guard calls it while the
// loop may be blocked in pg_ctl start -w or promote -w.
func TestFence_DuringSlowPromote_StopsAtOnce(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	r := &fakeRunner{block: map[string]chan struct{}{"promote": release}, started: make(chan string, 16)}
	p, _ := newTestAdapter(t, r)

	go func() { _, _ = p.Promote(context.Background()) }()
	waitStarted(t, r, "pg_ctl promote")

	fenced := make(chan error, 1)
	go func() { fenced <- p.Fence(context.Background()) }()
	waitStarted(t, r, "pg_ctl stop")
	select {
	case <-fenced:
	case <-time.After(5 * time.Second):
		t.Fatal("Fence did not return while a promote was running")
	}
}

// Run under -race: every operation against a SIGHUP reload and each other.
func TestOperations_ConcurrentWithReload_NoDataRace(t *testing.T) {
	r := &fakeRunner{started: make(chan string, 1)}
	p, cfg := newTestAdapter(t, r)
	ctx := context.Background()
	primary := fsm.Member{Name: "node2", Host: "127.0.0.2", Port: 5432}
	var wg sync.WaitGroup
	ops := []func(){
		func() { p.SetLocalConfig(testConfig(cfg.PostgreSQL.DataDir, "8MB")) },
		func() { _ = p.Clone(ctx, primary) },
		func() { _ = p.Follow(ctx, primary) },
		func() { _ = p.SetSyncStandbys(ctx, []string{"node2"}, false) },
		func() { _ = p.Rewind(ctx, primary) },
		func() { _ = p.Stop(ctx) },
		func() { _ = p.Fence(ctx) },
		func() { _ = p.Start(ctx, &primary) },
		func() { _ = p.Last() },
	}
	for round := 0; round < 5; round++ {
		for _, op := range ops {
			wg.Add(1)
			go func(op func()) { defer wg.Done(); op() }(op)
		}
	}
	wg.Wait()
}

func waitStarted(t *testing.T, r *fakeRunner, what string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-r.started:
			if got == what {
				return
			}
		case <-timeout:
			t.Fatalf("%q never ran", what)
		}
	}
}
