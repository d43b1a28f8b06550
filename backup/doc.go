// Package backup drives the backup tool beside PostgreSQL: today
// pgBackRest (stanza-create, check, info), plus the Patroni-style replica
// and bootstrap method commands (argument lists and how they are run).
//
// It is a leaf: it imports no other package of ours, runs programs only
// through its Runner (pgctl.ExecRunner satisfies it), and decides nothing.
// It never touches a data directory itself: the methods' commands create
// it, and package pgctl/adapter own everything around them (moving a
// directory aside, signal files, configuration). Keeping the tool behind
// this package is what leaves room for WAL-G: a second tool is a second
// type with the same verbs, once callers take an interface instead of
// PgBackRest (DESIGN.md, "A second backup tool").
package backup
