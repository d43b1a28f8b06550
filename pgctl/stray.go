package pgctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A postmaster without postmaster.pid.
//
// pg_ctl start forks a child that calls setsid() and execs /bin/sh -c
// 'exec postgres -D <dir> …'; the postmaster (same pid) writes
// postmaster.pid only once it has read its configuration. Cancelling pg_ctl
// kills pg_ctl's process group, not that child (its own session), so for a
// moment after a cancelled start a postmaster may be coming up that Stop,
// which goes by postmaster.pid, cannot see; it would then finish recovery
// and accept writes. StrayPostmasters finds such processes by their command
// line (the data directory after -D, in pg_ctl's child before and after
// exec), and KillStrays stops them.

// StrayPostmasters returns the pids of processes that are, or are about
// to become, a postmaster for this data directory: postgres -D <dir>, the
// sh -c wrapper pg_ctl runs it through, and pg_ctl start's own forked child.
func (i *Instance) StrayPostmasters() []int {
	dir := filepath.Clean(i.cfg.DataDir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if startsPostmaster(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), dir) {
			out = append(out, pid)
		}
	}
	return out
}

// startsPostmaster reports whether argv runs or starts a postmaster on dir.
func startsPostmaster(argv []string, dir string) bool {
	if len(argv) == 0 {
		return false
	}
	switch filepath.Base(argv[0]) {
	case "postgres", "postmaster":
		for k := 0; k+1 < len(argv); k++ {
			if argv[k] == "-D" && filepath.Clean(argv[k+1]) == dir {
				return true
			}
		}
	case "sh", "bash", "dash":
		// pg_ctl: /bin/sh -c 'exec "…/postgres" -D "<dir>" …'
		for _, a := range argv[1:] {
			if strings.Contains(a, "postgres") && strings.Contains(a, `-D "`+dir+`"`) {
				return true
			}
		}
	case "pg_ctl":
		// pg_ctl start's forked child before it execs the shell (its
		// parent, in our process group, is killed on cancel).
		start := false
		for k, a := range argv {
			if a == "start" {
				start = true
			}
			if start && a == "-D" && k+1 < len(argv) && filepath.Clean(argv[k+1]) == dir {
				return true
			}
		}
	}
	return false
}

// KillStrays sends SIGQUIT (immediate shutdown: the postmaster takes its
// children with it) to every stray postmaster process, then SIGKILL to
// those still there after grace, and returns nil only once none is left.
func (i *Instance) KillStrays(ctx context.Context, grace time.Duration) error {
	pids := i.StrayPostmasters()
	if len(pids) == 0 {
		return nil
	}
	i.logger.Warn("stopping postmaster processes without postmaster.pid", "data_dir", i.cfg.DataDir, "pids", pids)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGQUIT)
	}
	deadline := time.Now().Add(grace)
	killed := false
	for {
		left := i.StrayPostmasters()
		if len(left) == 0 {
			return nil
		}
		if !killed && time.Now().After(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			killed, deadline = true, time.Now().Add(grace)
		} else if killed && time.Now().After(deadline) {
			return fmt.Errorf("postmaster processes %v for %s still alive after SIGKILL", left, i.cfg.DataDir)
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("postmaster processes %v for %s still alive", left, i.cfg.DataDir), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
