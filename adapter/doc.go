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
package adapter
