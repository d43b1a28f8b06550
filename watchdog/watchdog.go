package watchdog

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/conclave-ha/conclave/config"
)

const (
	deadlineFileName = "watchdog.deadline"
	pidFileName      = "watchdog.pid"
	logFileName      = "watchdog.log"
	pollInterval     = 25 * time.Millisecond
	startTimeout     = 3 * time.Second
)

// vipArgs are the watchdog's arguments for the floating IP it removes when
// it fences (none without a vip: section).
func vipArgs(v config.VIP) []string {
	if !v.Enabled() {
		return nil
	}
	return []string{"--vip", v.Prefix().String(), "--vip-interface", v.Interface}
}

// logArgs makes the watchdog process write watchdog.log as the agent logs
// under log.type: json (one object per line, the shipping keys).
func logArgs(l config.Log) []string {
	if l.Type == "json" {
		return []string{"--log-json"}
	}
	return nil
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

// sibling names a file next to the deadline file: watchdog.deadline
// gives watchdog.pid and watchdog.log.
func sibling(deadlineFile, ext string) string {
	return strings.TrimSuffix(deadlineFile, filepath.Ext(deadlineFile)) + ext
}

var errRunning = errors.New("another watchdog holds the pid file")

// lockPID takes an exclusive flock on the pid file for the life of
// this process and writes its pid there. The file is never removed: a stale
// one is recognized by its pid no longer running a watchdog.
func lockPID(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errRunning
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

// Writer is the agent's side: it implements ha.Watchdog by writing the
// deadline file, and keeps the watchdog process running.
type Writer struct {
	dataDir, deadlineFile, pidFile, logFile, pgBin string
	exe                                            string // the conclave binary
	log                                            hclog.Logger
	// extra are more arguments for the watchdog process: the floating IP
	// it removes when the deadline passes (--vip, --vip-interface).
	extra []string
	// ambient are capabilities the watchdog process gets as ambient ones
	// (the agent cleared its own ambient set, vip.DropAmbient, and the
	// watchdog needs CAP_NET_ADMIN to remove the floating IP when it fences).
	ambient []uintptr

	mu sync.Mutex
}

// Start makes sure a watchdog process guards cfg's PostgreSQL data
// directory and returns the writer the ha loop arms. Call it once the Raft
// data directory exists (after raftstore.Open) and before ha.New.
//
// A watchdog left running by a previous agent run is reused. Its pending
// deadline is kept when it still lies ahead: that run trusted its lease until
// then, and PostgreSQL may still be the primary it made. Otherwise the file
// is set to "0" (disarmed) before a new watchdog starts: a fresh agent holds
// no lease until its first renewal arms it, and a deadline left from before
// a reboot means nothing on this boot's clock.
//
// ambient are capabilities the watchdog process starts with as ambient ones
// (they must be in the agent's permitted and inheritable sets).
func Start(cfg *config.Config, logger hclog.Logger, ambient ...uintptr) (*Writer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("watchdog: locating the conclave binary: %w", err)
	}
	w, err := newWriter(cfg, exe, logger)
	if err != nil {
		return nil, err
	}
	w.ambient = ambient
	if err := w.start(); err != nil {
		return nil, err
	}
	return w, nil
}

func newWriter(cfg *config.Config, exe string, logger hclog.Logger) (*Writer, error) {
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
	return &Writer{
		dataDir:      dataDir,
		deadlineFile: filepath.Join(raftDir, deadlineFileName),
		pidFile:      filepath.Join(raftDir, pidFileName),
		logFile:      filepath.Join(raftDir, logFileName),
		pgBin:        cfg.PostgreSQL.BinDir,
		exe:          exe,
		log:          logger.Named("watchdog"),
		extra:        append(vipArgs(cfg.VIP), logArgs(cfg.Log)...),
	}, nil
}

func (w *Writer) start() error {
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
func (w *Writer) Arm(until time.Time) error {
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
func (w *Writer) Disarm() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := writeDeadlineFile(w.deadlineFile, 0); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	return nil
}

// Stop disarms and ends the watchdog process. The agent calls it after a
// clean shutdown, once PostgreSQL is stopped and there is nothing to fence.
func (w *Writer) Stop() error {
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
func (w *Writer) running() (int, bool) {
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
func (w *Writer) spawn() error {
	logf, err := os.OpenFile(w.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	defer logf.Close()
	args := append([]string{"watchdog", "--data-dir", w.dataDir, "--deadline-file", w.deadlineFile, "--pg-bin", w.pgBin}, w.extra...)
	cmd := exec.Command(w.exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf // stdin is /dev/null
	cmd.Dir = "/"
	// Its own session: no terminal signals, and it outlives the agent.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, AmbientCaps: w.ambient}
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
	deadline := time.After(startTimeout)
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
			return fmt.Errorf("watchdog: process did not take %s within %s; see %s", w.pidFile, startTimeout, w.logFile)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
