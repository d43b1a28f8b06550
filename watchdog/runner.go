package watchdog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/pgctl"
)

// orphanGrace is how long the watchdog keeps running with nothing to guard
// (its data directory or deadline file gone, and no postmaster) before it
// exits by itself. Long enough that a re-clone (data directory moved aside,
// pg_basebackup running) rarely ends it; if it does, the agent's next Arm
// starts a new one.
const orphanGrace = 60 * time.Second

// termWait bounds how long the watchdog waits, after SIGQUIT on SIGTERM, for
// the postmaster to be gone before it exits.
const termWait = 2 * time.Second

// Serve is the watchdog process's body (the hidden `conclave watchdog`
// subcommand): it takes the pid file lock next to deadlineFile and enforces
// the deadline on dataDir's postmaster until ctx ends (SIGTERM) or there is
// nothing left to guard. A second watchdog for the same deadline file
// returns nil at once.
func Serve(ctx context.Context, dataDir, deadlineFile, pgBin string, logger hclog.Logger, opts ...Option) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	deadlineFile, err = filepath.Abs(deadlineFile)
	if err != nil {
		return err
	}
	unlock, err := lockPID(sibling(deadlineFile, ".pid"))
	if errors.Is(err, errRunning) {
		logger.Info("another watchdog already guards this deadline file; exiting", "deadline_file", deadlineFile)
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	logger.Info("watchdog started", "pid", os.Getpid(), "data_dir", dataDir,
		"deadline_file", deadlineFile, "pg_bin", pgBin)
	w := newRunner(dataDir, deadlineFile, logger)
	for _, o := range opts {
		o(w)
	}
	err = w.run(ctx)
	logger.Info("watchdog stopped", "pid", os.Getpid())
	return err
}

// run polls deadlineFile every 25 ms until ctx ends or nothing is left to
// guard, and sends SIGQUIT to the postmaster of dataDir once per arm when the
// deadline passes. When ctx ends while armed, it fences first.
func run(ctx context.Context, dataDir, deadlineFile string, logger hclog.Logger) error {
	return newRunner(dataDir, deadlineFile, logger).run(ctx)
}

func (w *runner) run(ctx context.Context) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if w.check() {
			return nil
		}
		select {
		case <-ctx.Done():
			w.terminate()
			return nil
		case <-t.C:
		}
	}
}

// runner is run's state between polls. Its clock and orphanGrace are
// replaced in tests.
type runner struct {
	dataDir, deadlineFile string
	log                   hclog.Logger
	clock                 func() (Clocks, error)
	orphanGrace           time.Duration

	// fired is the deadline already acted on (0: none), so a lost rewrite
	// to "0" cannot make it fire twice for one arm.
	fired int64
	// noted is the last condition logged, so each is logged once.
	noted string

	// meter measures suspensions; suspended is the suspension seen since
	// armedFor, the deadline it counts against, was first read.
	meter     SuspendMeter
	armedFor  int64
	suspended time.Duration
	// orphanSince is the monotonic time nothing to guard was first seen
	// (0: there is something to guard).
	orphanSince int64
	// onExpire runs once per deadline when it passes (OnExpire); expiredFor
	// is the deadline it last ran for.
	onExpire   func()
	expiredFor int64
}

// Option changes how Serve runs.
type Option func(*runner)

// OnExpire makes the watchdog call fn once per armed deadline when it
// passes, whether or not a postmaster runs, and when it is stopped while
// armed, before the fence: the floating IP is removed this way (package vip)
// when the agent is paused or dead.
func OnExpire(fn func()) Option { return func(w *runner) { w.onExpire = fn } }

// expire runs onExpire once for deadline.
func (w *runner) expire(deadline int64) {
	if w.onExpire == nil || w.expiredFor == deadline {
		return
	}
	w.expiredFor = deadline
	w.onExpire()
}

func newRunner(dataDir, deadlineFile string, logger hclog.Logger) *runner {
	return &runner{dataDir: dataDir, deadlineFile: deadlineFile, log: logger, clock: ReadClocks, orphanGrace: orphanGrace}
}

// note logs msg once until a different condition is noted.
func (w *runner) note(level hclog.Level, key, msg string, args ...any) {
	if w.noted == key {
		return
	}
	w.noted = key
	w.log.Log(level, msg, args...)
}

// check is one poll. It reports true when the watchdog should exit because
// there is nothing left to guard.
//
// Frozen clock. The deadline is a CLOCK_MONOTONIC instant, and
// CLOCK_MONOTONIC stands still while the machine is suspended; the other
// nodes' clocks do not, so after a suspension of S the lease ran out S
// earlier than the monotonic deadline says. Each poll adds the suspension
// since the previous poll (SuspendMeter: CLOCK_BOOTTIME ahead of CLOCK_MONOTONIC) to
// the suspension counted against the current deadline, and fences when it
// exceeds the trust that remained. The suspension seen at the first poll
// after a resume counts against whatever deadline the file holds then, even
// one the agent wrote in the few milliseconds since the resume: that can
// fence needlessly, never too late. A new deadline starts from zero: the
// agent wrote it after the resume, and the agent's own guard accounts for a
// suspension before its renewal.
func (w *runner) check() (exit bool) {
	now, err := w.clock()
	if err != nil {
		w.note(hclog.Error, "clock", "reading the clocks failed", "error", err)
		return false
	}
	slept := w.meter.Observe(now)

	deadline, err := readDeadlineFile(w.deadlineFile)
	if w.orphaned(now, errors.Is(err, os.ErrNotExist)) {
		return true
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		w.note(hclog.Warn, "missing", "deadline file missing; treating as disarmed", "file", w.deadlineFile)
		return false
	case err != nil:
		w.note(hclog.Warn, "garbled", "deadline file unreadable; treating as disarmed", "file", w.deadlineFile, "error", err)
		return false
	case deadline == 0:
		w.note(hclog.Info, "disarmed", "disarmed")
		return false
	case deadline == w.fired:
		return false
	}
	if deadline != w.armedFor {
		w.armedFor, w.suspended = deadline, 0
	}
	w.suspended += slept
	if slept > 0 {
		w.log.Warn("the machine was suspended (CLOCK_BOOTTIME ran ahead of CLOCK_MONOTONIC)",
			"suspended", slept, "fires_in", time.Duration(deadline-now.Mono))
	}
	remaining := time.Duration(deadline - now.Mono)
	if remaining > 0 && w.suspended <= remaining {
		w.note(hclog.Info, "armed", "armed", "fires_in", remaining)
		return false
	}
	if remaining > 0 {
		w.fire(deadline, "the machine was suspended longer than the lease had left",
			"suspended", w.suspended, "remaining", remaining)
	} else {
		w.fire(deadline, "lease deadline passed without renewal", "overdue", -remaining)
	}
	w.expire(deadline) // after the fence: PostgreSQL first
	return false
}

// fire sends SIGQUIT (PostgreSQL's immediate shutdown) to the postmaster and
// disarms. Without a live postmaster it stays armed: a postmaster started
// while the deadline is past (by hand, by a restarted agent before it
// re-armed) is stopped too.
func (w *runner) fire(deadline int64, why string, args ...any) bool {
	pid, reason := postmasterPID(w.dataDir)
	if pid == 0 {
		w.note(hclog.Warn, "expired-idle", why+"; no postmaster to stop", append(args, "data_dir", w.dataDir, "reason", reason)...)
		return false
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil && !errors.Is(err, syscall.ESRCH) {
		w.note(hclog.Error, "kill-failed", why+"; sending SIGQUIT to the postmaster failed", append(args, "pid", pid, "error", err)...)
		return false
	}
	w.noted = "fired"
	w.fired = deadline
	w.log.Error(why+": sent SIGQUIT (immediate shutdown) to the postmaster", append(args, "pid", pid, "data_dir", w.dataDir)...)
	// Disarm, unless the agent armed again meanwhile (its newer deadline
	// must stay). The re-read narrows that race; fired covers a lost write.
	if again, err := readDeadlineFile(w.deadlineFile); err == nil && again == deadline {
		if err := writeDeadlineFile(w.deadlineFile, 0); err != nil {
			w.log.Error("disarming after firing failed", "error", err)
		}
	}
	return true
}

// terminate runs when the watchdog is told to stop (SIGTERM, SIGINT). While
// armed it fences first, whatever the deadline: a SIGTERM while armed means
// the agent is going too (systemd stopping the unit's control group, the
// machine shutting down), nobody will renew the lease or enforce it after
// this process is gone, and a postmaster that got SIGTERM as well would run
// a smart shutdown that keeps its sessions writing for as long as they
// like. A disarmed watchdog (the agent's own clean Stop disarms first) just
// exits.
func (w *runner) terminate() {
	deadline, err := readDeadlineFile(w.deadlineFile)
	if err != nil || deadline == 0 || deadline == w.fired {
		return
	}
	pid, _ := postmasterPID(w.dataDir)
	fired := w.fire(deadline, "stopping while armed")
	w.expire(deadline)
	if !fired {
		return
	}
	end := time.Now().Add(termWait)
	for time.Now().Before(end) {
		if p, _ := postmasterPID(w.dataDir); p != pid {
			return
		}
		time.Sleep(pollInterval)
	}
	w.log.Warn("the postmaster is still running after SIGQUIT; exiting anyway", "pid", pid)
}

// orphaned reports whether there has been nothing to guard for orphanGrace:
// the data directory or the deadline file is gone and no postmaster runs
// (a deleted cluster, a removed node). Without a data directory no
// postmaster of this node's history can start; one made later by a clone or
// initdb belongs to an agent that starts or re-arms its own watchdog.
func (w *runner) orphaned(now Clocks, fileGone bool) bool {
	_, err := os.Stat(w.dataDir)
	dirGone := errors.Is(err, os.ErrNotExist)
	if !dirGone && !fileGone {
		w.orphanSince = 0
		return false
	}
	if pid, _ := postmasterPID(w.dataDir); pid != 0 {
		w.orphanSince = 0
		return false
	}
	if w.orphanSince == 0 {
		w.orphanSince = now.Mono
		return false
	}
	if time.Duration(now.Mono-w.orphanSince) < w.orphanGrace {
		return false
	}
	w.log.Info("nothing left to guard: exiting", "data_dir", w.dataDir, "data_dir_gone", dirGone,
		"deadline_file", w.deadlineFile, "deadline_file_gone", fileGone, "for", time.Duration(now.Mono-w.orphanSince))
	return true
}

// postmasterPID returns the live postmaster of dataDir, or 0 and why not.
func postmasterPID(dataDir string) (int, string) {
	pid, why := pgctl.LivePostmaster(dataDir)
	if why != "" {
		return 0, why
	}
	return pid, ""
}
