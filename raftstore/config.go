package raftstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/fsm"
)

// Defaults for zero Config fields.
//
// The Raft timeouts are far below hashicorp/raft's (1 s heartbeat, 1 s
// election, 500 ms lease, 50 ms commit): Conclave runs on a loopback or LAN
// link between a handful of nodes and wants a dead Raft leader replaced in
// about a second, so the HA loop can act in seconds. A spurious election is
// cheap: it costs a little write latency, never safety, because Raft's own
// leader lease does not decide who may run a writable PostgreSQL primary.
// That is the job of the PostgreSQL leader key in the FSM, whose lease is
// measured with monotonic clocks (DESIGN.md, safety rule 1).
const (
	DefaultHeartbeatTimeout   = 500 * time.Millisecond
	DefaultElectionTimeout    = 500 * time.Millisecond
	DefaultLeaderLeaseTimeout = 250 * time.Millisecond
	DefaultCommitTimeout      = 20 * time.Millisecond
	DefaultSnapshotThreshold  = 4096
	DefaultSnapshotInterval   = 60 * time.Second
	DefaultTrailingLogs       = 4096

	defaultFormationInterval = 500 * time.Millisecond
	defaultFormationLogEvery = 10 * time.Second
)

// Config configures a Store. Zero fields take the defaults above.
type Config struct {
	// Scope is the cluster name. Formation and join refuse peers of another scope.
	Scope string
	// Name is the member name, for logs and join requests.
	Name string
	// DataDir holds raft.db (log and stable store) and snapshots/. It is
	// created with mode 0700 when missing.
	DataDir string
	// Addr is this node's host:port (raft.self_addr). It is also its Raft
	// server ID, so every node derives the same bootstrap configuration
	// from its own config file. Spell it the same way everywhere.
	Addr string
	// Partners are the other members' addresses (raft.partner_addrs).
	Partners []string
	// Secret (raft.password), when set, authenticates every connection to
	// the Raft port, Raft's own traffic included, by an HMAC
	// challenge/response (auth.go); it never crosses the wire.
	Secret string
	// TLS, when set, turns on mutual TLS on the Raft port: it must hold
	// this node's certificate (Certificates) and the CA that signs every
	// member (RootCAs).
	TLS *tls.Config
	// Logger is the parent logger; Raft logs under Logger.Named("raft").
	Logger hclog.Logger

	// Raft timing; zero → 500 ms, 500 ms, 250 ms, 20 ms (see the defaults'
	// comment for why they are short).
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration

	// Snapshots; zero → 4096 entries, 60 s, 4096 trailing entries.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64

	// SystemID is this node's PostgreSQL system identifier, if it has a data
	// directory; formation sends it in its join request for ValidateJoin.
	SystemID string

	// WasMember tells that this host ran a member of a Conclave cluster
	// before: the agent found a PostgreSQL data directory it configured.
	// Such a node without Raft state lost it rather than being new, so
	// formation bootstraps only once every configured server answers and
	// none holds state, on this node and on every partner that hears it in
	// hello (FORMATION.md, "A node that lost its Raft state").
	WasMember bool

	// ValidateJoin, when set, is called on the Raft leader before a node is
	// added as a voter; an error refuses the join with its message.
	ValidateJoin func(req JoinRequest, st fsm.State) error

	// PrepareReplace, when set, builds the state that replaces current on
	// `conclave raft snapshot restore` (kind ReplaceRestore, restored from
	// the file) and `conclave remove` (ReplaceForget); an error refuses it.
	// It runs on the Raft leader (snapshot.go).
	PrepareReplace func(kind string, current, restored fsm.State) (fsm.State, error)

	// Listener, when set, is used instead of listening on Addr; it must
	// accept connections for Addr. Close closes it.
	Listener net.Listener
	// Dial, when set, opens every outgoing connection (Raft's transport and
	// Conclave RPC) instead of a plain TCP dial. Fault-injection tests
	// (raftstore/rafttest) wrap connections here to cut or delay links.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// FormationInterval is how often a node without Raft state says hello
	// to its partners (default 500 ms); FormationLogEvery rate-limits the
	// repeated formation warnings (default 10 s). Tests shorten both.
	FormationInterval time.Duration
	FormationLogEvery time.Duration
}

// JoinRequest asks the leader to add a voter.
type JoinRequest struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Name     string `json:"name"`
	Scope    string `json:"scope"`
	SystemID string `json:"system_id,omitempty"`
}

// Server is one entry of the Raft configuration.
type Server struct {
	ID     string `json:"id"`
	Addr   string `json:"addr"`
	Voter  bool   `json:"voter"`
	Leader bool   `json:"leader"`
}

// Stats is a snapshot of this node's Raft status.
type Stats struct {
	State        string        // Follower, Candidate, Leader, Shutdown
	Term         uint64        // current term
	CommitIndex  uint64        // highest index known committed
	AppliedIndex uint64        // highest index handed to the FSM
	LastLogIndex uint64        // last index in the log (or snapshot)
	LastContact  time.Duration // since the leader was last heard; 0 on the leader or when never
	Leader       string        // leader address, "" when unknown
	NumPeers     int           // servers in the configuration other than this one
	Voters       int           // voters in the configuration
	// LeaderChanges counts the leaders this node learned of since it
	// started (each new known leader once).
	LeaderChanges uint64
	// ClusterID names the cluster whose log this node holds ("" until one
	// is minted; clusterid.go).
	ClusterID string
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setDur(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	setDur(&c.ElectionTimeout, DefaultElectionTimeout)
	setDur(&c.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	setDur(&c.CommitTimeout, DefaultCommitTimeout)
	setDur(&c.SnapshotInterval, DefaultSnapshotInterval)
	setDur(&c.FormationInterval, defaultFormationInterval)
	setDur(&c.FormationLogEvery, defaultFormationLogEvery)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Scope == "" {
		errs = append(errs, errors.New("scope is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("raft.data_dir is required"))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("raft.self_addr %q: %w", c.Addr, err))
	}
	for _, p := range c.Partners {
		if _, _, err := net.SplitHostPort(p); err != nil {
			errs = append(errs, fmt.Errorf("raft.partner_addrs %q: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// serverSet is {Addr} ∪ Partners, sorted and without duplicates: the
// configuration every node bootstraps with.
func (c Config) serverSet() []string {
	seen := map[string]bool{c.Addr: true}
	set := []string{c.Addr}
	for _, p := range c.Partners {
		if !seen[p] {
			seen[p] = true
			set = append(set, p)
		}
	}
	sort.Strings(set)
	return set
}

// partners is Partners without self and duplicates.
func (c Config) partners() []string {
	var out []string
	for _, a := range c.serverSet() {
		if a != c.Addr {
			out = append(out, a)
		}
	}
	return out
}
