package pgctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pollInterval is how often pgctl re-checks a condition it waits for.
const pollInterval = 100 * time.Millisecond

// Initdb creates a new cluster in DataDir, which must be missing or empty
// (else ErrNotEmpty). It runs
//
//	initdb -D DataDir -U <superuser> [--pwfile=<tmp>] [--auth-local=trust --auth-host=scram-sha-256] <flags...>
//
// The --auth defaults are added only when flags hold no --auth* option;
// pg_hba.conf is replaced by WriteConfig before the first start anyway.
// The superuser password, when set, goes through a temporary 0600 file.
// Afterwards postgresql.conf is renamed to postgresql.base.conf, which the
// file written by WriteConfig includes. On failure, what this call created
// is removed.
func (i *Instance) Initdb(ctx context.Context, flags []string) (err error) {
	dir := i.cfg.DataDir
	st, err := i.DataDirState()
	if err != nil {
		return fmt.Errorf("initdb %s: %w", dir, err)
	}
	if st != DataDirMissing && st != DataDirEmpty {
		return fmt.Errorf("initdb %s: %w (state %s); refusing to overwrite it", dir, ErrNotEmpty, st)
	}
	defer func() {
		if err != nil {
			i.cleanupCreated(dir, st)
		}
	}()
	args := []string{"-D", dir, "-U", i.cfg.Superuser.Username}
	if pw := i.cfg.Superuser.Password; pw != "" {
		f, err := os.CreateTemp("", "conclave-pwfile-*")
		if err != nil {
			return fmt.Errorf("initdb %s: pwfile: %w", dir, err)
		}
		defer os.Remove(f.Name())
		_, werr := f.WriteString(pw + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("initdb %s: pwfile: %w", dir, werr)
		}
		args = append(args, "--pwfile="+f.Name())
	}
	hasAuth := false
	for _, f := range flags {
		if strings.HasPrefix(f, "--auth") || strings.HasPrefix(f, "-A") {
			hasAuth = true
		}
	}
	if !hasAuth {
		args = append(args, "--auth-local=trust", "--auth-host=scram-sha-256")
	}
	args = append(args, flags...)
	i.logger.Info("running initdb", "data_dir", dir)
	if _, _, err := i.cfg.Runner.Run(ctx, nil, i.bin("initdb"), args...); err != nil {
		return fmt.Errorf("initdb %s: initdb: %w", dir, err)
	}
	conf := filepath.Join(dir, "postgresql.conf")
	if err := os.Rename(conf, filepath.Join(dir, "postgresql.base.conf")); err != nil {
		return fmt.Errorf("initdb %s: %w", dir, err)
	}
	if err := i.markHBA(); err != nil {
		return fmt.Errorf("initdb %s: %w", dir, err)
	}
	return nil
}

// cleanupCreated undoes a failed initdb or pg_basebackup: it removes dir
// when it did not exist before, or empties it when it was empty.
func (i *Instance) cleanupCreated(dir string, before DataDirState) {
	switch before {
	case DataDirMissing:
		_ = os.RemoveAll(dir)
	case DataDirEmpty:
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// Start runs pg_ctl start -w -t <StartTimeout> -D DataDir -l LogFile. The
// postmaster is detached (pg_ctl puts it in its own session), so it
// outlives the agent. A live postmaster gives ErrAlreadyRunning; a stale
// postmaster.pid is handled by PostgreSQL itself.
func (i *Instance) Start(ctx context.Context) error {
	dir := i.cfg.DataDir
	if pid, alive := i.PostmasterPID(); alive {
		return fmt.Errorf("start %s: %w (pid %d)", dir, ErrAlreadyRunning, pid)
	}
	if st, err := i.DataDirState(); err != nil {
		return fmt.Errorf("start %s: %w", dir, err)
	} else if st != DataDirValid {
		return fmt.Errorf("start %s: data directory is %s", dir, st)
	}
	i.closeConn()
	i.logger.Info("starting postgres", "data_dir", dir)
	_, _, err := i.cfg.Runner.Run(ctx, i.cfg.Env, i.bin("pg_ctl"), "start", "-w",
		"-t", seconds(i.cfg.StartTimeout), "-D", dir, "-l", i.cfg.LogFile)
	if err != nil {
		return fmt.Errorf("start %s: pg_ctl: %w (see %s)", dir, err, i.cfg.LogFile)
	}
	return nil
}

// StopMode is pg_ctl's shutdown mode.
type StopMode int

const (
	StopFast      StopMode = iota // disconnect clients, shutdown checkpoint (the default)
	StopSmart                     // wait for clients to disconnect
	StopImmediate                 // quit without a checkpoint; crash recovery on next start
)

func (m StopMode) String() string {
	switch m {
	case StopSmart:
		return "smart"
	case StopImmediate:
		return "immediate"
	}
	return "fast"
}

// StopOptions tune Stop. Timeout 0 means 60s.
type StopOptions struct {
	Mode    StopMode
	Timeout time.Duration
}

// Stop runs pg_ctl stop -m <mode> -w -t <timeout> and then waits until the
// postmaster's PID is gone (it can outlive postmaster.pid briefly), so
// pg_rewind or Start can follow at once. Stopping a stopped instance is a
// no-op.
func (i *Instance) Stop(ctx context.Context, o StopOptions) error {
	dir := i.cfg.DataDir
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	pid, alive := i.PostmasterPID()
	if !alive {
		return nil
	}
	// Never queue behind a query in flight on our own connection: the lease
	// guard fences through Stop while the HA loop may be stuck in one. A
	// busy connection is dropped by withConn once the server is gone.
	i.closeConnIfIdle()
	i.logger.Info("stopping postgres", "data_dir", dir, "mode", o.Mode.String())
	_, _, err := i.cfg.Runner.Run(ctx, nil, i.bin("pg_ctl"), "stop", "-D", dir,
		"-m", o.Mode.String(), "-w", "-t", seconds(o.Timeout))
	if err != nil {
		if _, alive := i.PostmasterPID(); alive || !i.waitPIDGone(ctx, pid, time.Second) {
			return fmt.Errorf("stop %s: pg_ctl: %w", dir, err)
		}
		return nil
	}
	if !i.waitPIDGone(ctx, pid, o.Timeout) {
		return fmt.Errorf("stop %s: postmaster pid %d still alive after pg_ctl stop", dir, pid)
	}
	return nil
}

// StopEscalating stops fast and, when that fails within timeout, stops
// immediate with another timeout.
func (i *Instance) StopEscalating(ctx context.Context, timeout time.Duration) error {
	err := i.Stop(ctx, StopOptions{Mode: StopFast, Timeout: timeout})
	if err == nil || ctx.Err() != nil {
		return err
	}
	i.logger.Warn("fast shutdown failed; escalating to immediate", "data_dir", i.cfg.DataDir, "error", err)
	if err2 := i.Stop(ctx, StopOptions{Mode: StopImmediate, Timeout: timeout}); err2 != nil {
		return errors.Join(err, err2)
	}
	return nil
}

// waitPIDGone polls until pid is dead; false on timeout or ctx end.
func (i *Instance) waitPIDGone(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval / 4)
	defer tick.Stop()
	for {
		if pid == 0 || processGone(pid, i.cfg.DataDir) != "" {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// Restart stops (fast, escalating to immediate after StartTimeout) and starts.
func (i *Instance) Restart(ctx context.Context) error {
	if err := i.StopEscalating(ctx, i.cfg.StartTimeout); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if err := i.Start(ctx); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return nil
}

// Reload runs pg_ctl reload (SIGHUP), ErrNotRunning if stopped.
func (i *Instance) Reload(ctx context.Context) error {
	dir := i.cfg.DataDir
	if _, alive := i.PostmasterPID(); !alive {
		return fmt.Errorf("reload %s: %w", dir, ErrNotRunning)
	}
	if _, _, err := i.cfg.Runner.Run(ctx, nil, i.bin("pg_ctl"), "reload", "-D", dir); err != nil {
		return fmt.Errorf("reload %s: pg_ctl: %w", dir, err)
	}
	return nil
}

// Promote runs pg_ctl promote -w, polls pg_is_in_recovery() until false
// (deadline StartTimeout), then runs CHECKPOINT so the new timeline is in
// pg_control: pg_rewind against this node needs that.
func (i *Instance) Promote(ctx context.Context) error {
	dir := i.cfg.DataDir
	if _, alive := i.PostmasterPID(); !alive {
		return fmt.Errorf("promote %s: %w", dir, ErrNotRunning)
	}
	i.logger.Info("promoting", "data_dir", dir)
	if _, _, err := i.cfg.Runner.Run(ctx, nil, i.bin("pg_ctl"), "promote", "-w",
		"-t", seconds(i.cfg.StartTimeout), "-D", dir); err != nil {
		return fmt.Errorf("promote %s: pg_ctl: %w", dir, err)
	}
	wctx, cancel := context.WithTimeout(ctx, i.cfg.StartTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		rec, err := i.inRecovery(wctx)
		if err == nil && !rec {
			break
		}
		select {
		case <-wctx.Done():
			if err == nil {
				err = errors.New("still in recovery")
			}
			return fmt.Errorf("promote %s: waiting for end of recovery: %w", dir, err)
		case <-tick.C:
		}
	}
	if err := i.Checkpoint(ctx); err != nil {
		return fmt.Errorf("promote %s: %w", dir, err)
	}
	return nil
}

// seconds renders d for pg_ctl -t, rounding up, at least 1.
func seconds(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(s)
}
