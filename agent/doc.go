// Package agent assembles one Conclave node: the Raft store, the PostgreSQL
// adapter, the watchdog, the HA loop and the REST API. New builds it from the
// parsed configuration file; Run starts the parts in order and stops them in
// reverse; Shutdown stops PostgreSQL and gives the leader key back.
//
// It owns: wiring, the parsed dynamic configuration handed to the adapter,
// SIGHUP reloads, waking the loop when the postmaster dies.
// It must never: take HA decisions (package ha) or drive PostgreSQL directly
// (package adapter); cmd/conclave only parses flags and calls New and Run.
package agent
