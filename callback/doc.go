// Package callback runs the user's scripts around PostgreSQL events, as
// Patroni does: postgresql.callbacks (on_start, on_stop, on_restart,
// on_reload, on_role_change) are called as `SCRIPT action role scope` and
// never block the HA loop; postgresql.pre_promote runs synchronously before
// a promotion and may veto it; postgresql.before_stop runs synchronously
// before a clean stop and cannot prevent it.
//
// It owns the script processes (Runner) and the one place the events are
// emitted (Postgres, a decorator of ha.Postgres: every start, stop,
// promotion and demotion the HA loop asks for passes through it). It must
// never decide anything about the lease or the roles (package ha does) and
// never let a script delay a fence: a fence runs no script before it.
package callback
