package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
)

// membership implements api.Membership: `conclave join` and `leave`.
type membership struct{ a *Agent }

var _ api.Membership = membership{}

// Join adds a node to Raft as a non-voter (the leader promotes it once it
// caught up: raftstore/voters.go) and answers where the cluster is. Its
// member record appears when its agent runs.
func (m membership) Join(ctx context.Context, req api.JoinRequest) (api.JoinAnswer, error) {
	return joinCluster(ctx, m.a.store, m.a.cfg, m.a.log, m.a.live, req)
}

// joinCluster is POST /members on a database node or a witness; live
// tells whether a member still reports (a live member's name is not
// taken over by another node). A witness has no HA loop to measure that
// and passes nil: it refuses every name already held at another address.
func joinCluster(ctx context.Context, store *raftstore.Store, cfg *config.Config, log hclog.Logger, live func(string) bool, req api.JoinRequest) (api.JoinAnswer, error) {
	if req.Scope != cfg.Scope {
		return api.JoinAnswer{}, fmt.Errorf("%w: scope %q differs from this cluster's %q", api.ErrMembershipInvalid, req.Scope, cfg.Scope)
	}
	if req.Name == "" {
		return api.JoinAnswer{}, fmt.Errorf("%w: name is empty", api.ErrMembershipInvalid)
	}
	if _, _, err := net.SplitHostPort(req.RaftAddr); err != nil {
		return api.JoinAnswer{}, fmt.Errorf("%w: raft_addr %q: %v", api.ErrMembershipInvalid, req.RaftAddr, err)
	}
	st := store.State()
	if err := joinTakesHolderName(st, req); err != nil {
		return api.JoinAnswer{}, err
	}
	if old, ok := st.Members[req.Name]; ok && old.RaftAddr != req.RaftAddr {
		switch {
		case live == nil:
			return api.JoinAnswer{}, fmt.Errorf("%w: a member named %s is at %s, and a witness cannot tell whether it still runs: "+
				"join through a database member, or evict it first (conclave leave %s --evict)", api.ErrMembershipConflict, req.Name, old.RaftAddr, req.Name)
		case live(req.Name):
			return api.JoinAnswer{}, fmt.Errorf("%w: a live member named %s already runs at %s", api.ErrMembershipConflict, req.Name, old.RaftAddr)
		}
	}
	idx, err := store.Join(ctx, raftstore.JoinRequest{ID: req.RaftAddr, Addr: req.RaftAddr, Name: req.Name, Scope: req.Scope})
	if err != nil {
		return api.JoinAnswer{}, refusedAsConflict(err)
	}
	servers, err := store.Servers(ctx)
	if err != nil {
		return api.JoinAnswer{}, err
	}
	ans := api.JoinAnswer{CatchUpIndex: idx}
	for _, s := range servers {
		if s.ID != req.RaftAddr {
			ans.Servers = append(ans.Servers, s.Addr)
		}
	}
	log.Info("node added to the cluster as a Raft non-voter", "node", req.Name, "raft_addr", req.RaftAddr)
	return ans, nil
}

// joinTakesHolderName refuses a join under the leader key holder's name from
// another Raft address, however long the holder's record has been silent:
// its renewals may go on in the background (a long crash recovery), and a
// node of that name reads the key as its own (ha.Lease.View compares names).
func joinTakesHolderName(st fsm.State, req api.JoinRequest) error {
	if st.LeaderName() != req.Name {
		return nil
	}
	if old, ok := st.Members[req.Name]; ok && old.RaftAddr == req.RaftAddr {
		return nil // the holder itself, asking again
	}
	return fmt.Errorf("%w: %s holds the leader key; a node cannot join under its name (choose another name, or wait until the key has moved)",
		api.ErrMembershipConflict, req.Name)
}

// Leave starts this node's exit, or evicts a dead member (Force), or only
// checks the quorum (Check).
func (m membership) Leave(ctx context.Context, req api.LeaveRequest) error {
	a := m.a
	if req.Check {
		return checkLeave(ctx, a.store, a.cfg, req)
	}
	if req.Force {
		return a.evict(ctx, req.Member)
	}
	if req.Member != "" && req.Member != a.cfg.Name {
		return fmt.Errorf("%w: %s is not this node (%s): send the request to its own agent, or add force to evict a dead member",
			api.ErrMembershipInvalid, req.Member, a.cfg.Name)
	}
	if a.loop.Snapshot().HoldsLeaderKey {
		return fmt.Errorf("%w: %s is the primary: switch over first (conclave leave does)", api.ErrMembershipConflict, a.cfg.Name)
	}
	if a.store.Stats().Voters <= 1 && a.isVoter() {
		return fmt.Errorf("%w: %s is the last Raft voter", api.ErrMembershipConflict, a.cfg.Name)
	}
	// Before PostgreSQL stops: a leave the voters that remain cannot
	// commit is refused while nothing has changed yet.
	if err := a.store.CheckRemove(ctx, a.cfg.Raft.SelfAddr); err != nil {
		return refusedAsConflict(err)
	}
	a.leaveOnce.Do(func() { close(a.leaving) })
	return nil
}

// checkLeave answers POST /leave with check: the leader's quorum check for
// the Raft server of req.Member (this node when empty), nothing changed.
func checkLeave(ctx context.Context, store *raftstore.Store, cfg *config.Config, req api.LeaveRequest) error {
	addr := cfg.Raft.SelfAddr
	if req.Member != "" && req.Member != cfg.Name {
		rec, ok := store.State().Members[req.Member]
		if !ok {
			return fmt.Errorf("%w: no member %s", api.ErrMembershipInvalid, req.Member)
		}
		addr = rec.RaftAddr
	}
	if addr == "" {
		return nil
	}
	return refusedAsConflict(store.CheckRemove(ctx, addr))
}

// refusedAsConflict maps a Raft membership change the leader refused
// (ErrRejected, ErrQuorumLoss: nothing changed) to 409; other errors
// (no leader, timeouts) pass through.
func refusedAsConflict(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, raftstore.ErrRejected) || errors.Is(err, raftstore.ErrQuorumLoss) {
		return fmt.Errorf("%w: %v", api.ErrMembershipConflict, err)
	}
	return err
}

// live tells whether member name reported within ttl, as observed here.
func (a *Agent) live(name string) bool {
	s, ok := a.loop.MemberSilence()[name]
	return !ok || s < time.Duration(a.currentDynamic().TTL)*time.Second
}

func (a *Agent) isVoter() bool {
	r := a.store.Roles()[a.cfg.Raft.SelfAddr]
	return r == raftstore.RoleVoter || r == raftstore.RoleLeader
}

// finishLeave runs once PostgreSQL is stopped and the loop is gone: the
// member record goes (so the primary drops its slot), then the Raft server,
// then left.json keeps a restarted agent from coming back.
func (a *Agent) finishLeave(ctx context.Context) error {
	if err := a.stopForLeave(ctx); err != nil {
		return fmt.Errorf("leave: PostgreSQL did not stop: %w; this node is still a member", err)
	}
	return leaveCluster(ctx, a.store, a.cfg, a.log)
}

// leaveCluster removes this node's member record, then its Raft server,
// then writes left.json (a database node or a witness). The quorum check
// comes first again (a voter may have gone down since POST /leave), so a
// refused leave keeps the record too.
func leaveCluster(ctx context.Context, store *raftstore.Store, cfg *config.Config, log hclog.Logger) error {
	name := cfg.Name
	if err := store.CheckRemove(ctx, cfg.Raft.SelfAddr); err != nil {
		return fmt.Errorf("leave: %w; this node is still a member", err)
	}
	if _, err := store.Propose(ctx, fsm.RemoveMember{Name: name}); err != nil {
		return fmt.Errorf("leave: remove the member record: %w", err)
	}
	if err := store.Leave(ctx); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	if err := raftstore.MarkLeft(cfg.Raft.DataDir); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	log.Info("left the cluster; `conclave join --via HOST:PORT` brings this node back", "node", name)
	return nil
}

// stopForLeave makes sure PostgreSQL is down and stays down for a moment:
// a leave that comes right after a switchover may catch the loop starting
// PostgreSQL as a replica, whose postmaster writes its PID file only after
// the loop was cancelled (so Shutdown saw nothing to stop).
func (a *Agent) stopForLeave(ctx context.Context) error {
	const quiet = time.Second
	downSince := time.Now()
	for time.Since(downSince) < quiet {
		if a.pg.PostmasterRunning() {
			if err := a.pg.Stop(ctx); err != nil {
				return err
			}
			downSince = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
