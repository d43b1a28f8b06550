package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// A join that reuses the name of a member that still runs, from another
// Raft address, is refused (joinCluster): the new node's agent would
// publish its record under that name, over the running member's, and a
// node named like the key holder reads the key as its own (ha.Lease.View
// compares names). A database node checks the name's silence; the witness,
// which has no HA loop to measure it, answered "not live" for every name,
// so the same join through a witness's REST API was accepted.
func TestJoin_ThroughTheWitness_RefusesTheNameOfARunningMember(t *testing.T) {
	c := rafttest.New(t, 1)
	store := c.Leader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := store.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "node1", RaftAddr: "127.0.0.1:1", Role: fsm.RolePrimary, State: "running"}}); err != nil {
		t.Fatal(err)
	}
	w := &Witness{cfg: &config.Config{Scope: rafttest.Scope, Name: "witness"}, log: hclog.NewNullLogger(), store: store}
	_, err := witnessMembership{w}.Join(ctx, api.JoinRequest{Name: "node1", Scope: rafttest.Scope, RaftAddr: "127.0.0.1:2"})
	if !errors.Is(err, api.ErrMembershipConflict) {
		t.Fatalf("join of a second node1 through the witness: %v, want a conflict", err)
	}
}

// A node may not join under the key holder's name from another address,
// even when the holder's record has been silent (a database node's live
// check would let it through): the holder may still be renewing in the
// background, and the new node would read the key as its own.
func TestJoin_UnderTheKeyHoldersName_IsRefusedHoweverSilentItsRecord(t *testing.T) {
	c := rafttest.New(t, 1)
	store := c.Leader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, cmd := range []fsm.Command{
		fsm.UpsertMember{Member: fsm.Member{Name: "node1", RaftAddr: "127.0.0.1:1", Role: fsm.RolePrimary, State: "running"}},
		fsm.AcquireLeader{Member: "node1", TTL: 30, ProposedAt: time.Now().UTC()},
	} {
		if _, err := store.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	silent := func(string) bool { return false }
	cfg := &config.Config{Scope: rafttest.Scope, Name: "node2"}
	_, err := joinCluster(ctx, store, cfg, hclog.NewNullLogger(), silent, api.JoinRequest{Name: "node1", Scope: rafttest.Scope, RaftAddr: "127.0.0.1:2"})
	if !errors.Is(err, api.ErrMembershipConflict) || !strings.Contains(err.Error(), "holds the leader key") {
		t.Fatalf("join under the silent holder's name: %v, want a conflict naming the leader key", err)
	}
}
