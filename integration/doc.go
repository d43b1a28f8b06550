// Package integration holds tests that start real conclave processes and
// real PostgreSQL 15 on loopback (and, for network faults, in network
// namespaces the tests create and remove). They run with the build tag
// `integration` (make test runs them). Agents run as the postgres OS user
// when the tests run as root, since PostgreSQL refuses to run as root.
package integration
