// Package integration holds tests that start real conclave processes and
// real PostgreSQL 15 on loopback (and, for network faults, in network
// namespaces the tests create and remove). They run with the build tag
// `integration` (make test runs them). Agents run as the postgres OS user
// when the tests run as root, since PostgreSQL refuses to run as root.
package integration

// Running in parallel
//
// newCluster calls runParallel (parallel_test.go), so every test that
// builds a cluster runs beside the others, go test -parallel N at a time
// (the Makefile's INTEGRATION_PARALLEL); a test that builds its cluster by
// hand calls runParallel(t) itself. Do not call t.Parallel in a test that
// uses newCluster (runParallel does it once; a second call would be logged
// and ignored) and do not use t.Setenv there (it keeps the test serial).
//
// Everything a test creates outside its own folders has a name no other
// running test uses: ports come from one counter (freePort), scopes are
// numbered (uniqueScope), test-bed namespaces and veth links carry a prefix
// claimed once per process and absent from `ip netns list` (claimPrefix),
// and nft tables live inside the test's own namespaces.
//
// clusterOptions{serial: true} keeps a test serial. Go runs the serial
// tests first, one at a time, while the parallel ones wait, so a serial test
// never shares the machine with another test of the suite. A test is serial
// when it asserts a deadline that CPU contention stretches without any
// fault in Conclave: a fencing deadline (quorum loss, watchdog, /primary
// 503, paused primary without quorum), an RTO bound (assertRTO), a restart
// that must beat the lease, or a node that must keep taking writes every
// second. Its safety checks (never two writable nodes, no acknowledged write
// lost) are the same either way; parallel tests keep theirs too, and their
// bounds are waits (scaled, generous) or several seconds above what they
// measure (the lease tests' ttl + 7 s).
