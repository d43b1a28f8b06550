package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-ha/conclave/adapter"
	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/watchdog"
)

// Config is what one node needs.
type Config struct {
	File    *config.Config // the parsed configuration file
	Logger  hclog.Logger   // the root logger
	Version string         // reported in the member record and the REST API
}

// The HA loop counts a failed renewal as an unknown outcome unless the
// store says nothing was appended (ha.AppendReporter).
var _ ha.AppendReporter = (*raftstore.Store)(nil)

// Agent holds the running parts, started in order and stopped in reverse.
type Agent struct {
	cfg     *config.Config
	log     hclog.Logger
	version string
	store   *raftstore.Store
	pg      *adapter.Postgres
	loop    *ha.Loop

	mu      sync.Mutex
	dynamic fsm.DynamicConfig
}

// New builds the node's PostgreSQL adapter from cfg; Run starts the rest.
func New(c Config) (*Agent, error) {
	cfg, logger := c.File, c.Logger
	a := &Agent{cfg: cfg, log: logger, version: c.Version}
	boot, err := cfg.Dynamic()
	if err != nil {
		return nil, fmt.Errorf("%s: bootstrap.dcs: %w", cfg.Path, err)
	}
	a.dynamic = boot
	a.pg, err = adapter.New(cfg, a.currentDynamic, logger)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Run opens Raft, starts the watchdog, the HA loop and the REST API, and
// blocks until ctx ends or a part fails; then it calls Shutdown (PostgreSQL
// stopped, the leader key given back) and closes Raft.
func (a *Agent) Run(ctx context.Context) error {
	cfg, logger := a.cfg, a.log
	var err error
	sysid := a.localSystemID(ctx)
	a.store, err = raftstore.Open(ctx, raftstore.Config{
		Scope: cfg.Scope, Name: cfg.Name, DataDir: cfg.Raft.DataDir, Addr: cfg.Raft.SelfAddr,
		Partners: cfg.Raft.PartnerAddrs, Secret: cfg.Raft.Password, Logger: logger,
		SystemID: sysid, ValidateJoin: validateJoin,
	}, fsm.New())
	if err != nil {
		return err
	}
	defer a.store.Close()

	// Rule 1 while this process is paused or dead: see package watchdog.
	wd, err := watchdog.Start(cfg, logger)
	if err != nil {
		return err
	}
	keepWatchdog := false // Shutdown failed: a postmaster may still come up
	defer func() {
		// With PostgreSQL stopped there is nothing left to fence; a
		// PostgreSQL still running keeps its watchdog.
		if !keepWatchdog && !a.pg.PostmasterRunning() {
			if err := wd.Stop(); err != nil {
				logger.Warn("stopping the watchdog", "error", err)
			}
		}
	}()
	if err := a.waitForCluster(ctx); err != nil {
		return err
	}
	a.loop = ha.New(ha.Config{
		Name:        cfg.Name,
		Tags:        ha.Tags{NoFailover: cfg.Tags.NoFailover, NoSync: cfg.Tags.NoSync, FailoverPriority: cfg.Tags.FailoverPriority},
		UsePgRewind: cfg.PostgreSQL.UsePgRewind,
		Peers:       newPeers(cfg),
		Member: fsm.Member{
			APIURL: cfg.APIURL() + "/patroni", Host: connectHost(cfg), Port: connectPort(cfg),
			Tags: memberTags(cfg.Tags), Version: a.version, RaftAddr: cfg.Raft.SelfAddr,
		},
		Logger:   logger,
		Watchdog: wd,
	}, a.store, a.pg)

	srv, err := api.New(api.Config{
		Listen: cfg.RestAPI.Listen, Source: a, Config: configWriter{a.store}, Failsafe: a.loop, Logger: logger,
		Registry: prometheus.NewRegistry(), Auth: basicAuth(cfg),
	})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- srv.ListenAndServe(runCtx) }()
	loopDone := make(chan struct{})
	go func() { errs <- a.loop.Run(runCtx); close(loopDone) }()
	go a.watchDynamic(runCtx)
	go a.watchPostmaster(runCtx)
	go a.reloadOnHangup(runCtx)

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-errs:
		if runErr != nil {
			logger.Error("stopping", "error", runErr)
		}
	}
	if errors.Is(runErr, ha.ErrRefused) {
		// Leave PostgreSQL alone: it is not part of this cluster.
		cancel()
		return runErr
	}
	cancel()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), time.Duration(cfg.PostgreSQL.PgCtlTimeout+10)*time.Second)
	defer stopCancel()
	// Shutdown only once the loop stopped: a start it just ran may not have
	// written postmaster.pid yet (ha.Loop.Shutdown keeps the key then).
	select {
	case <-loopDone:
	case <-stopCtx.Done():
	}
	if err := a.Shutdown(stopCtx); err != nil {
		keepWatchdog = true
		logger.Error("shutdown", "error", err)
	}
	return runErr
}

// Shutdown stops PostgreSQL and gives the leader key back (ha.Loop.Shutdown).
// Run calls it once its parts have stopped.
func (a *Agent) Shutdown(ctx context.Context) error {
	return a.loop.Shutdown(ctx)
}

// localSystemID reads the system identifier of an existing data directory,
// so a join request can be refused before this node becomes a voter.
func (a *Agent) localSystemID(ctx context.Context) string {
	st := a.pg.Observe(ctx)
	return st.SystemID
}

// validateJoin runs on the Raft leader: a node whose data directory belongs
// to another PostgreSQL cluster must not become a voter of this one.
func validateJoin(req raftstore.JoinRequest, st fsm.State) error {
	if req.SystemID != "" && st.SystemID() != "" && req.SystemID != st.SystemID() {
		return fmt.Errorf("member %s has a data directory of another cluster (system identifier %s, this cluster has %s)",
			req.Name, req.SystemID, st.SystemID())
	}
	return nil
}

// waitForCluster blocks until Raft has a leader and this node's state is
// caught up with it, so the first decision never runs on an empty or stale
// view (which could look like an uninitialized cluster). It then stores
// bootstrap.dcs as the dynamic configuration if none is stored yet.
func (a *Agent) waitForCluster(ctx context.Context) error {
	a.log.Info("waiting for the Raft cluster", "self", a.cfg.Raft.SelfAddr, "partners", a.cfg.Raft.PartnerAddrs)
	for {
		if err := a.store.JoinRejected(); err != nil {
			return fmt.Errorf("%w: %v", ha.ErrRefused, err)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := a.store.LinearizableState(rctx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := a.store.Propose(pctx, fsm.SetConfig{Config: a.cfg.Bootstrap.DCS, IfEmpty: true})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.log.Warn("storing the bootstrap dynamic configuration failed; retrying", "error", err)
		time.Sleep(200 * time.Millisecond)
	}
	a.refreshDynamic()
	a.log.Info("Raft cluster ready", "leader", a.store.Leader())
	return nil
}

func (a *Agent) currentDynamic() fsm.DynamicConfig {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dynamic
}

func (a *Agent) refreshDynamic() {
	d, err := fsm.ParseDynamicConfig(a.store.State().Config)
	if err != nil {
		a.log.Error("stored dynamic configuration is invalid; keeping the previous one", "error", err)
		return
	}
	a.mu.Lock()
	a.dynamic = d
	a.mu.Unlock()
}

// watchDynamic keeps the parsed dynamic configuration current.
func (a *Agent) watchDynamic(ctx context.Context) {
	for {
		ch := a.store.Changed()
		a.refreshDynamic()
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// reloadOnHangup re-reads the configuration file on SIGHUP. An invalid file
// is reported and the running configuration kept, whole.
func (a *Agent) reloadOnHangup(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		next, err := config.Load(a.cfg.Path)
		if err != nil {
			a.log.Error("SIGHUP: configuration not reloaded; keeping the running one", "error", err)
			continue
		}
		a.pg.SetLocalConfig(next)
		a.log.Info("SIGHUP: configuration reloaded", "file", next.Path)
		a.loop.Wake()
	}
}

func connectHost(cfg *config.Config) string {
	h, _ := splitHostPort(cfg.PostgreSQL.ConnectAddress)
	return h
}

func connectPort(cfg *config.Config) int {
	_, p := splitHostPort(cfg.PostgreSQL.ConnectAddress)
	return p
}

func memberTags(t config.Tags) map[string]any {
	tags := map[string]any{}
	if t.NoFailover {
		tags["nofailover"] = true
	}
	if t.NoLoadBalance {
		tags["noloadbalance"] = true
	}
	if t.CloneFrom {
		tags["clonefrom"] = true
	}
	if t.NoSync {
		tags["nosync"] = true
	}
	if t.FailoverPriority != 1 {
		tags["failover_priority"] = t.FailoverPriority
	}
	if t.ReplicateFrom != "" {
		tags["replicatefrom"] = t.ReplicateFrom
	}
	return tags
}

func basicAuth(cfg *config.Config) *api.BasicAuth {
	a := cfg.RestAPI.Authentication
	if a.Username == "" {
		return nil
	}
	return &api.BasicAuth{Username: a.Username, Password: a.Password}
}

// configWriter lets the REST API change the dynamic configuration through
// the same Raft command the CLI uses.
type configWriter struct{ store *raftstore.Store }

func (w configWriter) SetConfig(ctx context.Context, cfg map[string]any, expectIndex uint64) error {
	_, err := w.store.Propose(ctx, fsm.SetConfig{Config: cfg, ExpectIndex: &expectIndex})
	return err
}

// watchPostmaster wakes the HA loop the moment the postmaster dies, so a
// crashed primary is restarted (or failed over) without waiting for the
// next loop_wait tick.
func (a *Agent) watchPostmaster(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	wasAlive := a.pg.PostmasterRunning()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		alive := a.pg.PostmasterRunning()
		if wasAlive && !alive {
			a.log.Warn("postmaster is gone")
			a.loop.Wake()
		}
		wasAlive = alive
	}
}
