package pgctl

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Runner executes one external program and returns its output. env holds
// extra "KEY=value" entries added to the agent's own environment. Every
// PostgreSQL binary pgctl calls goes through a Runner, so tests can record
// argv with a fake.
type Runner interface {
	Run(ctx context.Context, env []string, name string, args ...string) (stdout, stderr []byte, err error)
}

// ExecRunner runs programs with exec.CommandContext. A non-zero exit is
// returned as an error that carries the last lines of stderr.
type ExecRunner struct {
	Logger hclog.Logger // nil: no logging
}

// stderrTailLines is how many lines of a failed program's stderr go into its error.
const stderrTailLines = 20

// Run implements Runner. The child gets its own process group so a terminal
// signal aimed at the agent does not hit it; cancelling ctx kills that
// group (but not a postmaster that pg_ctl has already detached).
func (r ExecRunner) Run(ctx context.Context, env []string, name string, args ...string) ([]byte, []byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = nil // /dev/null
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On cancel, kill the whole group (pg_rewind's single-user postgres
	// too). A postmaster started by pg_ctl is in its own session, so it
	// is not in this group and survives.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A grandchild that kept our pipes open must not hang us forever.
	cmd.WaitDelay = 5 * time.Second
	if r.Logger != nil {
		r.Logger.Debug("running", "cmd", name, "args", strings.Join(args, " "))
	}
	err := cmd.Run()
	if r.Logger != nil {
		for _, line := range strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n") {
			if line != "" {
				r.Logger.Debug(line, "cmd", name)
			}
		}
	}
	if err != nil {
		if t := tail(stderr.Bytes(), stderrTailLines); t != "" {
			err = fmt.Errorf("%w: %s", err, t)
		}
	}
	return stdout.Bytes(), stderr.Bytes(), err
}

// tail returns the last n non-empty lines of b joined by " | ".
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, " | ")
}
