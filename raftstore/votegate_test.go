package raftstore_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// rawTransport is a bare hashicorp/raft transport for playing other servers
// toward the node at addr; it is closed when the test ends.
func rawTransport(t *testing.T, addr string) (*raft.NetworkTransport, raft.ServerAddress) {
	t.Helper()
	client, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client, raft.ServerAddress(addr)
}

// hdr is the RPC header of a request from the server at addr.
func hdr(addr string) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(addr), Addr: []byte(addr)}
}

// A wiped voter is brought back by a leader in batches (64 entries by
// default). Counting it formed at its first entry let it vote after the
// first batch, on a log that still lacks what the leader had committed: a
// candidate with that much of the log, and none of the rest, won its vote.
// The leader's commit index comes with every batch; the node votes only
// once its log reaches the highest one it was sent.
//
// Here a "leader" (a raw Raft transport) sends the wiped node entries 1..5
// saying it committed up to 10, then stops; a candidate holding exactly
// those five entries asks for the vote.
func TestWipedVoter_PartlyCaughtUp_DoesNotVoteForACandidateMissingCommittedEntries(t *testing.T) {
	ln := rafttest.Listener(t, "127.0.0.1:0")
	leader, candidate := rafttest.DeadAddr(t), rafttest.DeadAddr(t)
	cfg := rafttest.Config(t, "w", ln, []string{ln.Addr().String(), leader, candidate})
	w := rafttest.OpenStore(t, cfg, fsm.New()) // no state, no majority: never bootstraps
	if w.Formed() {
		t.Fatal("setup: the wiped node has state")
	}
	client, target := rawTransport(t, ln.Addr().String())
	var entries []*raft.Log
	for i := uint64(1); i <= 5; i++ {
		entries = append(entries, &raft.Log{Index: i, Term: 2, Type: raft.LogNoop})
	}
	var ar raft.AppendEntriesResponse
	if err := client.AppendEntries(raft.ServerID(w.Addr()), target, &raft.AppendEntriesRequest{
		RPCHeader: hdr(leader), Term: 2, Entries: entries, LeaderCommitIndex: 10,
	}, &ar); err != nil || !ar.Success {
		t.Fatalf("first batch: %v, success %v", err, ar.Success)
	}
	rafttest.WaitFor(t, rafttest.Scaled(2*time.Second), func() error {
		if !w.Formed() {
			return errors.New("no entry stored yet")
		}
		return nil
	})
	var vr raft.RequestVoteResponse
	err := client.RequestVote(raft.ServerID(w.Addr()), target, &raft.RequestVoteRequest{
		RPCHeader: hdr(candidate), Term: 3, LastLogIndex: 5, LastLogTerm: 2, LeadershipTransfer: true,
	}, &vr)
	if err == nil && vr.Granted {
		t.Fatal("the wiped node, sent 5 of the 10 entries its leader had committed, voted for a candidate holding only those 5")
	}
}

// A first formation: node w (no state, withholding, no join answer yet)
// lets a candidate holding only the bootstrap configuration campaign, that
// candidate leads and sends w its entries, then stops before it could
// answer w's join. Had w kept withholding, the candidate, back with those
// entries, could never be elected again: w refuses a candidate with
// entries, and a third node new to the cluster does too. A leader elected
// with nothing past the bootstrap entry means w's vote can lose nothing,
// so its entries end the withholding. A leader w did not see campaign
// that way proves nothing: w keeps withholding.
func TestFirstFormation_LeaderThatCampaignedBare_EndsWithholding(t *testing.T) {
	for _, tc := range []struct {
		name     string
		leader   func(bare, other string) string // who sends the entries in term 2
		commit   uint64                          // the commit index it sends
		wantVote bool
	}{
		{"the bare candidate leads", func(bare, _ string) string { return bare }, 5, true},
		{"the bare candidate leads, nothing of its term committed", func(bare, _ string) string { return bare }, 1, false},
		{"another node leads", func(_, other string) string { return other }, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := rafttest.Listener(t, "127.0.0.1:0")
			bare, other := rafttest.DeadAddr(t), rafttest.DeadAddr(t)
			cfg := rafttest.Config(t, "w", ln, []string{ln.Addr().String(), bare, other})
			w := rafttest.OpenStore(t, cfg, fsm.New())
			if active, target := w.Withholding(); !active || target != 0 {
				t.Fatalf("setup: withholding %v, catch-up index %d; want withholding without an index", active, target)
			}
			client, target := rawTransport(t, ln.Addr().String())
			var vr raft.RequestVoteResponse
			if err := client.RequestVote(raft.ServerID(w.Addr()), target, &raft.RequestVoteRequest{
				RPCHeader: hdr(bare), Term: 2, LastLogIndex: 1, LastLogTerm: 1,
			}, &vr); err != nil || !vr.Granted {
				t.Fatalf("bare campaign: %v, granted %v (the first-formation exception grants it)", err, vr.Granted)
			}
			leader := tc.leader(bare, other)
			entries := []*raft.Log{{Index: 1, Term: 1, Type: raft.LogNoop}}
			for i := uint64(2); i <= 5; i++ {
				entries = append(entries, &raft.Log{Index: i, Term: 2, Type: raft.LogNoop})
			}
			var ar raft.AppendEntriesResponse
			if err := client.AppendEntries(raft.ServerID(w.Addr()), target, &raft.AppendEntriesRequest{
				RPCHeader: hdr(leader), Term: 2, Entries: entries, LeaderCommitIndex: tc.commit,
			}, &ar); err != nil || !ar.Success {
				t.Fatalf("entries from %s: %v, success %v", leader, err, ar.Success)
			}
			err := client.RequestVote(raft.ServerID(w.Addr()), target, &raft.RequestVoteRequest{
				RPCHeader: hdr(leader), Term: 3, LastLogIndex: 5, LastLogTerm: 2,
			}, &vr)
			if granted := err == nil && vr.Granted; granted != tc.wantVote {
				active, _ := w.Withholding()
				t.Fatalf("vote for the returning leader %s with the same entries: granted %v (error %v, withholding %v), want %v",
					leader, granted, err, active, tc.wantVote)
			}
		})
	}
}
