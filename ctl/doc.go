// Package ctl is Conclave's patronictl-like client: the session that
// reaches the cluster (through the local agent or, when it is down, another
// member), member selection, the tables and formats it prints, the
// terminal's questions, and each verb's behaviour.
//
// Every verb is a function that takes a context, an Env (the configuration
// loader, the positionals and the terminal) and the verb's options, and
// returns an error; an error in how the verb was called is a UsageError.
// ctl never parses flags and never exits the process: cmd/conclave reads
// the command line into these parameters and decides the exit code.
package ctl
