package watchdog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/conclave-ha/conclave/config"
)

// Environment switches that turn the test binary into a helper process.
const (
	envFakePostmaster = "CONCLAVE_TEST_FAKE_POSTMASTER" // exit 42 on SIGQUIT
	envRunMain        = "CONCLAVE_TEST_RUN_MAIN"        // run the watchdog subcommand, as the conclave binary does
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envFakePostmaster) != "":
		fakePostmasterMain()
	case os.Getenv(envRunMain) != "":
		os.Exit(watchdogCommandMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakePostmasterMain stands in for a postmaster: it exits 42 on SIGQUIT
// (telling that signal apart from any other, with no core dump) and after
// 30 s on its own.
func fakePostmasterMain() {
	quit := make(chan os.Signal, 1)
	signal.Notify(quit, syscall.SIGQUIT)
	fmt.Println("ready")
	select {
	case <-quit:
		os.Exit(42)
	case <-time.After(30 * time.Second):
		os.Exit(0)
	}
}

type fakePM struct {
	pid  int
	done chan error // receives the Wait result
}

// startFakePostmaster starts a fake postmaster in dir (its cwd, as a real
// postmaster's) and writes its pid to dir/postmaster.pid.
func startFakePostmaster(t *testing.T, dir string) *fakePM {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envFakePostmaster+"=1")
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("fake postmaster said %q", line)
	}
	pm := &fakePM{pid: cmd.Process.Pid, done: make(chan error, 1)}
	go func() { pm.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	content := strings.Join([]string{strconv.Itoa(pm.pid), dir, "0", "5432", ""}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return pm
}

// waitQuit fails unless the fake exits from SIGQUIT within d.
func (pm *fakePM) waitQuit(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case err := <-pm.done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 42 {
			t.Fatalf("fake postmaster ended with %v, want exit 42 (SIGQUIT)", err)
		}
		return time.Since(start)
	case <-time.After(d):
		t.Fatalf("fake postmaster still running %s later: no SIGQUIT", d)
	}
	return 0
}

// stillAlive fails if the fake exits within d.
func (pm *fakePM) stillAlive(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-pm.done:
		t.Fatalf("fake postmaster ended (%v); it should have been left alone", err)
	case <-time.After(d):
	}
}

func armIn(t *testing.T, file string, d time.Duration) {
	t.Helper()
	now, err := monoNow()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeDeadlineFile(file, now+int64(d)); err != nil {
		t.Fatal(err)
	}
}

// startRunner runs run in-process until the test ends.
func startRunner(t *testing.T, dataDir, deadlineFile string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- run(ctx, dataDir, deadlineFile, hclog.NewNullLogger()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("run did not stop with its context")
		}
	})
}

func setup(t *testing.T) (dataDir, deadlineFile string) {
	dataDir = t.TempDir()
	deadlineFile = filepath.Join(t.TempDir(), deadlineFileName)
	if err := writeDeadlineFile(deadlineFile, 0); err != nil {
		t.Fatal(err)
	}
	return dataDir, deadlineFile
}

func TestWatchdog_ArmedDeadlinePasses_SendsSIGQUITOnceAndDisarms(t *testing.T) {
	dataDir, file := setup(t)
	pm := startFakePostmaster(t, dataDir)
	startRunner(t, dataDir, file)

	armed := time.Now()
	armIn(t, file, 200*time.Millisecond)
	pm.waitQuit(t, 3*time.Second)
	if took := time.Since(armed); took < 200*time.Millisecond || took > 1500*time.Millisecond {
		t.Fatalf("fired %s after arming with a 200ms deadline", took)
	}
	// Once per arm: a postmaster started afterwards (by a restarted agent
	// that has not armed yet) is left alone until the next arm passes.
	pm2 := startFakePostmaster(t, dataDir)
	pm2.stillAlive(t, 300*time.Millisecond)
	armIn(t, file, 50*time.Millisecond)
	pm2.waitQuit(t, 3*time.Second)
}

func TestWatchdog_ReArmedBeforeDeadline_KeepsPostmaster(t *testing.T) {
	dataDir, file := setup(t)
	pm := startFakePostmaster(t, dataDir)
	startRunner(t, dataDir, file)

	// Renew every 100 ms with a 600 ms deadline (room for a loaded
	// machine), for a second.
	for i := 0; i < 10; i++ {
		armIn(t, file, 600*time.Millisecond)
		pm.stillAlive(t, 100*time.Millisecond)
	}
	// Renewals stop: the last deadline is enforced.
	pm.waitQuit(t, 3*time.Second)
}

func TestWatchdog_Disarmed_KeepsPostmaster(t *testing.T) {
	dataDir, file := setup(t)
	pm := startFakePostmaster(t, dataDir)
	startRunner(t, dataDir, file)

	armIn(t, file, 150*time.Millisecond)
	if err := writeDeadlineFile(file, 0); err != nil {
		t.Fatal(err)
	}
	pm.stillAlive(t, 500*time.Millisecond)
}

func TestWatchdog_GarbledOrMissingFile_KeepsPostmasterAndRecovers(t *testing.T) {
	dataDir, file := setup(t)
	pm := startFakePostmaster(t, dataDir)
	startRunner(t, dataDir, file)

	for _, garbage := range []string{"soon\n", "", "-5\n", "12 34\n"} {
		if err := os.WriteFile(file, []byte(garbage), 0o600); err != nil {
			t.Fatal(err)
		}
		pm.stillAlive(t, 100*time.Millisecond)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	pm.stillAlive(t, 100*time.Millisecond)
	// A valid deadline afterwards is still enforced.
	armIn(t, file, 50*time.Millisecond)
	pm.waitQuit(t, 3*time.Second)
}

func TestWatchdog_PastDeadlineWithoutPostmaster_StaysIdleThenStopsLatePostmaster(t *testing.T) {
	dataDir, file := setup(t)
	startRunner(t, dataDir, file)
	if err := os.RemoveAll(dataDir); err != nil { // no data directory at all
		t.Fatal(err)
	}
	armIn(t, file, -time.Second)
	time.Sleep(100 * time.Millisecond)
	if d, err := readDeadlineFile(file); err != nil || d == 0 {
		t.Fatalf("deadline %d, %v: it stays armed while there is nothing to stop", d, err)
	}
	// A postmaster that appears while the lease is past due is stopped.
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	pm := startFakePostmaster(t, dataDir)
	pm.waitQuit(t, 3*time.Second)
}

func TestWatchdog_RecycledPIDOutsideDataDir_IsNotSignalled(t *testing.T) {
	dataDir, file := setup(t)
	elsewhere := t.TempDir()
	pm := startFakePostmaster(t, elsewhere) // cwd is not dataDir
	if err := os.WriteFile(filepath.Join(dataDir, "postmaster.pid"), []byte(strconv.Itoa(pm.pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startRunner(t, dataDir, file)
	armIn(t, file, -time.Millisecond)
	pm.stillAlive(t, 300*time.Millisecond)
}

// startWriter starts a real detached watchdog process (this test binary
// acting as `conclave watchdog`) for a fresh data directory and returns the
// agent's writer for it.
func startWriter(t *testing.T) (w *Writer, dataDir string) {
	t.Helper()
	t.Setenv(envRunMain, "1")
	raftDir, dataDir := t.TempDir(), t.TempDir()
	cfg := &config.Config{Raft: config.Raft{DataDir: raftDir}, PostgreSQL: config.PostgreSQL{DataDir: dataDir}}
	w, err := Start(cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	pid, ok := w.running()
	if !ok {
		t.Fatal("no watchdog running after Start")
	}
	t.Cleanup(func() {
		if isWatchdogProcess(pid, w.deadlineFile) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return w, dataDir
}

// Arm's deadline is enforced: the postmaster gets SIGQUIT when it passes,
// not before.
func TestWriter_ArmedDeadlinePasses_PostmasterFenced(t *testing.T) {
	w, dataDir := startWriter(t)
	pm := startFakePostmaster(t, dataDir)
	armed := time.Now()
	if err := w.Arm(armed.Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	pm.waitQuit(t, 3*time.Second)
	if took := time.Since(armed); took < 300*time.Millisecond || took > 1500*time.Millisecond {
		t.Fatalf("fenced %s after Arm with a 300ms deadline", took)
	}
}

// Renewing (arming again) before the deadline, and disarming, keep the
// postmaster running.
func TestWriter_RenewedThenDisarmed_PostmasterKept(t *testing.T) {
	w, dataDir := startWriter(t)
	pm := startFakePostmaster(t, dataDir)
	for i := 0; i < 6; i++ {
		if err := w.Arm(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		pm.stillAlive(t, 100*time.Millisecond)
	}
	if err := w.Disarm(); err != nil {
		t.Fatal(err)
	}
	// Past the last deadline: Disarm must have cancelled it.
	pm.stillAlive(t, 1500*time.Millisecond)
}

// Arm without a startable watchdog process says so, and its deadline is
// still in place for a watchdog that comes later.
func TestWriter_ArmWithoutWatchdogProcess_ReportsAndDeadlineStillEnforced(t *testing.T) {
	raftDir, dataDir := t.TempDir(), t.TempDir()
	w, err := newWriter(&config.Config{Raft: config.Raft{DataDir: raftDir}, PostgreSQL: config.PostgreSQL{DataDir: dataDir}},
		"/nonexistent", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Arm(time.Now().Add(300 * time.Millisecond)); err == nil {
		t.Fatal("Arm with an unstartable watchdog returned no error")
	}
	pm := startFakePostmaster(t, dataDir)
	startRunner(t, dataDir, w.deadlineFile)
	pm.waitQuit(t, 3*time.Second)
}

// TestStart_DetachedProcess_FencesReusedAndFencesOnSIGTERMWhileArmed runs the
// watchdog process (this test binary acting as `conclave watchdog`) through Start.
func TestStart_DetachedProcess_FencesReusedAndFencesOnSIGTERMWhileArmed(t *testing.T) {
	t.Setenv(envRunMain, "1")
	raftDir, dataDir := t.TempDir(), t.TempDir()
	cfg := &config.Config{Raft: config.Raft{DataDir: raftDir}, PostgreSQL: config.PostgreSQL{DataDir: dataDir, BinDir: "/usr/lib/postgresql/15/bin"}}
	// A stale armed deadline from "before" must not fence the postmaster
	// after a fresh start.
	if err := writeDeadlineFile(filepath.Join(raftDir, deadlineFileName), 1); err != nil {
		t.Fatal(err)
	}
	pm := startFakePostmaster(t, dataDir)
	w, err := Start(cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	pid, ok := w.running()
	if !ok {
		t.Fatal("no watchdog running after Start")
	}
	t.Cleanup(func() {
		if isWatchdogProcess(pid, w.deadlineFile) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	// Detached: its own session.
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Fatalf("watchdog session %d, want its own (%d)", sid, pid)
	}
	pm.stillAlive(t, 200*time.Millisecond)

	// A second agent start reuses it, and keeps a pending deadline.
	if err := w.Arm(time.Now().Add(400 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	w2, err := Start(cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if pid2, _ := w2.running(); pid2 != pid {
		t.Fatalf("second start runs pid %d, want the first one %d reused", pid2, pid)
	}
	// The previous run's deadline is still enforced, at its time.
	pm.stillAlive(t, 200*time.Millisecond)
	pm.waitQuit(t, 3*time.Second)

	// A second watchdog process for the same file exits at once.
	dup := exec.Command(os.Args[0], "watchdog", "--data-dir", dataDir, "--deadline-file", w.deadlineFile)
	if out, err := dup.CombinedOutput(); err != nil || !strings.Contains(string(out), "another watchdog") {
		t.Fatalf("duplicate watchdog: %v\n%s", err, out)
	}

	// SIGTERM while armed (systemd stopping the whole control group):
	// the postmaster is fenced first, then the watchdog exits.
	pm2 := startFakePostmaster(t, dataDir)
	if err := w.Arm(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	pm2.stillAlive(t, 100*time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	pm2.waitQuit(t, 2*time.Second)
	waitFor(t, 3*time.Second, func() bool { _, ok := w.running(); return !ok }, "the watchdog exits on SIGTERM")
	log, _ := os.ReadFile(w.logFile)
	for _, want := range []string{"watchdog started", "lease deadline passed without renewal: sent SIGQUIT", "stopping while armed: sent SIGQUIT", "watchdog stopped"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("watchdog.log lacks %q:\n%s", want, log)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting until %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// watchdogCommandMain parses the arguments the agent's spawn passes
// (watchdog --data-dir D --deadline-file F [--pg-bin B]) and runs Serve until
// SIGTERM, as cmd/conclave's hidden subcommand does.
func watchdogCommandMain(args []string) int {
	if len(args) == 0 || args[0] != "watchdog" {
		fmt.Fprintf(os.Stderr, "unexpected arguments %q\n", args)
		return 2
	}
	var dataDir, deadlineFile, pgBin string
	for i := 1; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--data-dir":
			dataDir = args[i+1]
		case "--deadline-file":
			deadlineFile = args[i+1]
		case "--pg-bin":
			pgBin = args[i+1]
		}
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "watchdog", Output: os.Stderr})
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Serve(ctx, dataDir, deadlineFile, pgBin, logger); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Under log.type: json the watchdog process logs JSON lines too.
func TestNewWriter_LogTypeJSON_WatchdogLogsJSON(t *testing.T) {
	for typ, want := range map[string]bool{"json": true, "plain": false} {
		w, err := newWriter(&config.Config{Raft: config.Raft{DataDir: t.TempDir()}, PostgreSQL: config.PostgreSQL{DataDir: t.TempDir()},
			Log: config.Log{Type: typ}}, "/bin/conclave", hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(w.extra, "--log-json"); got != want {
			t.Errorf("log.type %s: arguments %v", typ, w.extra)
		}
	}
}
