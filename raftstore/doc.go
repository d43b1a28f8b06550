// Package raftstore owns this node's *raft.Raft: the raft-boltdb log and
// stable store (raft.db, log behind a 512-entry LogCache), the file snapshot
// store (snapshots/, 3 kept), the TCP transport, first formation, join (as
// a non-voter, promoted once caught up, at most MaxVoters voters: voters.go),
// removal and leave, the vote withheld by a node without Raft state until it
// caught up (voteguard.go), join.json and left.json (joinfile.go), proposing commands (forwarded to the leader from any
// node), linearizable reads, leadership events and stats.
//
// It must never know what a PostgreSQL primary is: it replicates fsm
// commands and answers membership requests, nothing more. It never applies
// a command on a follower, and never bootstraps a node that has Raft state.
//
// # One port, two protocols
//
// Raft and Conclave RPC share raft.self_addr. Raft's net transport starts
// every connection with an RPC type byte (0..4); a Conclave RPC connection
// starts with the magic byte 0xC7, then carries one JSON request (at most
// 4 MiB) and gets one JSON response. The listener peeks at the first byte
// of each accepted connection in its own goroutine (with a deadline), so a
// silent or garbage-sending client never blocks Accept or crashes anything.
// Operations: hello, propose, join, remove, check_remove, read_index,
// snapshot_save, replace_state. With Config.Secret or Config.TLS set, every connection is
// authenticated before its first byte is classified (auth.go), Raft's own
// replication traffic included.
//
// # First formation
//
// A node with Raft state (raft.HasExistingState) never bootstraps: it just
// starts. A node without state says hello to every partner about every
// 500 ms until it has state or ctx is done:
//
//  1. If a reachable partner of the same scope has Raft state, the cluster
//     exists: it asks that partner to join it (ID = address; the partner
//     forwards to the leader) and retries until entries arrive. It enters
//     as a non-voter and withholds its vote until caught up (voteguard.go).
//  2. Otherwise it bootstraps only when a strict majority of the configured
//     set {self} ∪ partners (counting itself) is reachable, every reachable
//     partner reports the same scope and exactly the same set, and none has
//     state; when this node or a reachable partner lost its Raft state
//     (Config.WasMember), every server of the set must answer instead. It
//     then calls BootstrapCluster with that set (IDs = addresses, all
//     voters), the identical call every other node makes, which
//     hashicorp/raft documents as safe.
//  3. A partner of another scope, with a different set, or refusing our
//     secret blocks bootstrapping; it is logged about every 10 s.
//
// A refused join (other scope, Config.ValidateJoin) is retried, and reported
// by JoinRejected so the caller can stop. A node with no partners bootstraps
// a one-node cluster at once, unless it lost its Raft state (WasMember): a
// node added with `conclave join` may have no partners, and alone it would
// split from its cluster.
//
// Two halves of a partitioned set cannot both form a cluster: each would
// need a strict majority of the one set they agree on, and two disjoint
// halves cannot both hold one. The nodes that do bootstrap all use the
// identical configuration, so they form a single cluster. See FORMATION.md.
//
// # Writes and reads
//
// Propose encodes with fsm.Encode and applies on the leader, or forwards
// over Conclave RPC; while there is no leader it retries every 50-100 ms
// until ctx is done. A rejection by the FSM is ErrRejected wrapping the FSM
// sentinel, rebuilt with fsm.ErrorFromCode when it crossed the wire.
// ErrUnknownOutcome means the entry may have been committed.
//
// LinearizableState is a Raft read-index: the leader commits one Barrier per
// term (so it has applied everything earlier leaders committed), confirms
// its leadership with VerifyLeader and returns its FSM applied index; a
// follower waits until its own FSM has applied as far.
package raftstore
