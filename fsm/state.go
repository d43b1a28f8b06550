package fsm

import (
	"encoding/json"
	"sort"
	"time"
)

// Roles a member reports, as Patroni names them in /cluster.
const (
	RolePrimary       = "primary"
	RoleReplica       = "replica"
	RoleUninitialized = "uninitialized"
	// RoleWitness is a witness's record (`conclave witness`): a Raft voter
	// with no PostgreSQL. It is never a candidate (CandidateProblem: not a
	// replica; tag nofailover) and the primary keeps no slot for it.
	RoleWitness = "witness"
)

// State is the whole replicated state. Readers always get a deep copy.
type State struct {
	// Index is the Raft index of the last applied entry.
	Index uint64 `json:"index"`
	// Initialize is nil until a member claims the right to run initdb.
	Initialize *Initialize `json:"initialize,omitempty"`
	// Leader is the holder of the primary role, nil when the cluster is unlocked.
	Leader *Leader `json:"leader,omitempty"`
	// LeaderIndex is the Raft index at which the leader key last changed
	// (acquired, renewed or released); AcquireLeader compares against it.
	LeaderIndex uint64            `json:"leader_index"`
	Members     map[string]Member `json:"members"`
	// Config is the dynamic configuration as the user wrote it (Patroni's
	// bootstrap.dcs / PATCH /config document). ParseDynamicConfig gives the typed view.
	Config      map[string]any `json:"config,omitempty"`
	ConfigIndex uint64         `json:"config_index"`
	Sync        Sync           `json:"sync"`
	History     []HistoryEntry `json:"history,omitempty"`
	Pending     *Pending       `json:"pending,omitempty"`
	// ClusterID names this Raft history (fsm/clusterid.go); "" until the
	// first SetClusterID is applied.
	ClusterID string `json:"cluster_id,omitempty"`
}

// Initialize is the initialize key. SystemID is empty while the claiming
// member is still running initdb.
type Initialize struct {
	Member   string `json:"member"`
	SystemID string `json:"system_id,omitempty"`
}

// Leader is the leader key. Epoch is the Raft index at which Member acquired
// it and serves as the fencing token of this tenure.
type Leader struct {
	Member     string    `json:"member"`
	Epoch      uint64    `json:"epoch"`
	TTL        int       `json:"ttl"`
	AcquiredAt time.Time `json:"acquired_at"`
	RenewedAt  time.Time `json:"renewed_at"`
}

// Member is what one agent last reported about itself.
type Member struct {
	Name           string         `json:"name"`
	APIURL         string         `json:"api_url"`
	Host           string         `json:"host"`
	Port           int            `json:"port"`
	Role           string         `json:"role"`
	State          string         `json:"state"`
	Timeline       int            `json:"timeline,omitempty"`
	WALPosition    uint64         `json:"wal_position,omitempty"`
	ReceivedLSN    uint64         `json:"received_lsn,omitempty"`
	ReplayedLSN    uint64         `json:"replayed_lsn,omitempty"`
	Tags           map[string]any `json:"tags,omitempty"`
	PendingRestart bool           `json:"pending_restart,omitempty"`
	Version        string         `json:"version,omitempty"`
	ServerVersion  int            `json:"server_version,omitempty"`
	SystemID       string         `json:"system_id,omitempty"`
	RaftAddr       string         `json:"raft_addr,omitempty"`
	UpdatedAt      time.Time      `json:"updated_at"`
	// Problem says briefly why a replica is not streaming (for example
	// "requested WAL segment ... has already been removed"); "" when it
	// streams or nothing is known. Patroni's clients ignore the field.
	Problem string `json:"problem,omitempty"`
	// Protocol is the highest protocol level the member's agent applies
	// (ProtocolSwapSync, ...); 0 for agents older than the field.
	Protocol int `json:"protocol,omitempty"`
	// ScheduledRestart is set while a restart is scheduled on the member.
	ScheduledRestart *ScheduledRestart `json:"scheduled_restart,omitempty"`

	// Slots are the members whose physical replication slot this member,
	// as the leader, last made sure exist on its PostgreSQL. A standby
	// being taken over is told to use its slot only once listed here.
	Slots []string `json:"slots,omitempty"`
	// Takeover says what taking over this member's running PostgreSQL is
	// waiting for ("" when nothing is being taken over).
	Takeover string `json:"takeover,omitempty"`
	// DataUnknown: the agent could not read its data directory (e.g. a
	// permission or I/O error), so the record cannot say whether it holds
	// the cluster's data. The rebuild, the takeover and the bootstrap of a
	// member without data wait for it as for a member that never reported.
	DataUnknown bool `json:"data_unknown,omitempty"`
	// UpdatedIndex is set by Apply: the Raft index of this report.
	UpdatedIndex uint64 `json:"updated_index"`
}

// Tag reports a boolean tag such as nofailover or nosync.
func (m Member) Tag(name string) bool {
	v, ok := m.Tags[name].(bool)
	return ok && v
}

// Sync is the set of synchronous standbys the primary may rely on. It is
// written before the primary lists them in synchronous_standby_names.
type Sync struct {
	Leader  string   `json:"leader,omitempty"`
	Members []string `json:"members,omitempty"`
	// Version is the Raft index of the last SwapSync that changed Sync (0
	// before any). SwapSync compares against it. The old SetSync leaves it
	// alone, so every node computes the same Version whether it replayed
	// SetSync entries or restored a snapshot an older version wrote.
	Version uint64 `json:"version,omitempty"`
	// SealedEpoch is the last tenure that recorded its set with
	// SwapSyncSealed; SetSync of that tenure is refused (fsm/cas.go). Only
	// SwapSyncSealed sets it; every other sync command keeps it.
	SealedEpoch uint64 `json:"sealed_epoch,omitempty"`
}

// HistoryEntry is one timeline switch, as Patroni's /history shows it.
type HistoryEntry struct {
	Timeline  int       `json:"timeline"`
	LSN       uint64    `json:"lsn"`
	Reason    string    `json:"reason"`
	Timestamp time.Time `json:"timestamp"`
	NewLeader string    `json:"new_leader"`
	// Epoch is the leader tenure (the leader key's epoch) that promoted.
	// Two tenures can each fork a timeline numbered Timeline+1 from the same
	// parent (an asynchronous primary that died before anyone followed it),
	// so the number alone does not name a history; the epoch does. Zero in
	// entries written before this field existed.
	Epoch uint64 `json:"epoch,omitempty"`
}

// Pending is a requested switchover or failover.
type Pending struct {
	Kind        string     `json:"kind"` // "switchover" or "failover"
	Leader      string     `json:"leader,omitempty"`
	Candidate   string     `json:"candidate,omitempty"`
	ScheduledAt *time.Time `json:"scheduled_at,omitempty"`
	RequestedAt time.Time  `json:"requested_at"`
	// HandedOverIndex and CheckpointLSN are set by HandOver (fsm/handover.go):
	// the Raft index at which the holder released the key to Candidate, and
	// where its PostgreSQL's shutdown checkpoint starts. Zero otherwise.
	HandedOverIndex uint64 `json:"handed_over_index,omitempty"`
	CheckpointLSN   uint64 `json:"checkpoint_lsn,omitempty"`
}

// SystemID returns the cluster's PostgreSQL system identifier, "" if unset.
func (s State) SystemID() string {
	if s.Initialize == nil {
		return ""
	}
	return s.Initialize.SystemID
}

// LeaderName returns the leader key holder, "" when unlocked.
func (s State) LeaderName() string {
	if s.Leader == nil {
		return ""
	}
	return s.Leader.Member
}

// MemberNames returns the member names in sorted order.
func (s State) MemberNames() []string {
	names := make([]string, 0, len(s.Members))
	for n := range s.Members {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MemberNotIn returns a member of s whose name is not in names, "" when
// every member is (a failsafe heartbeat names the members its sender asked).
func (s State) MemberNotIn(names ...string) string {
	in := make(map[string]bool, len(names))
	for _, n := range names {
		in[n] = true
	}
	for _, n := range s.MemberNames() {
		if !in[n] {
			return n
		}
	}
	return ""
}

// IsSync reports whether name is recorded as a synchronous standby.
func (s State) IsSync(name string) bool {
	for _, m := range s.Sync.Members {
		if m == name {
			return true
		}
	}
	return false
}

// Clone returns a deep copy. State is small, so a JSON round trip is simple
// and copies every nested map and slice.
func (s State) Clone() State {
	b, err := json.Marshal(s)
	if err != nil {
		panic("fsm: state not encodable: " + err.Error())
	}
	var out State
	if err := json.Unmarshal(b, &out); err != nil {
		panic("fsm: state not decodable: " + err.Error())
	}
	if out.Members == nil {
		out.Members = map[string]Member{}
	}
	return out
}
