package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
	"github.com/conclave-ha/conclave/raftstore"
)

// Witness is `conclave witness`: a Raft voter with no PostgreSQL, so two
// database nodes and a witness keep a Raft quorum when either database
// node is lost. It runs no HA loop: it never proposes a leader key, so it
// never becomes primary. It publishes a member record with role witness
// and tags nofailover and nosync (never a candidate, never a synchronous
// standby; the primary keeps no slot for it) every loop_wait, and serves
// the REST API's read endpoints, POST /members, POST /leave and POST
// /failsafe. It opens Raft with the settings a database node uses
// (raftConfig: password, mutual TLS, join validation).
type Witness struct {
	cfg     *config.Config
	log     hclog.Logger
	version string
	store   *raftstore.Store
	members *ha.MemberWatch // rule 6 for /cluster and the member metrics

	leaving   chan struct{}
	leaveOnce sync.Once
	lastTurn  atomic.Int64 // UnixNano of Run's last loop turn, for /liveness
}

// witnessTurn is how often the witness's loop turns (its /liveness).
const witnessTurn = time.Second

// NewWitness checks that the file is a witness's (no postgresql: section).
func NewWitness(c Config) (*Witness, error) {
	if !c.File.Witness {
		return nil, fmt.Errorf("%s has a postgresql: section: a witness runs no PostgreSQL; remove the section, or start this node with run", c.File.Path)
	}
	if _, _, err := apiSecurity(c.File); err != nil {
		return nil, err
	}
	if _, err := raftTLS(c.File); err != nil { // refused before anything starts, as run does
		return nil, err
	}
	return &Witness{cfg: c.File, log: c.Logger, version: c.Version, leaving: make(chan struct{})}, nil
}

// Run opens Raft, publishes the witness's record and serves the API until
// ctx ends or a leave completes.
func (w *Witness) Run(ctx context.Context) error {
	cfg := w.cfg
	rc, err := raftConfig(cfg, w.log)
	if err != nil {
		return err
	}
	w.store, err = raftstore.Open(ctx, rc, fsm.New())
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
	w.members = ha.NewMemberWatch(w.store.State(), time.Now()) // before the API answers
	access, tlsCfg, err := apiSecurity(cfg)
	if err != nil {
		return err
	}
	srv, err := api.New(api.Config{
		Listen: cfg.RestAPI.Listen, Source: w, Config: configWriter{w.store}, Logger: w.log,
		Registry: prometheus.NewRegistry(), Auth: basicAuth(cfg), Access: access, TLS: tlsCfg,
		Membership: witnessMembership{w}, Failsafe: w,
	})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe(runCtx) }()
	go w.watchMembers(runCtx)
	w.log.Info("witness running: a Raft voter without PostgreSQL", "node", cfg.Name)
	t := time.NewTicker(witnessTurn)
	defer t.Stop()
	var last time.Time
	for {
		w.lastTurn.Store(time.Now().UnixNano())
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
		LoopLastRun: w.lastTurnAt(), LoopInterval: witnessTurn,
		MemberSilence: w.members.Silence(time.Now()), MemberUnconfirmed: w.members.Unconfirmed(),
		Raft: api.RaftStatus{State: rs.State, Term: rs.Term, CommitIndex: rs.CommitIndex, AppliedIndex: rs.AppliedIndex,
			Leader: rs.Leader, Voters: rs.Voters, LastContact: rs.LastContact, Healthy: rs.Leader != "", ClusterID: rs.ClusterID,
			Roles: w.store.Roles()},
	}
	if rs.Leader != "" {
		st.DCSLastSeen = time.Now()
	}
	return st
}

// lastTurnAt is when Run's loop last turned (zero before it started).
func (w *Witness) lastTurnAt() time.Time {
	if n := w.lastTurn.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// FailsafeHeartbeat implements api.FailsafeReceiver (POST /failsafe). A
// member that accepts a heartbeat promises not to take the leader key for
// a ttl after it (ha/failsafe.go); the witness never takes the key, so the
// promise holds with nothing to record. It accepts only from the member its
// own state names as holder (ha.CheckFailsafeSender, as a database member).
func (w *Witness) FailsafeHeartbeat(leader string, st fsm.State) error {
	return ha.CheckFailsafeSender(st, w.cfg.Name, leader)
}

// FailsafeState implements api.FailsafeStateReader as a database member
// does: a Raft read-index when in contact with a Raft leader, else the
// local state (so a member added after the sender was cut off is seen).
func (w *Witness) FailsafeState(ctx context.Context) (fsm.State, error) {
	if !w.store.InContact() {
		return w.store.State(), nil
	}
	return w.store.LinearizableState(ctx)
}

// watchMembers notes every change as soon as it is applied here, so a
// member's silence counts from its last report's arrival (rule 6).
func (w *Witness) watchMembers(ctx context.Context) {
	for {
		changed := w.store.Changed()
		w.members.Observe(w.store.State(), time.Now())
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
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
	if req.Check {
		return checkLeave(ctx, m.w.store, m.w.cfg, req)
	}
	if req.Force || (req.Member != "" && req.Member != m.w.cfg.Name) {
		return fmt.Errorf("%w: a witness only leaves itself; evict other members through a database member", api.ErrMembershipInvalid)
	}
	if err := m.w.store.CheckRemove(ctx, m.w.cfg.Raft.SelfAddr); err != nil {
		return refusedAsConflict(err)
	}
	m.w.leaveOnce.Do(func() { close(m.w.leaving) })
	return nil
}
