package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-ha/conclave/adapter"
	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/callback"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/dynconfig"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
	"github.com/conclave-ha/conclave/logfile"
	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/vip"
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

// The protocol gates count every Raft server, not only members (ha/protocol.go).
var _ ha.ServerLister = (*raftstore.Store)(nil)

// Agent holds the running parts, started in order and stopped in reverse.
type Agent struct {
	cfg     *config.Config
	log     hclog.Logger
	version string
	store   *raftstore.Store
	pg      *adapter.Postgres
	loop    *ha.Loop
	hooks   *callback.Postgres // a.pg with the callbacks (agent/endpoint.go)
	vip     *vip.Manager       // nil without a vip: section
	// watchdogCaps are the ambient capabilities the watchdog process gets
	// back after the agent cleared its own (endpoint.go).
	watchdogCaps []uintptr

	mu      sync.Mutex
	dynamic fsm.DynamicConfig

	dynCache  dynconfig.Cache               // the stored dynamic configuration, parsed once per change
	reloadMu  sync.Mutex                    // one reload at a time (reload.go)
	localFile atomic.Pointer[config.Config] // the file last reloaded; nil: cfg
	leaving   chan struct{}                 // closed by a POST /leave (membership.go)
	leaveOnce sync.Once
	backups   backupHealth // the repository as last read (backup.go)
	jobs      backupJobs   // POST /backup (backupjob.go)

	liveLoop atomic.Pointer[ha.Loop] // a.loop once built, for Raft RPC goroutines (raftstate.go)
}

// New builds the node's PostgreSQL adapter from cfg; Run starts the rest.
func New(c Config) (*Agent, error) {
	cfg, logger := c.File, c.Logger
	a := &Agent{cfg: cfg, log: logger, version: c.Version, leaving: make(chan struct{})}
	boot, err := cfg.Dynamic()
	if err != nil {
		return nil, fmt.Errorf("%s: bootstrap.dcs: %w", cfg.Path, err)
	}
	a.dynamic = boot
	if _, _, err := apiSecurity(cfg); err != nil { // refused before anything starts
		return nil, err
	}
	if _, err := raftTLS(cfg); err != nil {
		return nil, err
	}
	a.pg, err = adapter.New(cfg, a.currentDynamic, logger)
	if err != nil {
		return nil, err
	}
	if err := a.newEndpoint(); err != nil {
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
	rc, err := raftConfig(cfg, logger)
	if err != nil {
		return err
	}
	rc.SystemID, rc.PrepareReplace = a.localSystemID(ctx), a.prepareReplace
	if rc.WasMember, err = a.pg.RanAMember(); err != nil {
		logger.Warn("cannot tell whether this node ran a member before; if its Raft state is missing, "+
			"formation treats it as lost and waits for every configured server", "error", err)
	}
	a.store, err = raftstore.Open(ctx, rc, fsm.New())
	if errors.Is(err, raftstore.ErrLeft) {
		logger.Info("not starting", "reason", err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	defer a.store.Close()

	// Rule 1 while this process is paused or dead: see package watchdog.
	wd, err := watchdog.Start(cfg, logger, a.watchdogCaps...)
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
	registry := prometheus.NewRegistry()
	haMetrics, err := api.NewHAMetrics(registry, cfg.Scope, cfg.Name)
	if err != nil {
		return err
	}
	a.loop = ha.New(ha.Config{
		Name:        cfg.Name,
		Tags:        loopTags(cfg),
		UsePgRewind: cfg.PostgreSQL.UsePgRewind,
		Peers:       newPeers(cfg),
		Member: fsm.Member{
			APIURL: cfg.APIURL() + "/patroni", Host: connectHost(cfg), Port: connectPort(cfg),
			Tags: memberTags(cfg.Tags), Version: a.version, RaftAddr: cfg.Raft.SelfAddr,
		},
		Logger:         logger,
		Watchdog:       wd,
		AwaitedServers: a.raftServerAddrs, // takeover.go
		PrePromote:     a.hooks.PrePromote,
		Withdraw:       a.withdrawVIP, // endpoint.go
		Events:         haMetrics,
	}, a.store, a.hooks)
	a.liveLoop.Store(a.loop)

	access, tlsCfg, err := apiSecurity(cfg)
	if err != nil {
		return err
	}
	srv, err := api.New(api.Config{
		Listen: cfg.RestAPI.Listen, Source: a, Config: configWriter{a.store}, Failsafe: a.loop, Logger: logger,
		Registry: registry, Auth: basicAuth(cfg), Access: access, TLS: tlsCfg,
		Pending: pendingWriter{a.store}, Operator: operator{a}, TracebackLevel: logfile.Level(cfg.Log.TracebackLevel), ExtraHeaders: extraHeaders(cfg),
		Membership: membership{a},
		Backups:    a.backupsAPI(),
	})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.jobs.ctx = runCtx // before the API serves POST /backup
	errs := make(chan error, 2)
	go func() { errs <- srv.ListenAndServe(runCtx) }()
	loopDone := make(chan struct{})
	go func() { errs <- a.loop.Run(runCtx); close(loopDone) }()
	go a.watchDynamic(runCtx)
	go a.watchPostmaster(runCtx)
	go a.reloadOnHangup(runCtx)
	go a.pollBackups(runCtx)
	vipDone := a.runVIP(runCtx)

	var runErr error
	leave := false
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case <-a.leaving:
		logger.Info("leaving the cluster: stopping PostgreSQL first")
		leave = true
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
	<-vipDone // the floating IP is gone before PostgreSQL stops
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
		if leave {
			return fmt.Errorf("leave: PostgreSQL did not stop: %w", err)
		}
	}
	if leave {
		lctx, lcancel := context.WithTimeout(context.Background(), time.Minute)
		defer lcancel()
		return a.finishLeave(lctx)
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

// raftConfig is what a database node and a witness both open Raft with:
// the same address, partners, password and mutual TLS from raft:, and the
// same join validation (a witness may be the Raft leader that answers a
// join).
func raftConfig(cfg *config.Config, logger hclog.Logger) (raftstore.Config, error) {
	peerTLS, err := raftTLS(cfg)
	if err != nil {
		return raftstore.Config{}, err
	}
	return raftstore.Config{
		Scope: cfg.Scope, Name: cfg.Name, DataDir: cfg.Raft.DataDir, Addr: cfg.Raft.SelfAddr,
		Partners: cfg.Raft.PartnerAddrs, Secret: cfg.Raft.Password, TLS: peerTLS, Logger: logger,
		ValidateJoin: validateJoin,
	}, nil
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
	st := a.store.State()
	d, _, err := a.dynCache.Get(st.ConfigIndex, st.Config)
	if err != nil {
		a.log.Error("stored dynamic configuration is invalid; keeping the previous one", "error", err)
		return
	}
	a.mu.Lock()
	a.dynamic = d
	a.mu.Unlock()
}

// watchDynamic keeps the parsed dynamic configuration current and writes
// it to PostgreSQL when it changed (applyDynamic).
func (a *Agent) watchDynamic(ctx context.Context) {
	var applied uint64
	for {
		ch := a.store.Changed()
		applied = a.applyDynamic(ctx, applied)
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
		_ = a.reload("SIGHUP") // logs the outcome
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
