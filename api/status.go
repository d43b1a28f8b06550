package api

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// NodeStatus is this node as the agent last observed it.
type NodeStatus struct {
	Name, Scope string
	// Version is Conclave's version, shown as "patroni": {"version": ...}.
	Version string
	// State is a Patroni state: "running", "stopped", "starting", "stopping",
	// "restarting", "initializing new cluster", "creating replica",
	// "running custom bootstrap script", "crashed", "start failed", "unknown".
	State string
	// Role is the PostgreSQL role: "primary", "replica" or "uninitialized".
	Role string
	// HoldsLeaderKey: this node holds the leader key with a lease it still trusts.
	HoldsLeaderKey bool
	// LeaseTrustLeft: how long it still trusts that lease (0 without one).
	LeaseTrustLeft      time.Duration
	PostmasterStartTime *time.Time
	ServerVersion       int // e.g. 150018
	Timeline            int
	XLogLocation        uint64 // primary: current WAL position
	// Replica: WAL received and replayed, time of the last replayed commit.
	ReceivedLocation, ReplayedLocation uint64
	ReplayedTimestamp                  *time.Time
	ReplayPaused                       bool
	WALReceiverStreaming               bool          // replica: the WAL receiver status is streaming
	Replication                        []Replication // primary: pg_stat_replication rows
	SystemID                           string        // of this node's data directory
	DCSLastSeen                        time.Time     // last time the agent saw the Raft state fresh
	PendingRestart                     bool
	Tags                               map[string]any // nofailover, noloadbalance, clonefrom, nosync, failover_priority...
	LoopLastRun                        time.Time      // last HA loop run
	LoopAliveAt                        time.Time      // for /liveness: the last run, or a report during a long step (a clone)
	LoopInterval                       time.Duration
	Raft                               RaftStatus
	// FailsafeActive: this primary keeps its role through failsafe mode
	// (Raft unavailable, every member acknowledged its heartbeat).
	FailsafeActive bool
	// MemberSilence is how long each member has not reported, measured on
	// this node's monotonic clock (absent: not observed yet). A member
	// silent for longer than ttl is shown stopped with unknown lag (rule 6).
	MemberSilence map[string]time.Duration
	// MemberUnconfirmed lists the members whose report has not changed
	// since this agent started: their record may be hours old, so they are
	// shown stopped until they report once (rule 6).
	MemberUnconfirmed map[string]bool
	// VIP is the floating IP (vip: section), nil without one.
	VIP *VIPStatus
	// Backup is backup health (backup: section), nil without a backup tool.
	Backup *BackupStatus
}

// BackupStatus is the repository's last backup as the agent last read it
// and this node's WAL archiving (pg_stat_archiver), for /patroni "backup"
// and conclave_backup_*.
type BackupStatus struct {
	Stanza           string     `json:"stanza"`
	Backups          int        `json:"backups"`
	LastBackupLabel  string     `json:"last_backup_label,omitempty"`
	LastBackupType   string     `json:"last_backup_type,omitempty"`
	LastBackupTime   *time.Time `json:"last_backup_time,omitempty"`
	RepoChecked      *time.Time `json:"repository_checked,omitempty"`
	RepoError        string     `json:"repository_error,omitempty"`
	ArchiveMode      string     `json:"archive_mode,omitempty"`
	ArchivedCount    int64      `json:"archived_count"`
	FailedCount      int64      `json:"failed_count"`
	LastArchivedWAL  string     `json:"last_archived_wal,omitempty"`
	LastArchivedTime *time.Time `json:"last_archived_time,omitempty"`
	LastFailedTime   *time.Time `json:"last_failed_time,omitempty"`
	ArchiveLagBytes  uint64     `json:"archive_lag_bytes"`
	// ConflictingWAL are segments the repository holds with another
	// checksum than this node received before its last promotion.
	ConflictingWAL []string `json:"conflicting_wal,omitempty"`
}

// VIPStatus is the floating IP and whether this node holds it, for
// /patroni "vip" and conclave_vip_held.
type VIPStatus struct {
	Address   string // address/prefix
	Interface string
	Held      bool
}

// Replication is one pg_stat_replication row.
type Replication struct {
	Usename, ApplicationName, ClientAddr, State, SyncState string
	SyncPriority                                           int
}

// RaftStatus is this node's Raft peer, for conclave_raft_* and /patroni "raft".
type RaftStatus struct {
	State                           string // "Leader", "Follower", "Candidate", "Shutdown"
	Term, CommitIndex, AppliedIndex uint64
	Leader                          string // leader's server ID, "" when unknown
	Voters                          int
	LastContact                     time.Duration
	LeaderChanges                   uint64 // new leaders this node learned of
	Healthy                         bool
	ClusterID                       string // "" until minted (raftstore/clusterid.go)
	// Roles maps each Raft server ID (raft.self_addr) to leader, voter or
	// non-voter, as this node's configuration says.
	Roles map[string]string
}

// view is one consistent read of the Source for one request or scrape.
type view struct {
	node    NodeStatus
	cluster fsm.State
	dyn     fsm.DynamicConfig
}

func (s *Server) read(ctx context.Context) view {
	return newView(s.cfg.Source.Status(ctx), s.cfg.Source.Cluster())
}

// freshRead is read with the replicated state of freshCluster: for the views
// a user acts on (/cluster, a switchover's preconditions).
func (s *Server) freshRead(ctx context.Context) view {
	return newView(s.cfg.Source.Status(ctx), s.freshCluster(ctx))
}

func newView(node NodeStatus, cluster fsm.State) view {
	return view{node: node, cluster: cluster, dyn: dynamicConfig(cluster.Config)}
}

// dynamicConfig is the typed view of raw. A stored document that does not
// parse (written by a newer version, say) still yields the flags we show.
func dynamicConfig(raw map[string]any) fsm.DynamicConfig {
	if c, err := fsm.ParseDynamicConfig(raw); err == nil {
		return c
	}
	c, _ := fsm.ParseDynamicConfig(nil)
	c.Pause, _ = raw["pause"].(bool)
	c.FailsafeMode, _ = raw["failsafe_mode"].(bool)
	c.SynchronousMode, _ = raw["synchronous_mode"].(bool)
	if n, ok := fsm.DynamicInt(raw["maximum_lag_on_failover"]); ok {
		c.MaximumLagOnFailover = n
	}
	return c
}

func (v view) running() bool { return v.node.State == "running" }

// gone reports whether member name has not reported for longer than ttl as
// measured here: what it last published is no longer true (rule 6).
func (v view) gone(name string) bool {
	if v.node.MemberUnconfirmed[name] {
		return true
	}
	s, known := v.node.MemberSilence[name]
	return known && s > time.Duration(v.dyn.TTL)*time.Second
}

// queried reports whether PostgreSQL was up enough to be queried, which is
// when Patroni shows xlog, timeline and replication (it queries in these states).
func (v view) queried() bool {
	switch v.node.State {
	case "running", "starting", "restarting":
		return true
	}
	return false
}

func (v view) isPrimaryRole() bool { return v.node.Role == fsm.RolePrimary }
func (v view) isReplicaRole() bool { return v.node.Role == fsm.RoleReplica }

// isSync: a synchronous standby as Patroni decides it, synchronous_mode on
// and the name recorded in sync.
func (v view) isSync(name string) bool {
	return v.dyn.SynchronousMode && v.cluster.IsSync(name)
}

// leaderPosition is the last WAL position the leader key holder reported, 0
// when there is no leader or it has not reported. Patroni uses the leader's
// last published position the same way; with none, nobody counts as lagging.
func (v view) leaderPosition() uint64 {
	name := v.cluster.LeaderName()
	if name == "" {
		return 0
	}
	m, ok := v.cluster.Members[name]
	if !ok {
		return 0
	}
	return memberPosition(m)
}

func memberPosition(m fsm.Member) uint64 {
	return max(m.WALPosition, m.ReceivedLSN, m.ReplayedLSN)
}

// lag is how many bytes this node is behind the leader's position.
func (v view) lag() uint64 {
	pos := max(v.node.ReceivedLocation, v.node.ReplayedLocation)
	if lp := v.leaderPosition(); lp > pos {
		return lp - pos
	}
	return 0
}

// replicationState is Patroni's replication_state of a replica.
func (v view) replicationState() string {
	if v.node.WALReceiverStreaming {
		return "streaming"
	}
	return "in archive recovery"
}

// Time formats: Python's str(datetime) and datetime.isoformat(), which print
// microseconds only when they are not zero. Times are shown in UTC.
func pyTime(t time.Time, sep string) string {
	t = t.UTC()
	layout := "2006-01-02" + sep + "15:04:05"
	if t.Nanosecond()/1000 != 0 {
		layout += ".000000"
	}
	return t.Format(layout + "-07:00")
}

func pyStr(t time.Time) string { return pyTime(t, " ") }

// Isoformat is Python's datetime.isoformat() in UTC ("+00:00", not "Z"), as
// Patroni shows scheduled times and the history's timestamps.
func Isoformat(t time.Time) string { return pyTime(t, "T") }

func unixSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// patroniJSON is the body of /patroni and of every health check.
type patroniJSON struct {
	State                    string            `json:"state"`
	PostmasterStartTime      string            `json:"postmaster_start_time,omitempty"`
	Role                     string            `json:"role"`
	ServerVersion            int               `json:"server_version,omitempty"`
	XLog                     any               `json:"xlog,omitempty"`
	Timeline                 int               `json:"timeline,omitempty"`
	Replication              []replicationJSON `json:"replication,omitempty"`
	ReplicationState         string            `json:"replication_state,omitempty"`
	SyncStandby              bool              `json:"sync_standby,omitempty"`
	ClusterUnlocked          bool              `json:"cluster_unlocked,omitempty"`
	DCSLastSeen              int64             `json:"dcs_last_seen"`
	Tags                     map[string]any    `json:"tags,omitempty"`
	DatabaseSystemIdentifier string            `json:"database_system_identifier,omitempty"`
	PendingRestart           bool              `json:"pending_restart,omitempty"`
	Patroni                  patroniInfoJSON   `json:"patroni"`
	Pause                    bool              `json:"pause,omitempty"`
	Raft                     *raftJSON         `json:"raft,omitempty"`
	VIP                      *vipJSON          `json:"vip,omitempty"`
	Backup                   *BackupStatus     `json:"backup,omitempty"`
}

// vipJSON is Conclave's own /patroni field for the floating IP.
type vipJSON struct {
	Address   string `json:"address"`
	Interface string `json:"interface"`
	Held      bool   `json:"held"`
}

type primaryXLogJSON struct {
	Location uint64 `json:"location"`
}

type replicaXLogJSON struct {
	ReceivedLocation  uint64  `json:"received_location"`
	ReplayedLocation  uint64  `json:"replayed_location"`
	ReplayedTimestamp *string `json:"replayed_timestamp"`
	Paused            bool    `json:"paused"`
}

type replicationJSON struct {
	Usename         string `json:"usename"`
	ApplicationName string `json:"application_name"`
	ClientAddr      string `json:"client_addr"`
	State           string `json:"state"`
	SyncState       string `json:"sync_state"`
	SyncPriority    int    `json:"sync_priority"`
}

type patroniInfoJSON struct {
	Version string `json:"version"`
	Scope   string `json:"scope"`
	Name    string `json:"name"`
}

type raftJSON struct {
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	Leader       string `json:"leader"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Voters       int    `json:"voters"`
	ClusterID    string `json:"cluster_id,omitempty"`
}

func (v view) patroni() patroniJSON {
	n := v.node
	out := patroniJSON{
		State:                    n.State,
		Role:                     n.Role,
		ClusterUnlocked:          v.cluster.Leader == nil,
		DCSLastSeen:              unixSeconds(n.DCSLastSeen),
		DatabaseSystemIdentifier: n.SystemID,
		PendingRestart:           n.PendingRestart,
		Patroni:                  patroniInfoJSON{Version: n.Version, Scope: n.Scope, Name: n.Name},
		Pause:                    v.dyn.Pause,
	}
	if len(n.Tags) > 0 {
		out.Tags = n.Tags
	}
	if v.queried() {
		if n.PostmasterStartTime != nil {
			out.PostmasterStartTime = pyStr(*n.PostmasterStartTime)
		}
		out.ServerVersion = n.ServerVersion
		out.Timeline = n.Timeline
		if v.isReplicaRole() {
			x := replicaXLogJSON{
				ReceivedLocation: n.ReceivedLocation,
				ReplayedLocation: n.ReplayedLocation,
				Paused:           n.ReplayPaused,
			}
			if x.ReceivedLocation == 0 { // Patroni: received or replayed
				x.ReceivedLocation = n.ReplayedLocation
			}
			if n.ReplayedTimestamp != nil {
				ts := pyStr(*n.ReplayedTimestamp)
				x.ReplayedTimestamp = &ts
			}
			out.XLog = x
			out.ReplicationState = v.replicationState()
			out.SyncStandby = v.isSync(n.Name)
		} else if v.isPrimaryRole() {
			out.XLog = primaryXLogJSON{Location: n.XLogLocation}
		}
		for _, r := range n.Replication {
			out.Replication = append(out.Replication, replicationJSON(r))
		}
	}
	if n.Raft.State != "" {
		out.Raft = &raftJSON{
			State:        n.Raft.State,
			Term:         n.Raft.Term,
			Leader:       n.Raft.Leader,
			CommitIndex:  n.Raft.CommitIndex,
			AppliedIndex: n.Raft.AppliedIndex,
			Voters:       n.Raft.Voters,
			ClusterID:    n.Raft.ClusterID,
		}
	}
	if n.VIP != nil {
		out.VIP = &vipJSON{Address: n.VIP.Address, Interface: n.VIP.Interface, Held: n.VIP.Held}
	}
	out.Backup = n.Backup
	return out
}

// clusterJSON is the body of /cluster.
type clusterJSON struct {
	Members             []memberJSON    `json:"members"`
	Scope               string          `json:"scope"`
	Pause               bool            `json:"pause,omitempty"`
	ScheduledSwitchover *switchoverJSON `json:"scheduled_switchover,omitempty"`
	// SystemIdentifier is a Conclave addition.
	SystemIdentifier string `json:"system_identifier,omitempty"`
	// RaftServersWithoutMember (a Conclave addition) lists the Raft
	// servers no member record names: a node that joined and has not
	// reported yet, or one a half-failed eviction left (conclave leave
	// HOST:PORT --evict removes it). Each counts in the quorum.
	RaftServersWithoutMember []raftServerJSON `json:"raft_servers_without_member,omitempty"`
}

type raftServerJSON struct {
	RaftAddr string `json:"raft_addr"`
	RaftRole string `json:"raft_role"`
}

type memberJSON struct {
	Name           string         `json:"name"`
	Role           string         `json:"role"`
	State          string         `json:"state"`
	APIURL         string         `json:"api_url"`
	Host           string         `json:"host,omitempty"`
	Port           int            `json:"port,omitempty"`
	Timeline       int            `json:"timeline,omitempty"`
	PendingRestart bool           `json:"pending_restart,omitempty"`
	Tags           map[string]any `json:"tags,omitempty"`
	// Lag is bytes behind the leader, or "unknown"; absent for the leader.
	Lag any `json:"lag,omitempty"`
	// Problem (a Conclave addition) says why a replica does not stream.
	Problem string `json:"problem,omitempty"`
	// ScheduledRestart is Patroni's scheduled_restart ({"schedule": ...}).
	ScheduledRestart *fsm.ScheduledRestart `json:"scheduled_restart,omitempty"`

	// Takeover (a Conclave addition) says what taking over the member's
	// running PostgreSQL waits for.
	Takeover string `json:"takeover,omitempty"`
	// RaftRole (a Conclave addition): leader, voter or non-voter; "" when
	// the member is not in the Raft configuration (it left, or its agent is
	// older than the field).
	RaftRole string `json:"raft_role,omitempty"`
	// Version and Protocol (Conclave additions): the version of the
	// member's agent and the protocol level it applies (fsm/protocol.go; 0
	// for an agent older than the field, absent), what a rolling upgrade
	// checks.
	Version  string `json:"version,omitempty"`
	Protocol int    `json:"protocol,omitempty"`
}

type switchoverJSON struct {
	At   string `json:"at"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// clusterView shapes /cluster like Patroni's cluster_as_json. Member state is
// shown as published; newer Patroni shows "streaming" for streaming replicas,
// so the agent publishes that state for them. A member that has not reported
// for longer than ttl shows "stopped" with lag "unknown" (Patroni drops its
// expired key; we keep it listed until the grace period, see ha/members.go).
func (v view) clusterView() clusterJSON {
	st := v.cluster
	leader := st.LeaderName()
	leaderPos := v.leaderPosition()
	out := clusterJSON{
		Members:          []memberJSON{},
		Scope:            v.node.Scope,
		Pause:            v.dyn.Pause,
		SystemIdentifier: st.SystemID(),
	}
	for _, name := range st.MemberNames() {
		m := st.Members[name]
		j := memberJSON{
			Name:           name,
			Role:           "replica",
			State:          m.State,
			APIURL:         m.APIURL,
			Timeline:       m.Timeline,
			PendingRestart: m.PendingRestart,
			Problem:        m.Problem,
			Takeover:       m.Takeover,
			RaftRole:       v.node.Raft.Roles[m.RaftAddr],
			Version:        m.Version,
			Protocol:       m.Protocol,
		}
		j.ScheduledRestart = m.ScheduledRestart
		if m.Host != "" {
			j.Host = m.Host
			j.Port = m.Port
		}
		if len(m.Tags) > 0 {
			j.Tags = m.Tags
		}
		switch {
		case name == leader:
			j.Role = "leader"
		case v.isSync(name):
			j.Role = "sync_standby"
		case m.Role == fsm.RoleWitness:
			j.Role = fsm.RoleWitness // no PostgreSQL: no lag either
		}
		gone := v.gone(name)
		if gone {
			// Its last report is older than ttl: whatever it said (running,
			// streaming, a lag) is no longer known to be true.
			j.State, j.Timeline = "stopped", 0
		}
		if name != leader && m.Role != fsm.RoleWitness {
			pos := memberPosition(m)
			switch {
			case gone, pos == 0:
				j.Lag = "unknown"
			case leaderPos >= pos:
				j.Lag = leaderPos - pos
			default:
				j.Lag = uint64(0)
			}
		}
		out.Members = append(out.Members, j)
	}
	out.RaftServersWithoutMember = serversWithoutMember(st, v.node.Raft.Roles)
	if p := st.Pending; p != nil && p.ScheduledAt != nil {
		out.ScheduledSwitchover = &switchoverJSON{At: Isoformat(*p.ScheduledAt), From: p.Leader, To: p.Candidate}
	}
	return out
}

// serversWithoutMember lists, sorted, the Raft servers in roles (this
// node's configuration) that no member record names.
func serversWithoutMember(st fsm.State, roles map[string]string) []raftServerJSON {
	named := map[string]bool{}
	for _, m := range st.Members {
		named[m.RaftAddr] = true
	}
	var out []raftServerJSON
	for _, id := range slices.Sorted(maps.Keys(roles)) {
		if !named[id] {
			out = append(out, raftServerJSON{RaftAddr: id, RaftRole: roles[id]})
		}
	}
	return out
}

// historyView shapes /history: [timeline, lsn, reason, timestamp, new_leader].
func historyView(h []fsm.HistoryEntry) [][]any {
	out := make([][]any, 0, len(h))
	for _, e := range h {
		row := []any{e.Timeline, e.LSN, e.Reason}
		switch {
		case !e.Timestamp.IsZero():
			row = append(row, Isoformat(e.Timestamp))
		case e.NewLeader != "":
			row = append(row, nil)
		}
		if e.NewLeader != "" {
			row = append(row, e.NewLeader)
		}
		out = append(out, row)
	}
	return out
}

func (s *Server) patroni(w http.ResponseWriter, r *http.Request) error {
	writeBody(w, http.StatusOK, s.current(r.Context()).body)
	return nil
}

func (s *Server) cluster(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.freshRead(r.Context()).clusterView())
	return nil
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, historyView(s.freshCluster(r.Context()).History))
	return nil
}

// isRaftLeader reads hashicorp/raft's state name.
func isRaftLeader(r RaftStatus) bool { return strings.EqualFold(r.State, "leader") }
