// Package ha is Conclave's decision loop. Each turn it observes the
// replicated state and the local PostgreSQL, calls Decide, a pure function
// from that Observation to a Plan, and then executes the Plan through small
// interfaces (Cluster, Postgres, Clock) that cmd adapts to raftstore and
// pgctl. ha never imports raft, net/http or pgctl.
//
// The safety arguments live next to the code that keeps them:
//   - lease.go: never two writable primaries (DESIGN.md rule 1);
//   - renew.go: the lease renewed while PostgreSQL runs slow steps, and
//     never for a loop that stopped making progress;
//   - failsafe.go: failsafe heartbeats and takeovers never overlap;
//   - decide.go: initdb once per cluster (rule 3), no silent streaming of a
//     diverged history (rule 4), hands off when paused (rule 5).
package ha
