package main

// The software watchdog: the part of safety rule 1 (never two writable
// primaries) that must hold while the agent itself is paused or dead.
//
// The ha loop trusts its lease until sentAt + TTL - FenceMargin and its lease
// guard goroutine fences PostgreSQL (immediate shutdown) at that moment. A
// goroutine cannot act while its process is stopped (SIGSTOP, a long stall)
// or after it died, and PostgreSQL, started detached with pg_ctl, keeps
// accepting writes meanwhile. So the same deadline is also handed to a
// separate process, `conclave watchdog` (hidden subcommand), which enforces
// it on its own:
//
//   - Deadline file protocol. The agent writes (temp file + rename, so a
//     reader sees either the old or the new value, never a torn one) the
//     absolute CLOCK_MONOTONIC deadline in nanoseconds, computed as
//     nowMono + time.Until(until); "0" means disarmed. CLOCK_MONOTONIC is one
//     clock for the whole system, so both processes agree on it, and neither
//     wall clock nor NTP steps matter. Go's own monotonic readings (carried by
//     the lease's time.Time values) are CLOCK_MONOTONIC on Linux, so
//     time.Until(until) is exact. Deadlines mean nothing across a reboot;
//     nothing survives a reboot here either (see startWatchdog).
//   - Every 25 ms the watchdog reads the file. When it is armed, the
//     deadline has passed and the postmaster named by the first line of
//     <data_dir>/postmaster.pid is alive (and, when it can be checked, runs
//     in <data_dir>, so a recycled pid of an unrelated process is left
//     alone), it sends the postmaster SIGQUIT, PostgreSQL's immediate
//     shutdown: every backend exits at once, no checkpoint. It logs that and
//     rewrites the file to "0", so it fires once per arm. It never starts or
//     restarts anything. A missing or garbled file counts as disarmed (logged
//     once); a missing data directory leaves it idle. SIGTERM ends it.
//   - Timing. The agent arms at every renewal with the lease's trust
//     deadline, FenceMargin (750 ms) before any other node may take over, so
//     the watchdog's 25 ms poll plus the signal's delivery fit well inside the
//     margin: by the time another node may be promoted, the old postmaster
//     got SIGQUIT and its backends are gone.
//
// Lifetime. The watchdog runs in its own session (setsid) with its output in
// <raft.data_dir>/watchdog.log, and stays running when the agent stops or
// crashes: a crashed leader's last deadline is still enforced. A new agent
// run finds it through <raft.data_dir>/watchdog.pid (kill(pid, 0) and
// /proc/<pid>/cmdline naming "watchdog" and this deadline file) and reuses
// it; the watchdog also holds an flock on the pid file, so a second one for
// the same file exits at once. On a clean shutdown the ha loop disarms it
// when the leader gives its key back (Loop.Shutdown -> dropLease).
//
// Configuration. Patroni's watchdog: section (mode, device, safety_margin) is
// parsed by package config but not used here: this watchdog is a
// process-level fence, not /dev/watchdog, and it runs in every mode because
// rule 1 depends on it whenever the agent can be paused. Its margin is the
// ha loop's FenceMargin.
//
// Limits. It is a process of the same user on the same machine: a stall of
// the whole machine stalls it too (the others then see the old primary as
// unreachable, which is the same as fenced), and a service manager that kills
// the whole control group on stop (systemd's default KillMode) ends it along
// with the agent.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/pgctl"
)

const (
	watchdogDeadlineFile = "watchdog.deadline"
	watchdogPIDFile      = "watchdog.pid"
	watchdogLogFile      = "watchdog.log"
	watchdogPoll         = 25 * time.Millisecond
	watchdogStartTimeout = 3 * time.Second
)

// watchdogCommand is the hidden `conclave watchdog` subcommand the agent
// starts; see the top of this file.
func watchdogCommand() *cli.Command {
	return &cli.Command{
		Name:   "watchdog",
		Hidden: true,
		Usage:  "fence PostgreSQL (SIGQUIT to the postmaster) when the agent's lease deadline passes; started by the agent",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Required: true, Usage: "PostgreSQL data directory (postmaster.pid)"},
			&cli.StringFlag{Name: "deadline-file", Required: true, Usage: "file the agent writes the CLOCK_MONOTONIC deadline (ns) into; 0 = disarmed"},
			&cli.StringFlag{Name: "pg-bin", Usage: "PostgreSQL bin directory (logged only: the watchdog runs no PostgreSQL program)"},
		},
		Action: func(c *cli.Context) error {
			logger := hclog.New(&hclog.LoggerOptions{
				Name:       "watchdog",
				Level:      hclog.Info,
				Output:     os.Stderr,
				TimeFormat: "2006-01-02T15:04:05.000Z0700",
			})
			// Its own session has no terminal, but a stray SIGHUP must not end it.
			signal.Ignore(syscall.SIGHUP)
			dataDir, err := filepath.Abs(c.String("data-dir"))
			if err != nil {
				return err
			}
			deadlineFile, err := filepath.Abs(c.String("deadline-file"))
			if err != nil {
				return err
			}
			unlock, err := lockWatchdogPID(watchdogSibling(deadlineFile, ".pid"))
			if errors.Is(err, errWatchdogRunning) {
				logger.Info("another watchdog already guards this deadline file; exiting", "deadline_file", deadlineFile)
				return nil
			}
			if err != nil {
				return err
			}
			defer unlock()
			logger.Info("watchdog started", "pid", os.Getpid(), "data_dir", dataDir,
				"deadline_file", deadlineFile, "pg_bin", c.String("pg-bin"))
			err = runWatchdog(c.Context, dataDir, deadlineFile, logger)
			logger.Info("watchdog stopped", "pid", os.Getpid())
			return err
		},
	}
}

// runWatchdog polls deadlineFile every 25 ms until ctx ends and sends SIGQUIT
// to the postmaster of dataDir once per arm when the deadline passes.
func runWatchdog(ctx context.Context, dataDir, deadlineFile string, logger hclog.Logger) error {
	w := &watchdogRunner{dataDir: dataDir, deadlineFile: deadlineFile, log: logger}
	t := time.NewTicker(watchdogPoll)
	defer t.Stop()
	for {
		w.check()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// watchdogRunner is runWatchdog's state between polls.
type watchdogRunner struct {
	dataDir, deadlineFile string
	log                   hclog.Logger
	// fired is the deadline already acted on (0: none), so a lost rewrite
	// to "0" cannot make it fire twice for one arm.
	fired int64
	// noted is the last condition logged, so each is logged once.
	noted string
}

// note logs msg once until a different condition is noted.
func (w *watchdogRunner) note(level hclog.Level, key, msg string, args ...any) {
	if w.noted == key {
		return
	}
	w.noted = key
	w.log.Log(level, msg, args...)
}

func (w *watchdogRunner) check() {
	deadline, err := readDeadlineFile(w.deadlineFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		w.note(hclog.Warn, "missing", "deadline file missing; treating as disarmed", "file", w.deadlineFile)
		return
	case err != nil:
		w.note(hclog.Warn, "garbled", "deadline file unreadable; treating as disarmed", "file", w.deadlineFile, "error", err)
		return
	case deadline == 0:
		w.note(hclog.Info, "disarmed", "disarmed")
		return
	case deadline == w.fired:
		return
	}
	now, err := monoNow()
	if err != nil {
		w.note(hclog.Error, "clock", "reading CLOCK_MONOTONIC failed", "error", err)
		return
	}
	if now < deadline {
		w.note(hclog.Info, "armed", "armed", "fires_in", time.Duration(deadline-now))
		return
	}
	overdue := time.Duration(now - deadline)
	pid, why := postmasterPID(w.dataDir)
	if pid == 0 {
		// Stays armed: a postmaster started while the deadline is past
		// (by hand, by a restarted agent before it re-armed) is stopped too.
		w.note(hclog.Warn, "expired-idle", "lease deadline passed; no postmaster to stop", "data_dir", w.dataDir, "reason", why)
		return
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil && !errors.Is(err, syscall.ESRCH) {
		w.note(hclog.Error, "kill-failed", "lease deadline passed; sending SIGQUIT to the postmaster failed", "pid", pid, "error", err)
		return
	}
	w.noted = "fired"
	w.fired = deadline
	w.log.Error("lease deadline passed without renewal: sent SIGQUIT (immediate shutdown) to the postmaster",
		"pid", pid, "data_dir", w.dataDir, "overdue", overdue)
	// Disarm, unless the agent armed again meanwhile (its newer deadline
	// must stay). The re-read narrows that race; fired covers a lost write.
	if again, err := readDeadlineFile(w.deadlineFile); err == nil && again == deadline {
		if err := writeDeadlineFile(w.deadlineFile, 0); err != nil {
			w.log.Error("disarming after firing failed", "error", err)
		}
	}
}

// postmasterPID returns the live postmaster of dataDir, or 0 and why not.
func postmasterPID(dataDir string) (int, string) {
	pid, why := pgctl.LivePostmaster(dataDir)
	if why != "" {
		return 0, why
	}
	return pid, ""
}

// monoNow reads CLOCK_MONOTONIC in nanoseconds.
func monoNow() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return ts.Nano(), nil
}

// readDeadlineFile returns the deadline stored in path (0 = disarmed).
func readDeadlineFile(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("garbled deadline %q", truncate(string(b), 40))
	}
	if v < 0 {
		return 0, fmt.Errorf("negative deadline %d", v)
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// writeDeadlineFile replaces path with v through a temp file and a rename, so
// readers never see a partial value. There is no fsync: a deadline is
// meaningless after a reboot anyway, and the agent's renewal path must not
// wait on the disk.
func writeDeadlineFile(path string, v int64) error {
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(v, 10)+"\n"), 0o600); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// watchdogSibling names a file next to the deadline file: watchdog.deadline
// gives watchdog.pid and watchdog.log.
func watchdogSibling(deadlineFile, ext string) string {
	return strings.TrimSuffix(deadlineFile, filepath.Ext(deadlineFile)) + ext
}

var errWatchdogRunning = errors.New("another watchdog holds the pid file")

// lockWatchdogPID takes an exclusive flock on the pid file for the life of
// this process and writes its pid there. The file is never removed: a stale
// one is recognized by its pid no longer running a watchdog.
func lockWatchdogPID(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errWatchdogRunning
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// watchdog is the agent's side: it implements ha.Watchdog by writing the
// deadline file, and keeps the watchdog process running.
type watchdog struct {
	dataDir, deadlineFile, pidFile, logFile, pgBin string
	exe                                            string // the conclave binary
	log                                            hclog.Logger

	mu sync.Mutex
}

// startWatchdog makes sure a watchdog process guards cfg's PostgreSQL data
// directory and returns the writer the ha loop arms. Call it once the Raft
// data directory exists (after raftstore.Open) and before ha.New.
//
// A watchdog left running by a previous agent run is reused. Its pending
// deadline is kept when it still lies ahead: that run trusted its lease until
// then, and PostgreSQL may still be the primary it made. Otherwise the file
// is set to "0" (disarmed) before a new watchdog starts: a fresh agent holds
// no lease until its first renewal arms it, and a deadline left from before
// a reboot means nothing on this boot's clock.
func startWatchdog(cfg *config.Config, logger hclog.Logger) (*watchdog, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("watchdog: locating the conclave binary: %w", err)
	}
	w, err := newWatchdog(cfg, exe, logger)
	if err != nil {
		return nil, err
	}
	if err := w.start(); err != nil {
		return nil, err
	}
	return w, nil
}

func newWatchdog(cfg *config.Config, exe string, logger hclog.Logger) (*watchdog, error) {
	if cfg.Raft.DataDir == "" || cfg.PostgreSQL.DataDir == "" {
		return nil, errors.New("watchdog: raft.data_dir and postgresql.data_dir are required")
	}
	raftDir, err := filepath.Abs(cfg.Raft.DataDir)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(cfg.PostgreSQL.DataDir)
	if err != nil {
		return nil, err
	}
	return &watchdog{
		dataDir:      dataDir,
		deadlineFile: filepath.Join(raftDir, watchdogDeadlineFile),
		pidFile:      filepath.Join(raftDir, watchdogPIDFile),
		logFile:      filepath.Join(raftDir, watchdogLogFile),
		pgBin:        cfg.PostgreSQL.BinDir,
		exe:          exe,
		log:          logger.Named("watchdog"),
	}, nil
}

func (w *watchdog) start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pid, ok := w.running(); ok {
		d, err := readDeadlineFile(w.deadlineFile)
		now, cerr := monoNow()
		if err == nil && cerr == nil && d > now {
			w.log.Info("reusing the running watchdog; keeping the previous run's pending lease deadline",
				"pid", pid, "fires_in", time.Duration(d-now))
			return nil
		}
		w.log.Info("reusing the running watchdog", "pid", pid)
		return writeDeadlineFile(w.deadlineFile, 0)
	}
	if err := writeDeadlineFile(w.deadlineFile, 0); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	return w.spawn()
}

// Arm implements ha.Watchdog: PostgreSQL is stopped at until unless armed
// again first. A deadline already past still arms (it fires at once).
func (w *watchdog) Arm(until time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now, err := monoNow()
	if err != nil {
		return err
	}
	d := now + int64(time.Until(until))
	if d <= 0 {
		d = 1 // 0 means disarmed
	}
	if err := writeDeadlineFile(w.deadlineFile, d); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	if _, ok := w.running(); !ok {
		w.log.Warn("the watchdog process is not running; starting it again")
		return w.spawn()
	}
	return nil
}

// Disarm implements ha.Watchdog.
func (w *watchdog) Disarm() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := writeDeadlineFile(w.deadlineFile, 0); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	return nil
}

// Stop disarms and ends the watchdog process. The agent calls it after a
// clean shutdown, once PostgreSQL is stopped and there is nothing to fence.
func (w *watchdog) Stop() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := writeDeadlineFile(w.deadlineFile, 0); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	if pid, ok := w.running(); ok {
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("watchdog: stop pid %d: %w", pid, err)
		}
	}
	return nil
}

// running reports the watchdog process named by the pid file, if it is a
// live watchdog for this deadline file.
func (w *watchdog) running() (int, bool) {
	b, err := os.ReadFile(w.pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, false
	}
	return pid, isWatchdogProcess(pid, w.deadlineFile)
}

// isWatchdogProcess: pid is alive and its command line is a watchdog for
// deadlineFile (a zombie's command line is empty).
func isWatchdogProcess(pid int, deadlineFile string) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	var isWatchdog, forFile bool
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		switch arg {
		case "watchdog":
			isWatchdog = true
		case deadlineFile, "--deadline-file=" + deadlineFile:
			forFile = true
		}
	}
	return isWatchdog && forFile
}

// spawn starts a detached watchdog process and waits until it holds the pid
// file. Call with w.mu held.
func (w *watchdog) spawn() error {
	logf, err := os.OpenFile(w.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(w.exe, "watchdog", "--data-dir", w.dataDir, "--deadline-file", w.deadlineFile, "--pg-bin", w.pgBin)
	cmd.Stdout, cmd.Stderr = logf, logf // stdin is /dev/null
	cmd.Dir = "/"
	// Its own session: no terminal signals, and it outlives the agent.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("watchdog: start %s: %w", w.exe, err)
	}
	exited := make(chan error, 1)
	go func() {
		// Reap it if it ends while this agent runs (then Arm restarts it).
		err := cmd.Wait()
		exited <- err
		w.log.Warn("a watchdog process this agent started exited", "pid", cmd.Process.Pid, "error", err, "log", w.logFile)
	}()
	deadline := time.After(watchdogStartTimeout)
	for {
		if pid, ok := w.running(); ok {
			if pid != cmd.Process.Pid {
				w.log.Info("another watchdog took the pid file first; using it", "pid", pid)
			} else {
				w.log.Info("watchdog started", "pid", pid, "deadline_file", w.deadlineFile, "log", w.logFile)
			}
			return nil
		}
		select {
		case err := <-exited:
			if pid, ok := w.running(); ok {
				w.log.Info("another watchdog took the pid file first; using it", "pid", pid)
				return nil
			}
			return fmt.Errorf("watchdog: process exited at start (%v); see %s", err, w.logFile)
		case <-deadline:
			_ = cmd.Process.Kill()
			return fmt.Errorf("watchdog: process did not take %s within %s; see %s", w.pidFile, watchdogStartTimeout, w.logFile)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
