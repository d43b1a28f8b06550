// Package watchdog is the software watchdog: the part of safety rule 1
// (never two writable primaries) that must hold while the agent itself is
// paused or dead. It owns the watchdog process (Serve, run by the hidden
// `conclave watchdog` subcommand), the deadline-file protocol, and the
// agent's side of it (Start, Writer.Arm/Disarm/Stop). It must never start or
// restart PostgreSQL, decide anything about the lease (package ha does), or
// import ha, raftstore or api.
//
// The ha loop trusts its lease until sentAt + TTL - FenceMargin and its lease
// guard goroutine fences PostgreSQL (immediate shutdown) at that moment. A
// goroutine cannot act while its process is stopped (SIGSTOP, a long stall)
// or after it died, and PostgreSQL, started detached with pg_ctl, keeps
// accepting writes meanwhile. So the same deadline is also handed to a
// separate process, which enforces it on its own:
//
//   - Deadline file protocol. The agent writes (temp file + rename, so a
//     reader sees either the old or the new value, never a torn one) the
//     absolute CLOCK_MONOTONIC deadline in nanoseconds, computed as
//     nowMono + time.Until(until); "0" means disarmed. CLOCK_MONOTONIC is one
//     clock for the whole system, so both processes agree on it, and neither
//     wall clock nor NTP steps matter. Go's own monotonic readings (carried by
//     the lease's time.Time values) are CLOCK_MONOTONIC on Linux, so
//     time.Until(until) is exact. Deadlines mean nothing across a reboot;
//     nothing survives a reboot here either (see Start).
//   - Every 25 ms the watchdog reads the file. When it is armed, the
//     deadline has passed and the postmaster named by the first line of
//     <data_dir>/postmaster.pid is alive (and, when it can be checked, runs
//     in <data_dir>, so a recycled pid of an unrelated process is left
//     alone), it sends the postmaster SIGQUIT, PostgreSQL's immediate
//     shutdown: every backend exits at once, no checkpoint. It logs that and
//     rewrites the file to "0", so it fires once per arm. A missing or
//     garbled file counts as disarmed (logged once).
//   - Frozen clock. CLOCK_MONOTONIC stands still while the machine is
//     suspended (a paused VM); the rest of the cluster's time does not. Each
//     poll also reads CLOCK_BOOTTIME, which keeps counting through a
//     suspension; when boot time ran ahead of monotonic time by more than the
//     trust the deadline had left, it fences at once (runner.check has the
//     argument; ReadClocks and SuspendMeter are there for the agent's guard).
//   - Timing. The agent arms at every renewal with the lease's trust
//     deadline, FenceMargin (750 ms) before any other node may take over, so
//     the watchdog's 25 ms poll plus the signal's delivery fit well inside the
//     margin: by the time another node may be promoted, the old postmaster
//     got SIGQUIT and its backends are gone.
//
// Lifetime. The watchdog runs in its own session (setsid) with its output in
// <raft.data_dir>/watchdog.log, and stays running when the agent stops or
// crashes: a crashed leader's last deadline is still enforced. A new agent
// run finds it through <raft.data_dir>/watchdog.pid (kill(pid, 0) and
// /proc/<pid>/cmdline naming "watchdog" and this deadline file) and reuses
// it; the watchdog also holds an flock on the pid file, so a second one for
// the same file exits at once. On a clean shutdown the ha loop disarms it
// when the leader gives its key back (Loop.Shutdown -> dropLease) and the
// agent stops it once PostgreSQL is down. SIGTERM or SIGINT while armed
// fences first (SIGQUIT to the postmaster, whatever the deadline) and then
// exits: the agent is going too, and nothing would enforce the deadline
// after this process. With its data directory or deadline file gone and no
// postmaster running for a minute (a deleted node), it exits by itself.
//
// Configuration. Patroni's watchdog: section (mode, device, safety_margin) is
// parsed by package config but not used here: this watchdog is a
// process-level fence, not /dev/watchdog, and it runs in every mode because
// rule 1 depends on it whenever the agent can be paused. Its margin is the
// ha loop's FenceMargin.
//
// Limits. It is a process of the same user on the same machine: a stall of
// the whole machine stalls it too (the others then see the old primary as
// unreachable, which is the same as fenced; on resume the frozen-clock check
// fences before anything else runs long). The systemd unit in deploy/systemd
// uses KillMode=process so it outlives a crashed agent (DESIGN.md, "Running
// under systemd").
package watchdog
