package callback

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
)

// Postgres wraps the ha.Postgres the HA loop drives and emits the callback
// events from this one place, after the step succeeded, as Patroni does:
//
//	Bootstrap           on_start primary (Patroni calls it after bootstrap)
//	Start               on_start primary, or on_start replica as a standby;
//	                    on_role_change replica when the last role was primary
//	                    (a hand-over, a rewind after a lost lease: Patroni's follow)
//	Promote             pre_promote before it (may veto); on_role_change primary after
//	Demote              on_role_change replica
//	Stop                before_stop before it; on_stop after
//	StopForHandOver     the same, for a planned switchover's clean stop
//	Rewind, MoveAside   before_stop and on_stop when they stop a running PostgreSQL
//	Fence               on_stop after it stopped a running PostgreSQL; never a
//	                    script before it: a fence must not wait
//	restart in place    before_stop; on_restart once it runs again, instead of
//	                    on_stop and on_start (ha.RestartMarker)
//	Reloaded (SIGHUP)   on_reload
//
// Every other method of ha.Postgres passes through unchanged (embedded);
// the optional ones the loop looks for by type assertion (ha.HandOverStopper,
// ha.Adopter) are forwarded explicitly, since embedding an interface does not
// carry them. The role passed with on_stop and on_reload is the one last
// observed.
type Postgres struct {
	ha.Postgres
	run *Runner

	mu         sync.Mutex
	running    bool // last observation: PostgreSQL runs
	role       Role // last observed role while running
	restarting bool // between BeginRestart and EndRestart
}

// A restart in place is reported as one (ha.RestartMarker).
var _ ha.RestartMarker = (*Postgres)(nil)

// Wrap returns pg with callbacks emitted through run.
func Wrap(pg ha.Postgres, run *Runner) *Postgres {
	return &Postgres{Postgres: pg, run: run, role: Replica}
}

// SetConfig takes the scripts of a reloaded configuration (Runner.SetConfig).
func (p *Postgres) SetConfig(cfg Config) error { return p.run.SetConfig(cfg) }

// PrePromote runs the pre_promote script (ha.Config.PrePromote).
func (p *Postgres) PrePromote(ctx context.Context) error { return p.run.PrePromote(ctx) }

func (p *Postgres) Observe(ctx context.Context) ha.PGStatus {
	st := p.Postgres.Observe(ctx)
	p.mu.Lock()
	p.running = st.Running
	if st.Running {
		p.role = roleOf(st.InRecovery)
	}
	p.mu.Unlock()
	return st
}

func roleOf(inRecovery bool) Role {
	if inRecovery {
		return Replica
	}
	return Primary
}

// set records what a step left behind.
func (p *Postgres) set(running bool, role Role) {
	p.mu.Lock()
	p.running, p.role = running, role
	p.mu.Unlock()
}

// last returns the last known state.
func (p *Postgres) last() (bool, Role) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running, p.role
}

func (p *Postgres) Bootstrap(ctx context.Context) (string, error) {
	id, err := p.Postgres.Bootstrap(ctx)
	if err == nil {
		p.set(true, Primary)
		p.run.Fire(OnStart, Primary)
	}
	return id, err
}

func (p *Postgres) Start(ctx context.Context, follow *fsm.Member) error {
	err := p.Postgres.Start(ctx, follow)
	if err != nil {
		return err
	}
	role := roleOf(follow != nil)
	p.mu.Lock()
	prev, restarting := p.role, p.restarting
	p.running, p.role = true, role
	p.mu.Unlock()
	switch {
	case restarting: // EndRestart emits on_restart
	case prev == Primary && role == Replica:
		p.run.Fire(OnRoleChange, Replica)
	default:
		p.run.Fire(OnStart, role)
	}
	return nil
}

func (p *Postgres) Promote(ctx context.Context) (uint64, error) {
	lsn, err := p.Postgres.Promote(ctx)
	if err == nil {
		p.set(true, Primary)
		p.run.Fire(OnRoleChange, Primary)
	}
	return lsn, err
}

func (p *Postgres) Demote(ctx context.Context, primary *fsm.Member) error {
	err := p.Postgres.Demote(ctx, primary)
	if err == nil {
		p.set(true, Replica)
		p.run.Fire(OnRoleChange, Replica)
	}
	return err
}

func (p *Postgres) Stop(ctx context.Context) error {
	return p.stopping(ctx, func() error { return p.Postgres.Stop(ctx) })
}

func (p *Postgres) Rewind(ctx context.Context, primary fsm.Member) error {
	return p.stopping(ctx, func() error { return p.Postgres.Rewind(ctx, primary) })
}

func (p *Postgres) MoveAside(ctx context.Context) (path string, err error) {
	err = p.stopping(ctx, func() (err error) { path, err = p.Postgres.MoveAside(ctx); return err })
	return path, err
}

// BeginRestart and EndRestart bracket a restart in place
// (ha.RestartMarker): the stop inside runs before_stop but emits no on_stop,
// the start no on_start, and on_restart follows once PostgreSQL runs again,
// as Patroni's restart does.
func (p *Postgres) BeginRestart() {
	p.mu.Lock()
	p.restarting = true
	p.mu.Unlock()
}

func (p *Postgres) EndRestart(ok bool) {
	p.mu.Lock()
	p.restarting = false
	running, role := p.running, p.role
	p.mu.Unlock()
	if ok && running {
		p.run.Fire(OnRestart, role)
	}
}

// stopping runs a step that stops a running PostgreSQL: before_stop first,
// on_stop after (not inside a restart), only when PostgreSQL was running.
func (p *Postgres) stopping(ctx context.Context, step func() error) error {
	wasRunning, role := p.last()
	if wasRunning {
		p.run.BeforeStop(ctx)
	}
	err := step()
	if err == nil && wasRunning {
		p.mu.Lock()
		p.running, p.role = false, role
		restarting := p.restarting
		p.mu.Unlock()
		if !restarting {
			p.run.Fire(OnStop, role)
		}
	}
	return err
}

// Fence runs no script before the immediate shutdown (rule 1 must not wait
// on a script); on_stop follows once when it stopped a running PostgreSQL.
func (p *Postgres) Fence(ctx context.Context) error {
	err := p.Postgres.Fence(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	wasRunning, role := p.running, p.role
	p.running = false
	p.mu.Unlock()
	if wasRunning {
		p.run.Fire(OnStop, role)
	}
	return nil
}

// Reloaded emits on_reload after the agent reloaded PostgreSQL's
// configuration (SIGHUP), when PostgreSQL runs.
func (p *Postgres) Reloaded() {
	if running, role := p.last(); running {
		p.run.Fire(OnReload, role)
	}
}

// The optional steps ha looks for by type assertion must pass through the
// wrapper, or wrapping would silently switch them off (a planned switchover
// failed with "cannot stop for a hand-over" when they did not).
var (
	_ ha.HandOverStopper = (*Postgres)(nil)
	_ ha.Adopter         = (*Postgres)(nil)
)

// errNotSupported: the wrapped adapter lacks an optional step.
var errNotSupported = errors.New("the PostgreSQL adapter does not support this step")

// StopForHandOver is a clean stop for a planned switchover: before_stop
// first and on_stop after, as Stop.
func (p *Postgres) StopForHandOver(ctx context.Context) (lsn uint64, err error) {
	s, ok := p.Postgres.(ha.HandOverStopper)
	if !ok {
		return 0, fmt.Errorf("stop for a hand-over: %w", errNotSupported)
	}
	err = p.stopping(ctx, func() (err error) { lsn, err = s.StopForHandOver(ctx); return err })
	return lsn, err
}

// Adopt passes through: taking over a running server starts nothing.
func (p *Postgres) Adopt(ctx context.Context) error {
	a, ok := p.Postgres.(ha.Adopter)
	if !ok {
		return fmt.Errorf("adopt: %w", errNotSupported)
	}
	return a.Adopt(ctx)
}
