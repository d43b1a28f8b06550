package raftstore

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

const membershipTimeout = 10 * time.Second

// hello is what this node tells a prospective peer.
func (s *Store) hello() *helloInfo {
	withholding, _ := s.catchUp.state()
	return &helloInfo{
		Scope:     s.cfg.Scope,
		Name:      s.cfg.Name,
		ID:        s.cfg.Addr,
		Servers:   s.cfg.serverSet(),
		HasState:  s.Formed(),
		WasMember: s.cfg.WasMember,
		Leader:    s.Leader(),

		LastIndex:   s.lastIndex(),
		Withholding: withholding,
	}
}

// Join adds req as a non-voter, on the leader (forwarded when this node is
// a follower; never applied locally); the leader promotes it once it caught
// up (voters.go). It is idempotent: a server already in the configuration
// with the same ID and address is left as it is. A server with the same ID
// or the same address only is removed first. A join of another scope, or
// one Config.ValidateJoin refuses (it is asked even for a server already
// present), is ErrRejected. The index returned is the leader's commit index
// after a read-index check: every entry committed before the join has an
// index at most that (voteguard.go).
func (s *Store) Join(ctx context.Context, req JoinRequest) (uint64, error) {
	idx, err := s.route(ctx, rpcRequest{Op: opJoin, Join: &req})
	if err != nil {
		return 0, fmt.Errorf("join %s: %w", req.ID, err)
	}
	return idx, nil
}

// Remove removes server id from the Raft configuration, on the leader.
// Removing an id that is not in the configuration is a no-op; removing the
// last voter is ErrRejected, and removing a voter when a majority of the
// voters that remain does not answer is ErrQuorumLoss (removecheck.go).
func (s *Store) Remove(ctx context.Context, id string) error {
	if _, err := s.route(ctx, rpcRequest{Op: opRemove, ID: id}); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	return nil
}

// Leave removes this node from the cluster (for `conclave leave`). It is
// refused (ErrQuorumLoss) before anything changes when the voters that
// remain could not commit. A leader first hands leadership to another
// voter. The node keeps running, outside the configuration, until Close.
func (s *Store) Leave(ctx context.Context) error {
	if err := s.CheckRemove(ctx, s.cfg.Addr); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	if s.IsLeader() {
		if s.otherVoters() == 0 {
			return fmt.Errorf("leave: %w: this node is the last voter", ErrRejected)
		}
		if err := waitFuture(ctx, s.raft.LeadershipTransfer()); err != nil {
			// RemoveServer of itself on the leader still works; it steps down after.
			s.logger.Warn("leadership transfer before leave failed", "node", s.cfg.Addr, "error", err)
		}
	}
	if err := s.Remove(ctx, s.cfg.Addr); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	s.logger.Info("left the cluster", "node", s.cfg.Addr)
	return nil
}

// joinLocal runs on the leader and returns its Raft commit index once a
// Barrier of its term applied and VerifyLeader confirmed it still leads
// (readIndexLocal): every entry committed so far has an index at most that.
func (s *Store) joinLocal(ctx context.Context, req JoinRequest) (uint64, error) {
	if err := s.addLocal(ctx, req); err != nil {
		return 0, err
	}
	if _, err := s.readIndexLocal(ctx); err != nil {
		return 0, err
	}
	return s.raft.CommitIndex(), nil
}

func (s *Store) addLocal(ctx context.Context, req JoinRequest) error {
	if req.Scope != s.cfg.Scope {
		s.limit.error(s, "join-scope:"+req.ID, "join refused: other scope", "id", req.ID, "scope", req.Scope, "cluster_scope", s.cfg.Scope)
		return fmt.Errorf("%w: scope %q differs from the cluster's %q", ErrRejected, req.Scope, s.cfg.Scope)
	}
	if req.ID == "" || req.Addr == "" {
		return fmt.Errorf("%w: join needs an id and an address", ErrRejected)
	}
	if s.cfg.ValidateJoin != nil {
		if err := s.cfg.ValidateJoin(req, s.fsm.State()); err != nil {
			s.limit.error(s, "join-invalid:"+req.ID, "join refused", "id", req.ID, "name", req.Name, "error", err)
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	servers, err := s.configuration(ctx)
	if err != nil {
		return err
	}
	id, addr := raft.ServerID(req.ID), raft.ServerAddress(req.Addr)
	for _, srv := range servers {
		switch {
		case srv.ID == id && srv.Address == addr:
			// Already present (voter or not): no-op. A voter whose Raft
			// data was wiped stays a voter; it withholds its vote until
			// caught up (voteguard.go), and demoting it here could stall
			// the cluster when another voter is down.
			return s.kickReplication(ctx, id)
		case srv.ID == id || srv.Address == addr:
			if srv.ID == raft.ServerID(s.cfg.Addr) {
				return fmt.Errorf("%w: join %s/%s collides with the leader %s/%s", ErrRejected, id, addr, srv.ID, srv.Address)
			}
			s.logger.Info("replacing raft server", "old_id", srv.ID, "old_addr", srv.Address, "id", id, "addr", addr)
			if err := waitFuture(ctx, s.raft.RemoveServer(srv.ID, 0, membershipTimeout)); err != nil {
				return fmt.Errorf("remove old entry %s: %w", srv.ID, err)
			}
		}
	}
	if err := waitFuture(ctx, s.raft.AddNonvoter(id, addr, 0, membershipTimeout)); err != nil {
		return fmt.Errorf("add non-voter: %w", err)
	}
	s.logger.Info("added raft non-voter; it becomes a voter once caught up", "id", id, "addr", addr, "name", req.Name)
	return nil
}

// kickReplication appends a Barrier (a no-op entry: no configuration or FSM
// change) when server id asks to join again. A node added by `conclave
// join` asks as soon as its agent listens; until then the leader's
// replication to it failed and backs off, and a follower with nothing new
// to send is retried only every commit timeout (50-100 ms). A new entry
// sends the log to it at once, so its first linearizable read (the agent's
// wait before its first decision, which starts the clone) is not held back.
func (s *Store) kickReplication(ctx context.Context, id raft.ServerID) error {
	if err := waitFuture(ctx, s.raft.Barrier(membershipTimeout)); err != nil {
		return fmt.Errorf("barrier after the join of %s: %w", id, err)
	}
	return nil
}

// removeLocal runs on the leader.
func (s *Store) removeLocal(ctx context.Context, id string) error {
	servers, err := s.configuration(ctx)
	if err != nil {
		return err
	}
	found, isVoter, voters := false, false, 0
	for _, srv := range servers {
		if srv.Suffrage == raft.Voter {
			voters++
		}
		if srv.ID == raft.ServerID(id) {
			found, isVoter = true, srv.Suffrage == raft.Voter
		}
	}
	if !found {
		return nil
	}
	if isVoter && voters == 1 {
		return fmt.Errorf("%w: %s is the last voter", ErrRejected, id)
	}
	if err := s.checkRemoveLocal(ctx, servers, raft.ServerID(id)); err != nil {
		return err
	}
	if err := waitFuture(ctx, s.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout)); err != nil {
		return err
	}
	s.logger.Info("removed raft server", "id", id)
	return nil
}

func (s *Store) configuration(ctx context.Context) ([]raft.Server, error) {
	cf := s.raft.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	return cf.Configuration().Servers, nil
}
