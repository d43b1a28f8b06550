package raftstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/hashicorp/raft"
)

// Removing a voter is one single-server change, committed under the new
// configuration: the voters that remain must commit it, and every entry
// after it. With 3 voters, one down, removing a third leaves {leader, the
// down one}: the removal never commits and the cluster stops committing
// (a leave by surprise costs the quorum). So the leader first asks every
// voter that remains for a hello and refuses (ErrQuorumLoss) unless a
// majority of them answer. The leader, when it remains, counts as
// answering. This only ever refuses a change, so it cannot make anything
// unsafe; a voter that dies between the check and the commit still stalls
// the removal, as before.

// CheckRemove tells, on the Raft leader (routed there), whether removing
// server id would leave a voter set whose majority answers now: nil, or
// ErrQuorumLoss naming the voters that do not answer. A non-voter, or an
// id not in the configuration, always passes. An older leader without this
// check is refused with ErrRejected (finish the upgrade first).
func (s *Store) CheckRemove(ctx context.Context, id string) error {
	_, err := s.route(ctx, rpcRequest{Op: opCheckRemove, ID: id})
	if err != nil && strings.Contains(err.Error(), "unknown rpc op") {
		return fmt.Errorf("check removing %s: %w: the Raft leader %s runs an older Conclave that cannot check the quorum; upgrade it first",
			id, ErrRejected, s.Leader())
	}
	if err != nil {
		return fmt.Errorf("check removing %s: %w", id, err)
	}
	return nil
}

// checkRemoveLocal runs on the leader with its latest configuration.
func (s *Store) checkRemoveLocal(ctx context.Context, servers []raft.Server, id raft.ServerID) error {
	remaining, removesVoter := remainingVoters(servers, id)
	if !removesVoter || len(remaining) == 0 {
		return nil // not a voter, or the last one (removeLocal refuses that)
	}
	silent := s.silentVoters(ctx, remaining)
	if answering := len(remaining) - len(silent); answering > len(remaining)/2 {
		return nil
	}
	names := make([]string, len(silent))
	for i, srv := range silent {
		names[i] = s.describe(srv)
	}
	return fmt.Errorf("%w: removing %s leaves %d voters, of which %d must answer; not answering: %s; "+
		"start them, or evict a dead one first (conclave leave MEMBER --force)",
		ErrQuorumLoss, s.describe(id), len(remaining), len(remaining)/2+1, strings.Join(names, ", "))
}

// remainingVoters returns the voters other than id, and whether id is a voter.
func remainingVoters(servers []raft.Server, id raft.ServerID) ([]raft.ServerID, bool) {
	var out []raft.ServerID
	isVoter := false
	for _, srv := range servers {
		switch {
		case srv.Suffrage != raft.Voter:
		case srv.ID == id:
			isVoter = true
		default:
			out = append(out, srv.ID)
		}
	}
	return out, isVoter
}

// silentVoters says hello to every voter in ids but this node, in
// parallel, and returns those that did not answer as themselves (same ID
// and scope, with Raft state) within helloTimeout.
func (s *Store) silentVoters(ctx context.Context, ids []raft.ServerID) []raft.ServerID {
	answered := make([]bool, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		if string(id) == s.cfg.Addr {
			answered[i] = true
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answered[i] = s.answersAs(ctx, id)
		}()
	}
	wg.Wait()
	var silent []raft.ServerID
	for i, id := range ids {
		if !answered[i] {
			silent = append(silent, id)
		}
	}
	return silent
}

// answersAs tells whether the server at id (an address: IDs are addresses
// here) answers a hello as that server of this cluster.
func (s *Store) answersAs(ctx context.Context, id raft.ServerID) bool {
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	resp, err := s.call(hctx, string(id), rpcRequest{Op: opHello})
	if err != nil || decodeErr(resp) != nil || resp.Hello == nil {
		return false
	}
	h := resp.Hello
	return h.ID == string(id) && h.Scope == s.cfg.Scope && h.HasState
}

// AnswersHello tells whether a Conclave Raft peer answers a hello at addr
// now (any answer, whatever its scope or state): an eviction by address
// refuses a server that still runs. A slow or paused peer that does not
// answer within helloTimeout counts as silent, as in CheckRemove.
func (s *Store) AnswersHello(ctx context.Context, addr string) bool {
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	resp, err := s.call(hctx, addr, rpcRequest{Op: opHello})
	return err == nil && decodeErr(resp) == nil && resp.Hello != nil
}

// describe names a server for an operator: its member name, when a member
// record carries its address, and the address.
func (s *Store) describe(id raft.ServerID) string {
	st := s.fsm.State()
	for _, name := range st.MemberNames() {
		if st.Members[name].RaftAddr == string(id) {
			return name + " (" + string(id) + ")"
		}
	}
	return string(id)
}
