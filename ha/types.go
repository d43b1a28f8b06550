package ha

import (
	"context"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Cluster is the replicated state as the loop needs it.
type Cluster interface {
	State() fsm.State
	// Propose commits a command through Raft and returns its index.
	Propose(ctx context.Context, c fsm.Command) (uint64, error)
	// Changed is closed at the next state change.
	Changed() <-chan struct{}
}

// AppendReporter may be implemented by a Cluster: NothingAppended reports
// that a failed Propose certainly appended nothing, so the command can
// never commit (no leader, not the leader). Without it every failure that
// is not an Apply rejection counts as an unknown outcome.
type AppendReporter interface {
	NothingAppended(err error) bool
}

// Postgres drives the local instance. Implementations decide nothing.
type Postgres interface {
	Observe(ctx context.Context) PGStatus
	// Bootstrap runs initdb, writes the configuration, starts the server as
	// a primary and creates the roles; it returns the new system identifier.
	Bootstrap(ctx context.Context) (systemID string, err error)
	// Clone copies the data directory from the given primary (pg_basebackup).
	Clone(ctx context.Context, from fsm.Member) error
	// Start starts PostgreSQL: as a primary when follow is nil, else as a
	// standby of follow (an empty Name means a standby following nobody yet).
	Start(ctx context.Context, follow *fsm.Member) error
	// Follow points a running standby at a new primary.
	Follow(ctx context.Context, primary fsm.Member) error
	// Promote turns the standby into a primary and waits until it accepts
	// writes. It returns the LSN at which the new timeline forked off.
	Promote(ctx context.Context) (switchLSN uint64, err error)
	// MarkTimeline records in the data directory that tenure epoch created
	// timeline by promotion (rule 4: tenures, not LSNs, tell forks apart).
	MarkTimeline(ctx context.Context, timeline int, epoch uint64) error
	// Demote stops a primary at once (immediate shutdown) and restarts it
	// as a standby of primary.
	Demote(ctx context.Context, primary *fsm.Member) error
	// Rewind stops PostgreSQL if it runs and rewinds the data directory onto
	// primary's timeline with pg_rewind.
	Rewind(ctx context.Context, primary fsm.Member) error
	// MoveAside renames the data directory out of the way (never deletes
	// it) so a fresh clone can take its place.
	MoveAside(ctx context.Context) (newPath string, err error)
	// SetSyncStandbys sets synchronous_standby_names so that every listed
	// standby must confirm each commit; an empty list means none, or any
	// standby ('*') when strict. It returns only once PostgreSQL shows the
	// new value (SHOW after the reload), i.e. once it is in effect.
	SetSyncStandbys(ctx context.Context, names []string, strict bool) error
	// Fence stops accepting writes at once (immediate shutdown).
	Fence(ctx context.Context) error
	// Stop shuts PostgreSQL down cleanly.
	Stop(ctx context.Context) error
	// SyncSlots makes the primary's physical replication slots one per
	// member (by name) plus the permanent ones, dropping the rest.
	SyncSlots(ctx context.Context, members []string, permanent []string) error
}

// Watchdog fences PostgreSQL from outside the agent: armed with the moment
// this node stops trusting its lease, it stops PostgreSQL at that moment
// unless re-armed first, even when the agent process is paused or dead.
type Watchdog interface {
	Arm(until time.Time) error
	Disarm() error
}

// NoWatchdog is used when no watchdog is configured.
type NoWatchdog struct{}

func (NoWatchdog) Arm(time.Time) error { return nil }
func (NoWatchdog) Disarm() error       { return nil }

// Clock gives time; Now must carry a monotonic reading. Tests inject fakes.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// DataDirState says what is in PostgreSQL's data directory.
type DataDirState int

const (
	DataDirUnknown DataDirState = iota
	DataDirMissing
	DataDirEmpty
	DataDirValid
	DataDirInvalid
)

// PGStatus is what the loop knows about the local PostgreSQL.
type PGStatus struct {
	DataDir     DataDirState
	SystemID    string // from the running server or pg_controldata
	Running     bool
	InRecovery  bool
	Timeline    int
	WALPosition uint64 // primary: current; standby: max(received, replayed)
	ReceivedLSN uint64
	ReplayedLSN uint64
	Streaming   bool   // WAL receiver streaming
	Following   string // member name the standby configuration points at
	// Unmanaged: postgresql.conf was not written by Conclave yet, so the
	// server runs on its owner's configuration (a cluster being taken over).
	Unmanaged bool
	// ForeignConfig is the running server's config_file when it is not the
	// data directory's postgresql.conf (a Debian-style /etc layout):
	// nothing Conclave writes would take effect.
	ForeignConfig string
	// ForkLSN is where the current timeline forked off its parent, from its
	// timeline history file (0 on timeline 1 or when unknown).
	ForkLSN uint64
	// TimelineEpoch is the leader tenure that created the current timeline
	// by promotion, from the data directory's marker (0 when unknown: no
	// marker, or one for another timeline).
	TimelineEpoch uint64
	// StreamProblem classifies the last replication error in the
	// PostgreSQL log of a standby that is not streaming; StreamDetail is
	// that log line, shortened.
	StreamProblem StreamProblem
	StreamDetail  string
	// PendingRestart reports parameters that need a restart.
	PendingRestart bool
	// Rewind says whether an earlier pg_rewind did not complete (a marker
	// outside the data directory: ha/rewind_marker.go).
	Rewind RewindLeft
	// BootstrapCutShort: a custom bootstrap's restore or its recovery to the
	// target did not complete (a marker outside the data directory:
	// ha/bootstrap_marker.go).
	BootstrapCutShort bool

	ServerVersion int // server_version_num of the running server (0 = unknown)
	// StartedAt is the running server's pg_postmaster_start_time() (zero
	// when it is not running or the read failed).
	StartedAt time.Time
	// SyncStandbys are the names in synchronous_standby_names (primary);
	// SyncAny is true for '*'.
	SyncStandbys []string
	SyncAny      bool
	// Replicas are the primary's pg_stat_replication rows.
	Replicas []Replica
	Err      error // last observation error, for the log
}

// StreamProblem is why a standby does not stream, as its log tells.
type StreamProblem int

const (
	// StreamOK: streaming, or no error that retrying cannot fix.
	StreamOK StreamProblem = iota
	// StreamWALRemoved: the primary removed WAL the standby still needs.
	StreamWALRemoved
	// StreamTimeline: the primary's timeline history does not contain the
	// standby's (not a child, behind, or a starting point it never had).
	StreamTimeline
)

// Replica is one standby connected to the local primary.
type Replica struct {
	Name      string // application_name
	State     string // streaming, catchup…
	SyncState string // async, sync, potential, quorum
	FlushLSN  uint64
}

// Tags are this node's own tags from its configuration.
type Tags struct {
	NoFailover       bool
	NoSync           bool
	FailoverPriority int
	// CloneWithoutLeader: a create_replica_methods entry has no_leader
	// (Patroni's no_master), so a member without data may be created (from
	// the backup repository) while no primary runs.
	CloneWithoutLeader bool
}

// Observation is everything Decide looks at.
type Observation struct {
	Self   string
	Now    time.Time
	State  fsm.State
	Config fsm.DynamicConfig
	PG     PGStatus
	Tags   Tags
	Lease  LeaseView
	// LiveMembers are members whose reports kept arriving within a TTL,
	// measured on this node's monotonic clock.
	LiveMembers map[string]bool
	// MemberSilence is how long each member has not reported, on the same
	// clock (absent: not observed yet). See ha/members.go.
	MemberSilence map[string]time.Duration
	// PrimaryDownSince is when this leader's PostgreSQL was first seen down
	// (zero when it runs or this node does not lead).
	PrimaryDownSince time.Time
	// RewindFailed is set when pg_rewind onto the current leader failed.
	RewindFailed bool
	// NotStreamingSince is when this running standby was first seen not
	// streaming (zero while it streams or is not a running standby).
	NotStreamingSince time.Time
	// StuckRewound is set when a standby that did not stream was already
	// rewound onto the current leader once (see decideStuck).
	StuckRewound bool
	// RewindPending is set when the last pg_rewind did not complete (it
	// may have rewritten part of the data directory): the stopped
	// PostgreSQL is rewound again, or moved aside, before it starts.
	RewindPending bool
	// StuckMovedAside is set when the stuck-standby repair already moved
	// the data directory aside under the current leader tenure.
	StuckMovedAside bool
	// HistoryPending is set while the entry of this leader's promotion is
	// not recorded yet (its proposal failed); the leader proposes it again.
	HistoryPending bool
	// FailsafeLeader is the member whose failsafe heartbeat this node
	// accepted within the last ttl ("" if none).
	FailsafeLeader string
	// SyncAddedAt is the primary's WAL position read after PostgreSQL was
	// seen waiting for each standby of synchronous_standby_names (absent
	// until then; see syncAdded).
	SyncAddedAt map[string]uint64
	// SyncInDoubt is set while a SwapSync of this node may still change
	// the recorded set without this state showing it (see syncFence).
	SyncInDoubt bool
	// SyncLegacyDoubt names the standbys an unversioned SetSync of this
	// tenure whose outcome is unknown may still record (see syncFence).
	SyncLegacyDoubt []string
	// RaftServers are the IDs of the Raft configuration's servers, for the
	// protocol gates (Observation.Supports); nil when the Cluster does not
	// list them.
	RaftServers []string

	// KeyChangedAt is when this node first saw the leader key at its
	// current index (monotonic); a hand-over's window counts from it.
	KeyChangedAt time.Time
	// PendingDueSince is when this node, holding the key with its primary
	// running, first found the pending request due (its own clock; zero
	// when none is, or not yet): waits for a candidate count from it
	// (switchover.go). PendingUnconnected are the members it saw without a
	// streaming row in its pg_stat_replication since then.
	PendingDueSince    time.Time
	PendingUnconnected map[string]bool
	// PendingFailed: this node, as holder, tried to carry out the pending
	// request and failed (ha/switchover.go); it is cancelled.
	PendingFailed bool

	// Operation is the operator's request this turn answers (operations.go).
	Operation Operation

	// AwaitedServers are the Raft servers' addresses (voters and
	// non-voters) while a takeover or a rebuild needs them (nil when not
	// read or not known; takeover.go).
	AwaitedServers []string
	// AwaitedUnknown: the servers are needed but were never read (their
	// read failed or listed none); nobody counts as having reported then.
	AwaitedUnknown bool

	// PromoteBackoff is set for a ttl after pre_promote vetoed this node's
	// promotion: it is no candidate meanwhile (ha/prepromote.go).
	PromoteBackoff bool
}
