// Package config owns Conclave's agent configuration file: a YAML document
// with patroni.yml's key names (with a raft: section in place of etcd:),
// the PATRONI_*/CONCLAVE_* environment overrides, defaults and validation.
//
// Parse and Load are pure apart from reading the one file: every problem is
// reported as "file:line: key ...", so an operator can fix the file without
// guessing. Checks that touch the machine (directories, binaries, free ports)
// live in CheckEnvironment, which the agent calls at start.
//
// This package never talks to Raft or PostgreSQL, never creates files or
// directories, and holds no global state. The dynamic (cluster-wide) part of
// the file, bootstrap.dcs, is validated and typed by package fsm.
package config
