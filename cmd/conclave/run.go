package main

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
	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
	"github.com/conclave-ha/conclave/raftstore"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the agent: Raft peer, HA loop and REST API beside one PostgreSQL",
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if os.Geteuid() == 0 {
				return fmt.Errorf("PostgreSQL refuses to run as root: run the agent as the postgres OS user (runuser -u postgres -- conclave -c %s run)", cfg.Path)
			}
			if err := cfg.CheckEnvironment(); err != nil {
				return err
			}
			return runAgent(c.Context, cfg, newLogger(c, cfg))
		},
	}
}

// agent holds the running parts, started in order and stopped in reverse.
type agent struct {
	cfg   *config.Config
	log   hclog.Logger
	store *raftstore.Store
	pg    *postgres
	loop  *ha.Loop

	mu      sync.Mutex
	dynamic fsm.DynamicConfig
}

func runAgent(ctx context.Context, cfg *config.Config, logger hclog.Logger) error {
	a := &agent{cfg: cfg, log: logger}
	boot, err := cfg.Dynamic()
	if err != nil {
		return fmt.Errorf("%s: bootstrap.dcs: %w", cfg.Path, err)
	}
	a.dynamic = boot
	a.pg, err = newPostgres(cfg, a.currentDynamic, logger)
	if err != nil {
		return err
	}
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

	// Rule 1 while this process is paused or dead: see watchdog.go.
	wd, err := startWatchdog(cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		// With PostgreSQL stopped there is nothing left to fence; a
		// PostgreSQL still running keeps its watchdog.
		if _, alive := a.pg.inst.PostmasterPID(); !alive {
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
			Tags: memberTags(cfg.Tags), Version: version, RaftAddr: cfg.Raft.SelfAddr,
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
	go func() { errs <- a.loop.Run(runCtx) }()
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
	if err := a.loop.Shutdown(stopCtx); err != nil {
		logger.Error("shutdown", "error", err)
	}
	return runErr
}

// localSystemID reads the system identifier of an existing data directory,
// so a join request can be refused before this node becomes a voter.
func (a *agent) localSystemID(ctx context.Context) string {
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
func (a *agent) waitForCluster(ctx context.Context) error {
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

func (a *agent) currentDynamic() fsm.DynamicConfig {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dynamic
}

func (a *agent) refreshDynamic() {
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
func (a *agent) watchDynamic(ctx context.Context) {
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
func (a *agent) reloadOnHangup(ctx context.Context) {
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
		a.pg.setLocalConfig(next)
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
func (a *agent) watchPostmaster(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	_, wasAlive := a.pg.inst.PostmasterPID()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, alive := a.pg.inst.PostmasterPID()
		if wasAlive && !alive {
			a.log.Warn("postmaster is gone")
			a.loop.Wake()
		}
		wasAlive = alive
	}
}
