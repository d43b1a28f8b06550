package callback

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Action is a callback name, also its first argument.
type Action string

// Patroni's callback actions.
const (
	OnStart      Action = "on_start"
	OnStop       Action = "on_stop"
	OnRestart    Action = "on_restart"
	OnReload     Action = "on_reload"
	OnRoleChange Action = "on_role_change"
)

// Role is the second argument: Patroni 4's role names (3.x sent "master").
type Role string

// Roles passed to callbacks. StandbyLeader belongs to standby clusters,
// which Conclave does not run yet: it is never sent today.
const (
	Primary       Role = "primary"
	Replica       Role = "replica"
	StandbyLeader Role = "standby_leader"
)

// Defaults for Config's timeouts.
const (
	// DefaultTimeout bounds an asynchronous callback; a longer one is killed.
	DefaultTimeout = 60 * time.Second
	// DefaultScriptTimeout bounds pre_promote and before_stop. It stays well
	// inside ha's StepTimeout (2 min), the time the lease is renewed in the
	// background while the loop waits in a promotion.
	DefaultScriptTimeout = 15 * time.Second
)

// ErrVetoed is returned (wrapped) by PrePromote when the script refused the
// promotion: a non-zero exit, a timeout, or a script that could not start.
var ErrVetoed = errors.New("pre_promote vetoed the promotion")

// Config is what the runner runs.
type Config struct {
	Scope string
	// Callbacks maps an action (on_start…) to its command line.
	Callbacks              map[string]string
	PrePromote, BeforeStop string // command lines, "" = none
	Timeout                time.Duration
	ScriptTimeout          time.Duration
	Logger                 hclog.Logger
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ScriptTimeout <= 0 {
		c.ScriptTimeout = DefaultScriptTimeout
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}

// commands are the parsed command lines of one Config.
type commands struct {
	callbacks              map[Action][]string
	prePromote, beforeStop []string
}

// parse splits every command line, naming the config key of a bad one.
func parse(c Config) (commands, error) {
	out := commands{callbacks: map[Action][]string{}}
	names := make([]string, 0, len(c.Callbacks))
	for name := range c.Callbacks {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		argv, err := parseLine("postgresql.callbacks."+name, c.Callbacks[name])
		errs = append(errs, err)
		if len(argv) > 0 {
			out.callbacks[Action(name)] = argv
		}
	}
	var err error
	out.prePromote, err = parseLine("postgresql.pre_promote", c.PrePromote)
	errs = append(errs, err)
	out.beforeStop, err = parseLine("postgresql.before_stop", c.BeforeStop)
	errs = append(errs, err)
	return out, errors.Join(errs...)
}

func parseLine(key, line string) ([]string, error) {
	argv, err := split(line)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot split %q into words: %w", key, line, err)
	}
	return argv, nil
}

// Runner runs the scripts. Asynchronous callbacks run one at a time, as
// Patroni's CallbackExecutor: a new one kills the one still running (with
// its children: each script leads its own process group); on_reload has its
// own slot, so a reload does not cut a role change short and vice versa.
type Runner struct {
	cfg Config
	log hclog.Logger

	mu      sync.Mutex
	cmds    commands
	running map[bool]*exec.Cmd // slot (true = on_reload) -> the script in it
	wg      sync.WaitGroup
}

// New parses the command lines; a bad one is an error naming its key.
func New(cfg Config) (*Runner, error) {
	cfg = cfg.withDefaults()
	cmds, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, log: cfg.Logger.Named("callback"), cmds: cmds, running: map[bool]*exec.Cmd{}}, nil
}

// SetConfig takes the scripts of a reloaded configuration file (SIGHUP).
// An invalid one is refused whole and the running set kept.
func (r *Runner) SetConfig(cfg Config) error {
	cmds, err := parse(cfg.withDefaults())
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.cmds = cmds
	r.mu.Unlock()
	return nil
}

// Fire starts the callback for action, if one is configured, with the
// arguments `action role scope`, and returns at once. A callback still
// running in the same slot is killed first. A script that cannot start or
// fails is logged; nothing waits for it.
func (r *Runner) Fire(action Action, role Role) {
	r.mu.Lock()
	defer r.mu.Unlock()
	argv := r.cmds.callbacks[action]
	if len(argv) == 0 {
		return
	}
	slot := action == OnReload
	if prev := r.running[slot]; prev != nil {
		r.log.Warn("killing the callback still running", "callback", prev.Args, "for", action)
		killGroup(prev)
		r.running[slot] = nil
	}
	args := append(append([]string(nil), argv[1:]...), string(action), string(role), r.cfg.Scope)
	cmd := exec.Command(argv[0], args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := r.output(string(action))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second // a child keeping the output open does not hold Wait
	if err := cmd.Start(); err != nil {
		out.Close()
		r.log.Error("callback failed to start", "callback", cmd.Args, "error", err)
		return
	}
	r.log.Info("callback started", "callback", cmd.Args, "pid", cmd.Process.Pid)
	r.running[slot] = cmd
	r.wg.Add(1)
	go r.wait(cmd, slot, out)
}

// wait reaps a callback, kills it at the timeout, and kills what it left
// behind in its process group.
func (r *Runner) wait(cmd *exec.Cmd, slot bool, out io.Closer) {
	defer r.wg.Done()
	timer := time.AfterFunc(r.cfg.Timeout, func() {
		r.log.Error("callback timed out: killing it", "callback", cmd.Args, "timeout", r.cfg.Timeout)
		killGroup(cmd)
	})
	err := cmd.Wait()
	timer.Stop()
	killGroup(cmd)
	out.Close()
	r.mu.Lock()
	if r.running[slot] == cmd {
		r.running[slot] = nil
	}
	r.mu.Unlock()
	if err != nil {
		r.log.Error("callback failed", "callback", cmd.Args, "error", err)
		return
	}
	r.log.Info("callback finished", "callback", cmd.Args)
}

// Wait blocks until every callback started so far has ended (tests, and
// the agent's shutdown, bounded by the callbacks' timeout).
func (r *Runner) Wait() { r.wg.Wait() }

// killGroup sends SIGKILL to the script's process group (the script and
// every child it did not move elsewhere).
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// HasPrePromote reports whether a pre_promote script is configured.
func (r *Runner) HasPrePromote() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cmds.prePromote) > 0
}

// PrePromote runs postgresql.pre_promote (no arguments, as Patroni) and
// waits for it. nil means promote; an error wrapping ErrVetoed means do not:
// the script exited non-zero, did not finish within ScriptTimeout (it is
// killed), or could not be started.
func (r *Runner) PrePromote(ctx context.Context) error {
	r.mu.Lock()
	argv := r.cmds.prePromote
	r.mu.Unlock()
	if len(argv) == 0 {
		return nil
	}
	if err := r.runSync(ctx, "pre_promote", argv); err != nil {
		return fmt.Errorf("%w: %w", ErrVetoed, err)
	}
	return nil
}

// BeforeStop runs postgresql.before_stop and waits for it; its outcome is
// only logged, the stop goes ahead either way.
func (r *Runner) BeforeStop(ctx context.Context) {
	r.mu.Lock()
	argv := r.cmds.beforeStop
	r.mu.Unlock()
	if len(argv) == 0 {
		return
	}
	if err := r.runSync(ctx, "before_stop", argv); err != nil {
		r.log.Warn("before_stop failed; stopping PostgreSQL anyway", "error", err)
	}
}

// runSync runs argv to its end, killing its process group at ScriptTimeout.
func (r *Runner) runSync(ctx context.Context, name string, argv []string) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { killGroup(cmd); return nil }
	cmd.WaitDelay = time.Second
	out := r.output(name)
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	killGroup(cmd)
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("%s %q did not finish within %v: killed", name, argv, r.cfg.ScriptTimeout)
	case err != nil:
		return fmt.Errorf("%s %q: %w", name, argv, err)
	}
	r.log.Info(name+" finished", "script", argv, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// output logs a script's output line by line.
func (r *Runner) output(name string) io.WriteCloser {
	pr, pw := io.Pipe()
	log := r.log.Named(name)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() { // a constant message: the script's text is a field
			log.Info("callback output", "line", sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw
}
