package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/callback"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/vip"
)

// The service endpoint: the user's callback scripts (package callback) and
// the floating IP (package vip).

func callbackConfig(cfg *config.Config) callback.Config {
	return callback.Config{
		Scope: cfg.Scope, Callbacks: cfg.PostgreSQL.Callbacks,
		PrePromote: cfg.PostgreSQL.PrePromote, BeforeStop: cfg.PostgreSQL.BeforeStop,
	}
}

// newEndpoint builds the callbacks around the adapter and checks what the
// floating IP needs from this host, before anything starts: a bad command
// line, a missing interface or missing capabilities stop the agent at start
// with the key and the file named.
func (a *Agent) newEndpoint() error {
	cc := callbackConfig(a.cfg)
	cc.Logger = a.log
	run, err := callback.New(cc)
	if err != nil {
		return fmt.Errorf("%s: %w", a.cfg.Path, err)
	}
	a.hooks = callback.Wrap(a.pg, run)
	v := a.cfg.VIP
	if !v.Enabled() {
		return nil
	}
	if err := vip.CheckCapabilities(); err != nil {
		return fmt.Errorf("%s: vip: %w", a.cfg.Path, err)
	}
	if err := vip.CheckInterface(v.Interface); err != nil {
		return fmt.Errorf("%s: vip.interface: %w", a.cfg.Path, err)
	}
	had, err := vip.DropAmbient()
	switch {
	case errors.Is(err, vip.ErrAmbientKept):
		a.log.Warn("PostgreSQL and the callback scripts inherit CAP_NET_ADMIN and CAP_NET_RAW", "error", err)
	case err != nil:
		return fmt.Errorf("%s: vip: %w", a.cfg.Path, err)
	case had:
		a.watchdogCaps = vip.NetCaps // the watchdog removes the address when it fences
	}
	a.vip = vip.New(vip.Config{Addr: v.Prefix(), Interface: v.Interface, ArpCount: v.ArpCount, Logger: a.log}, vip.NewNetlink(v.Prefix(), v.Interface))
	return nil
}

// runVIP keeps the floating IP on this node while the loop says it is the
// primary under a trusted lease (ha.Loop.PrimaryUntil); the returned channel
// closes once ctx ended and the address is gone.
func (a *Agent) runVIP(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if a.vip == nil {
		close(done)
		return done
	}
	a.vip.SetUntil(a.loop.PrimaryUntil)
	go func() {
		defer close(done)
		a.vip.Run(ctx)
	}()
	return done
}

// withdrawVIP removes the floating IP before a planned stop of this
// node's primary (ha.Config.Withdraw); nothing to do without a vip: section.
func (a *Agent) withdrawVIP(context.Context) error {
	if a.vip == nil {
		return nil
	}
	return a.vip.Withdraw()
}

// reloadCallbacks takes the scripts of a reloaded file and emits on_reload.
// The floating IP keeps its startup settings until the agent restarts.
func (a *Agent) reloadCallbacks(next *config.Config) {
	if err := a.hooks.SetConfig(callbackConfig(next)); err != nil {
		a.log.Error("SIGHUP: callback scripts not reloaded; keeping the running ones", "error", err)
	}
	a.hooks.Reloaded()
}

// vipStatus is the floating IP for /patroni and the metrics.
func (a *Agent) vipStatus() *api.VIPStatus {
	if a.vip == nil {
		return nil
	}
	return &api.VIPStatus{Address: a.vip.Addr().String(), Interface: a.vip.Interface(), Held: a.vip.Held()}
}
