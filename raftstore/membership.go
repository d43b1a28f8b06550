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
	return &helloInfo{
		Scope:    s.cfg.Scope,
		Name:     s.cfg.Name,
		ID:       s.cfg.Addr,
		Servers:  s.cfg.serverSet(),
		HasState: s.Formed(),
		Leader:   s.Leader(),
	}
}

// Join adds req as a voter, on the leader (forwarded when this node is a
// follower; never applied locally). It is idempotent: a server already in
// the configuration with the same ID and address is left alone. A server
// with the same ID or the same address only is removed first. A join of
// another scope, or one Config.ValidateJoin refuses (it is asked even for a
// server already present), is ErrRejected.
func (s *Store) Join(ctx context.Context, req JoinRequest) error {
	if _, err := s.route(ctx, rpcRequest{Op: opJoin, Join: &req}); err != nil {
		return fmt.Errorf("join %s: %w", req.ID, err)
	}
	return nil
}

// Remove removes server id from the Raft configuration, on the leader.
// Removing an id that is not in the configuration is a no-op; removing the
// last voter is ErrRejected.
func (s *Store) Remove(ctx context.Context, id string) error {
	if _, err := s.route(ctx, rpcRequest{Op: opRemove, ID: id}); err != nil {
		return fmt.Errorf("remove %s: %w", id, err)
	}
	return nil
}

// Leave removes this node from the cluster (for `conclave leave`). A leader
// first hands leadership to another voter. The node keeps running, outside
// the configuration, until Close.
func (s *Store) Leave(ctx context.Context) error {
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

// joinLocal runs on the leader.
func (s *Store) joinLocal(ctx context.Context, req JoinRequest) error {
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
			if srv.Suffrage == raft.Voter {
				return nil // already a voter: no-op
			}
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
	if err := waitFuture(ctx, s.raft.AddVoter(id, addr, 0, membershipTimeout)); err != nil {
		return fmt.Errorf("add voter: %w", err)
	}
	s.logger.Info("added raft voter", "id", id, "addr", addr, "name", req.Name)
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
