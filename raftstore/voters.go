package raftstore

import (
	"context"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Who votes. A server joins as a non-voter (joinLocal): it receives the log
// but counts for neither commits nor elections. The leader promotes a
// non-voter once it has caught up and the configuration has fewer than
// MaxVoters voters; beyond that, new members stay non-voters, and one of
// them is promoted when a voter leaves. So the quorum stays small (3 of 5
// at most), and a server that does not hold the log yet never counts.
//
// Every change is one hashicorp/raft single-server configuration change
// (AddVoter of a non-voter is a promotion), with the configuration index
// as compare-and-swap (prevIndex), so a concurrent join or removal makes it
// fail and it is retried on the next round from the new configuration.
// A single-server change keeps every majority of the old voters and every
// majority of the new voters intersecting, which is Raft's safety
// condition for membership changes.

// MaxVoters is the largest number of voters the leader promotes to.
const MaxVoters = 5

// voterRound is how often the leader looks at its non-voters.
const voterRound = 500 * time.Millisecond

// catchUpRound is how often a node that withholds its vote without a
// catch-up index asks the leader for one. Until it knows it, it cannot vote
// for a candidate with entries: if the leader is lost in that window and no
// other voter can vote, nobody is elected again (DESIGN.md, "Membership").
const catchUpRound = 100 * time.Millisecond

// manageVoters runs on every node and acts while it leads.
func (s *Store) manageVoters(ctx context.Context) {
	lastRound := time.Time{}
	t := time.NewTicker(catchUpRound)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.learnCatchUp(ctx)
		if time.Since(lastRound) < voterRound {
			continue
		}
		lastRound = time.Now()
		if s.IsLeader() {
			s.promoteOne(ctx)
			s.mintClusterID(ctx) // clusterid.go
		}
	}
}

// promoteOne promotes the first caught-up non-voter (by ID) while there
// are fewer than MaxVoters voters.
func (s *Store) promoteOne(ctx context.Context) {
	cf := s.raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	servers := cf.Configuration().Servers
	voters := 0
	var candidates []raft.Server
	for _, srv := range servers {
		switch srv.Suffrage {
		case raft.Voter:
			voters++
		case raft.Nonvoter:
			candidates = append(candidates, srv)
		}
	}
	if voters >= MaxVoters || len(candidates) == 0 {
		return
	}
	slices.SortFunc(candidates, func(a, b raft.Server) int { return compareIDs(a.ID, b.ID) })
	for _, srv := range candidates {
		if !s.caughtUp(ctx, string(srv.Address)) {
			continue
		}
		err := waitFutureTimeout(s.raft.AddVoter(srv.ID, srv.Address, cf.Index(), membershipTimeout), membershipTimeout)
		if err != nil {
			s.limit.info(s, "promote:"+string(srv.ID), "promotion not done; retrying", "id", srv.ID, "error", err)
			return
		}
		s.logger.Info("promoted a caught-up non-voter to voter", "id", srv.ID, "voters", voters+1)
		return
	}
}

// caughtUp asks addr for its last log index and compares it with this
// leader's commit index taken before asking: the server then holds every
// entry committed when it was asked.
func (s *Store) caughtUp(ctx context.Context, addr string) bool {
	commit := s.raft.CommitIndex()
	cctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	resp, err := s.call(cctx, addr, rpcRequest{Op: opHello})
	if err != nil || decodeErr(resp) != nil || resp.Hello == nil {
		return false
	}
	return resp.Hello.LastIndex >= commit && commit > 0 && !resp.Hello.Withholding
}

// learnCatchUp asks the leader for a catch-up index when this node
// withholds its vote without one: the leader's entries arrived before the
// answer to its join (formation then stops), or it restarted in between.
func (s *Store) learnCatchUp(ctx context.Context) {
	active, target := s.catchUp.state()
	if !active || target > 0 || !s.Formed() || s.Leader() == "" {
		return
	}
	jctx, cancel := context.WithTimeout(ctx, membershipTimeout)
	defer cancel()
	idx, err := s.Join(jctx, JoinRequest{ID: s.cfg.Addr, Addr: s.cfg.Addr, Name: s.cfg.Name, Scope: s.cfg.Scope, SystemID: s.cfg.SystemID})
	if err != nil {
		s.limit.info(s, "catch-up", "asking the leader for a catch-up index failed; retrying", "error", err)
		return
	}
	s.logger.Info("learned the catch-up index from the leader; withholding this node's vote until its log reaches it", "node", s.cfg.Addr, "catch_up_index", idx)
	s.catchUp.setTarget(idx)
}

func compareIDs(a, b raft.ServerID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Role is a server's part in Raft, as `list -e` shows it.
const (
	RoleLeader   = "leader"
	RoleVoter    = "voter"
	RoleNonvoter = "non-voter"
)

// Roles maps every server ID in this node's latest Raft configuration to
// its role. It does not block.
func (s *Store) Roles() map[string]string {
	cf := s.raft.GetConfiguration()
	if cf.Error() != nil {
		return nil
	}
	_, leader := s.raft.LeaderWithID()
	out := map[string]string{}
	for _, srv := range cf.Configuration().Servers {
		switch {
		case srv.ID == leader && leader != "":
			out[string(srv.ID)] = RoleLeader
		case srv.Suffrage == raft.Voter:
			out[string(srv.ID)] = RoleVoter
		default:
			out[string(srv.ID)] = RoleNonvoter
		}
	}
	return out
}

// Withholding reports whether this node withholds its vote (voteguard.go)
// and the catch-up index it waits for (0: not known yet).
func (s *Store) Withholding() (bool, uint64) { return s.catchUp.state() }

func (s *Store) lastIndex() uint64 {
	if s.raft == nil {
		return 0
	}
	return s.raft.LastIndex()
}
