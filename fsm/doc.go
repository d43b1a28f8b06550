// Package fsm holds Conclave's replicated state: the initialize key (the
// PostgreSQL system identifier), the leader key with its lease, the member
// list, the dynamic configuration, the synchronous standby set, the timeline
// history and pending operations.
//
// Every change is a typed, versioned Command applied through Raft. Apply is
// deterministic: it never reads a clock, a file, the network or a random
// source, and never builds output by iterating a map. Times inside commands
// come from the proposer and are for display only; lease expiry is decided by
// the proposer with its own monotonic clock before it proposes (see
// DESIGN.md, safety rule 1), and Apply only checks the compare-and-swap.
package fsm
