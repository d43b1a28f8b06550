package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
)

// Witness is `conclave witness`: a Raft voter with no PostgreSQL, so two
// database nodes and a witness keep a Raft quorum when either database
// node is lost. It runs no HA loop: it never proposes a leader key, so it
// never becomes primary. It publishes a member record with role witness
// and tags nofailover and nosync (never a candidate, never a synchronous
// standby; the primary keeps no slot for it) every loop_wait, and serves
// the REST API's read endpoints, POST /members and POST /leave.
type Witness struct {
	cfg     *config.Config
	log     hclog.Logger
	version string
	store   *raftstore.Store

	leaving   chan struct{}
	leaveOnce sync.Once
}

// NewWitness checks that the file is a witness's (no postgresql: section).
func NewWitness(c Config) (*Witness, error) {
	if !c.File.Witness {
		return nil, fmt.Errorf("%s has a postgresql: section: a witness runs no PostgreSQL; remove the section, or start this node with run", c.File.Path)
	}
	if _, _, err := apiSecurity(c.File); err != nil {
		return nil, err
	}
	return &Witness{cfg: c.File, log: c.Logger, version: c.Version, leaving: make(chan struct{})}, nil
}

// Run opens Raft, publishes the witness's record and serves the API until
// ctx ends or a leave completes.
func (w *Witness) Run(ctx context.Context) error {
	cfg := w.cfg
	var err error
	w.store, err = raftstore.Open(ctx, raftstore.Config{
		Scope: cfg.Scope, Name: cfg.Name, DataDir: cfg.Raft.DataDir, Addr: cfg.Raft.SelfAddr,
		Partners: cfg.Raft.PartnerAddrs, Secret: cfg.Raft.Password, Logger: w.log,
	}, fsm.New())
	if errors.Is(err, raftstore.ErrLeft) {
		w.log.Info("not starting", "reason", err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	defer w.store.Close()
	w.log.Info("witness: waiting for the Raft cluster", "self", cfg.Raft.SelfAddr, "partners", cfg.Raft.PartnerAddrs)
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := w.store.LinearizableState(rctx)
		cancel()
		if err == nil {
			break
		}
		if rerr := w.store.JoinRejected(); rerr != nil {
			return rerr
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	access, tlsCfg, err := apiSecurity(cfg)
	if err != nil {
		return err
	}
	srv, err := api.New(api.Config{
		Listen: cfg.RestAPI.Listen, Source: w, Config: configWriter{w.store}, Logger: w.log,
		Registry: prometheus.NewRegistry(), Auth: basicAuth(cfg), Access: access, TLS: tlsCfg,
		Membership: witnessMembership{w},
	})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe(runCtx) }()
	w.log.Info("witness running: a Raft voter without PostgreSQL", "node", cfg.Name)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last time.Time
	for {
		if every := w.publishEvery(); time.Since(last) >= every {
			pctx, pcancel := context.WithTimeout(runCtx, 5*time.Second)
			if _, err := w.store.Propose(pctx, fsm.UpsertMember{Member: w.record()}); err != nil {
				w.log.Warn("publishing the witness's record failed", "error", err)
			} else {
				last = time.Now()
			}
			pcancel()
		}
		select {
		case <-ctx.Done():
			w.log.Info("shutting down")
			return nil
		case err := <-errs:
			return err
		case <-w.leaving:
			cancel()
			lctx, lcancel := context.WithTimeout(context.Background(), time.Minute)
			defer lcancel()
			return leaveCluster(lctx, w.store, cfg, w.log)
		case <-t.C:
		}
	}
}

// publishEvery is loop_wait, like a database node's report.
func (w *Witness) publishEvery() time.Duration {
	d, err := fsm.ParseDynamicConfig(w.store.State().Config)
	if err != nil || d.LoopWait <= 0 {
		return 10 * time.Second
	}
	return time.Duration(d.LoopWait) * time.Second
}

func (w *Witness) record() fsm.Member {
	return fsm.Member{
		Name: w.cfg.Name, APIURL: w.cfg.APIURL() + "/patroni", Role: fsm.RoleWitness, State: "running",
		Tags:    map[string]any{"nofailover": true, "nosync": true, "noloadbalance": true},
		Version: w.version, RaftAddr: w.cfg.Raft.SelfAddr, Protocol: fsm.Protocol, UpdatedAt: time.Now().UTC(),
	}
}

// Status implements api.Source.
func (w *Witness) Status(ctx context.Context) api.NodeStatus {
	rs := w.store.Stats()
	st := api.NodeStatus{
		Name: w.cfg.Name, Scope: w.cfg.Scope, Version: w.version, State: "running", Role: fsm.RoleWitness,
		Raft: api.RaftStatus{State: rs.State, Term: rs.Term, CommitIndex: rs.CommitIndex, AppliedIndex: rs.AppliedIndex,
			Leader: rs.Leader, Voters: rs.Voters, LastContact: rs.LastContact, Healthy: rs.Leader != "", ClusterID: rs.ClusterID,
			Roles: w.store.Roles()},
	}
	if rs.Leader != "" {
		st.DCSLastSeen = time.Now()
	}
	return st
}

// Cluster implements api.Source.
func (w *Witness) Cluster() fsm.State { return w.store.State() }

// FreshCluster implements api.FreshReader: a Raft read-index.
func (w *Witness) FreshCluster(ctx context.Context) (fsm.State, error) {
	return w.store.LinearizableState(ctx)
}

// witnessMembership is POST /members and /leave on a witness.
type witnessMembership struct{ w *Witness }

func (m witnessMembership) Join(ctx context.Context, req api.JoinRequest) (api.JoinAnswer, error) {
	return joinCluster(ctx, m.w.store, m.w.cfg, m.w.log, nil, req)
}

func (m witnessMembership) Leave(ctx context.Context, req api.LeaveRequest) error {
	if req.Force || (req.Member != "" && req.Member != m.w.cfg.Name) {
		return fmt.Errorf("%w: a witness only leaves itself; evict other members through a database member", api.ErrMembershipInvalid)
	}
	m.w.leaveOnce.Do(func() { close(m.w.leaving) })
	return nil
}
