// Package adapter implements ha.Postgres on pgctl: it merges the local and
// dynamic configuration into the files PostgreSQL reads, renders
// synchronous_standby_names, and caches the last full status for the REST
// API.
//
// It owns: every change this agent makes to the local PostgreSQL (start,
// stop, promote, rewind, clone, config files, reload).
// It must never: decide anything (that is package ha), talk to Raft, or be
// imported by ha or pgctl (ha and pgctl do not import each other; this
// package is the only place they meet).
//
// Threading model. Several goroutines call in: the HA loop (every
// operation), the lease guard (Fence), the SIGHUP reload (SetLocalConfig),
// the agent's shutdown (Stop), the REST API (Last) and the postmaster watcher
// (PostmasterRunning). One mutex, Postgres.ops, serializes every operation
// that changes PostgreSQL or its files, so two goroutines never write
// postgresql.conf / pg_hba.conf at once and a reload never rewrites the files
// in the middle of a promote or a rewind. The local configuration is an
// immutable *config.Config snapshot, replaced whole under ops by
// SetLocalConfig and never modified in place. Fence is the one changing
// operation outside ops, on purpose: safety rule 1 needs it to act while the
// loop is blocked in a slow step (crash recovery, promote, checkpoint). It
// writes nothing and reads no configuration; it asks pg_ctl for an immediate
// shutdown of whatever postmaster runs, and a Start in progress then gives
// up its retries rather than bring PostgreSQL back behind the fence. A Start
// whose pg_ctl was already past that point can still bring a postmaster up
// after a fence: the caller (ha) checks its lease again after every start.
package adapter
