// Package pgctl drives one local PostgreSQL instance: initdb, pg_ctl
// (start, stop, restart, reload, promote), pg_basebackup, pg_rewind,
// pg_controldata, the configuration files in the data directory, and SQL
// probes and administration through pgx.
//
// It owns the mechanics, never the decisions: it does not know about Raft,
// leases or other members' health, and it imports no other package of
// Conclave. The ha package decides what to do; cmd adapts an *Instance to
// ha's Postgres interface.
//
// Rules it keeps:
//   - Every binary runs through a Runner (exec.CommandContext in production,
//     a recording fake in tests). Errors carry the last lines of stderr.
//   - It never overwrites data: Initdb and Basebackup refuse a data
//     directory that is not missing or empty (ErrNotEmpty) and on failure
//     remove only what they created.
//   - Start refuses when a live postmaster owns the directory
//     (ErrAlreadyRunning). The postmaster is detached by pg_ctl, so an agent
//     crash does not take PostgreSQL down.
//   - Stop returns only once the postmaster's PID is gone, so pg_rewind or
//     Start may follow at once (a stale postmaster.pid makes them fail).
//   - Promote waits until pg_is_in_recovery() is false, then CHECKPOINTs,
//     so pg_rewind against the new primary sees its new timeline.
//   - postgresql.conf, pg_hba.conf and standby.signal are written
//     atomically by WriteConfig; pg_rewind copies the source's files, so
//     callers rewrite them after Rewind. wal_log_hints is always on.
//   - Passwords never appear on a command line: binaries get them through a
//     0600 pgpass file (PGPASSFILE), initdb through a temporary --pwfile, and
//     role passwords are set with statement logging off.
//
// All SQL text is in queries.go.
package pgctl
