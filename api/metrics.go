package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metric is one gauge or counter of /metrics, computed at scrape time.
type metric struct {
	name, help string
	kind       prometheus.ValueType
	value      func(v view) float64
}

var (
	gauge   = prometheus.GaugeValue
	counter = prometheus.CounterValue
)

// metricLabels: Patroni 3.0.2 has scope only, newer releases add name.
var metricLabels = []string{"scope", "name"}

// metricsTable lists Patroni's metrics with their exact names, HELP texts and
// types, then Conclave's own. Patroni 3.0.2 declares four counters without
// the _total suffix (patroni_xlog_location, patroni_xlog_received_location,
// patroni_xlog_replayed_location, patroni_postgres_timeline), which
// `promtool check metrics` rejects; they keep their names (dashboards and
// alerts query them) and are declared gauges, which changes nothing for a
// PromQL query on the value (README, "Metrics").
var metricsTable = []metric{
	{"patroni_version", "Patroni semver without periods.", gauge,
		func(v view) float64 { return float64(versionNumber(v.node.Version)) }},
	{"patroni_postgres_running", "Value is 1 if Postgres is running, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.running()) }},
	{"patroni_postmaster_start_time", "Epoch seconds since Postgres started.", gauge,
		func(v view) float64 {
			if !v.queried() {
				return 0
			}
			return epoch(v.node.PostmasterStartTime)
		}},
	{"patroni_master", "Value is 1 if this node is the leader, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.isPrimaryRole()) }},
	{"patroni_primary", "Value is 1 if this node is the leader, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.isPrimaryRole()) }},
	{"patroni_xlog_location", "Current location of the Postgres transaction log, 0 if this node is not the leader.", gauge,
		func(v view) float64 {
			if !v.queried() || !v.isPrimaryRole() {
				return 0
			}
			return float64(v.node.XLogLocation)
		}},
	{"patroni_standby_leader", "Value is 1 if this node is the standby_leader, 0 otherwise.", gauge,
		func(view) float64 { return 0 }},
	{"patroni_replica", "Value is 1 if this node is a replica, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.isReplicaRole()) }},
	{"patroni_sync_standby", "Value is 1 if this node is a sync standby replica, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.queried() && v.isReplicaRole() && v.isSync(v.node.Name)) }},
	{"patroni_xlog_received_location", "Current location of the received Postgres transaction log, 0 if this node is not a replica.", gauge,
		func(v view) float64 {
			if !v.queried() || !v.isReplicaRole() {
				return 0
			}
			return float64(max(v.node.ReceivedLocation, v.node.ReplayedLocation))
		}},
	{"patroni_xlog_replayed_location", "Current location of the replayed Postgres transaction log, 0 if this node is not a replica.", gauge,
		func(v view) float64 {
			if !v.queried() || !v.isReplicaRole() {
				return 0
			}
			return float64(v.node.ReplayedLocation)
		}},
	{"patroni_xlog_replayed_timestamp", "Current timestamp of the replayed Postgres transaction log, 0 if null.", gauge,
		func(v view) float64 {
			if !v.queried() || !v.isReplicaRole() {
				return 0
			}
			return epoch(v.node.ReplayedTimestamp)
		}},
	{"patroni_xlog_paused", "Value is 1 if the Postgres xlog is paused, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.queried() && v.isReplicaRole() && v.node.ReplayPaused) }},
	{"patroni_postgres_streaming", "Value is 1 if Postgres is streaming, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.running() && v.isReplicaRole() && v.node.WALReceiverStreaming) }},
	{"patroni_postgres_in_archive_recovery", "Value is 1 if Postgres is replicating from archive, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.running() && v.isReplicaRole() && !v.node.WALReceiverStreaming) }},
	{"patroni_postgres_server_version", "Version of Postgres (if running), 0 otherwise.", gauge,
		func(v view) float64 {
			if !v.queried() {
				return 0
			}
			return float64(v.node.ServerVersion)
		}},
	{"patroni_cluster_unlocked", "Value is 1 if the cluster is unlocked, 0 if locked.", gauge,
		func(v view) float64 { return b2f(v.cluster.Leader == nil) }},
	// Failsafe mode keeps a primary running while Raft is unavailable and
	// every member acknowledges its heartbeat.
	{"patroni_failsafe_mode_is_active", "Value is 1 if the cluster is unlocked, 0 if locked.", gauge,
		func(v view) float64 { return b2f(v.node.FailsafeActive) }},
	{"patroni_postgres_timeline", "Postgres timeline of this node (if running), 0 otherwise.", gauge,
		func(v view) float64 {
			if !v.queried() {
				return 0
			}
			return float64(v.node.Timeline)
		}},
	{"patroni_dcs_last_seen", "Epoch timestamp when DCS was last contacted successfully by Patroni.", gauge,
		func(v view) float64 { return float64(unixSeconds(v.node.DCSLastSeen)) }},
	{"patroni_pending_restart", "Value is 1 if the node needs a restart, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.node.PendingRestart) }},
	{"patroni_is_paused", "Value is 1 if auto failover is disabled, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(v.dyn.Pause) }},

	{"conclave_raft_state", "Raft state of this node: 0 follower, 1 candidate, 2 leader, 3 shutdown.", gauge,
		func(v view) float64 { return raftStateNumber(v.node.Raft.State) }},
	{"conclave_raft_leader_changes_total", "New Raft leaders this node learned of since the agent started.", counter,
		func(v view) float64 { return float64(v.node.Raft.LeaderChanges) }},
	{"conclave_raft_term", "Current Raft term of this node.", gauge,
		func(v view) float64 { return float64(v.node.Raft.Term) }},
	{"conclave_raft_commit_index", "Raft commit index known to this node.", gauge,
		func(v view) float64 { return float64(v.node.Raft.CommitIndex) }},
	{"conclave_raft_applied_index", "Last Raft index applied to the state machine on this node.", gauge,
		func(v view) float64 { return float64(v.node.Raft.AppliedIndex) }},
	{"conclave_raft_leader", "Value is 1 if this node is the Raft leader, 0 otherwise.", gauge,
		func(v view) float64 { return b2f(isRaftLeader(v.node.Raft)) }},
	{"conclave_raft_voters", "Number of voters in the Raft configuration.", gauge,
		func(v view) float64 { return float64(v.node.Raft.Voters) }},
	{"conclave_raft_last_contact_seconds", "Seconds since this node last heard from the Raft leader, 0 on the leader.", gauge,
		func(v view) float64 { return v.node.Raft.LastContact.Seconds() }},
	{"conclave_ha_lease_trust_remaining_seconds", "Seconds this leader still trusts its lease without another renewal (it fences at 0), 0 when it holds no trusted lease.", gauge,
		func(v view) float64 { return v.node.LeaseTrustLeft.Seconds() }},
	{"conclave_vip_held", "Value is 1 if this node holds the floating IP of the vip: section, 0 otherwise (or without one).", gauge,
		func(v view) float64 { return b2f(v.node.VIP != nil && v.node.VIP.Held) }},
	{"conclave_ha_last_successful_loop_timestamp_seconds", "Unix time of the last completed HA loop run, 0 if none yet.", gauge,
		func(v view) float64 {
			if v.node.LoopLastRun.IsZero() {
				return 0
			}
			return float64(v.node.LoopLastRun.UnixNano()) / 1e9
		}},
}

// memberMetrics are one series per member of the replicated state, as this
// node sees them: the only metrics that say a dead node is gone, since its
// own /metrics no longer answers.
var memberMetrics = []struct {
	name, help string
	value      func(v view, name string) float64
}{
	{"conclave_member_reporting", "Value is 1 if the member reported within ttl as measured on this node, 0 otherwise.",
		func(v view, name string) float64 { return b2f(!v.gone(name)) }},
	{"conclave_member_last_report_age_seconds", "Seconds since this node saw the member's last report, measured on its own monotonic clock.",
		func(v view, name string) float64 { return v.node.MemberSilence[name].Seconds() }},
}

var memberMetricLabels = []string{"scope", "name", "member"}

// collector reads the Source at scrape time; it keeps no goroutine or cache.
type collector struct {
	src         Source
	descs       []*prometheus.Desc
	memberDescs []*prometheus.Desc
	backupDescs []*prometheus.Desc
	conflict    *prometheus.Desc // conclave_backup_archive_segment_conflict
}

func newCollector(src Source) *collector {
	c := &collector{src: src}
	for _, m := range metricsTable {
		c.descs = append(c.descs, prometheus.NewDesc(m.name, m.help, metricLabels, nil))
	}
	for _, m := range memberMetrics {
		c.memberDescs = append(c.memberDescs, prometheus.NewDesc(m.name, m.help, memberMetricLabels, nil))
	}
	for _, m := range backupMetrics {
		c.backupDescs = append(c.backupDescs, prometheus.NewDesc(m.name, m.help, metricLabels, nil))
	}
	c.conflict = prometheus.NewDesc(segmentConflictMetric, segmentConflictHelp, []string{"scope", "name", "segment"}, nil)
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	for _, d := range c.memberDescs {
		ch <- d
	}
	for _, d := range c.backupDescs {
		ch <- d
	}
	ch <- c.conflict
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v := newView(c.src.Status(ctx), c.src.Cluster())
	for i, m := range metricsTable {
		ch <- prometheus.MustNewConstMetric(c.descs[i], m.kind, m.value(v), v.node.Scope, v.node.Name)
	}
	for _, member := range v.cluster.MemberNames() {
		if _, known := v.node.MemberSilence[member]; !known {
			continue
		}
		for i, m := range memberMetrics {
			ch <- prometheus.MustNewConstMetric(c.memberDescs[i], gauge, m.value(v, member), v.node.Scope, v.node.Name, member)
		}
	}
	if b := v.node.Backup; b != nil {
		for i, m := range backupMetrics {
			ch <- prometheus.MustNewConstMetric(c.backupDescs[i], m.kind, m.value(b), v.node.Scope, v.node.Name)
		}
		for _, seg := range b.ConflictingWAL {
			ch <- prometheus.MustNewConstMetric(c.conflict, gauge, 1, v.node.Scope, v.node.Name, seg)
		}
	}
}

func (s *Server) newMetricsHandler(reg *prometheus.Registry) (http.Handler, error) {
	if err := reg.Register(newCollector(s.cfg.Source)); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      hclogPrinter{s},
		ErrorHandling: promhttp.ContinueOnError,
	}), nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metrics.ServeHTTP(w, r)
	return nil
}

type hclogPrinter struct{ s *Server }

func (p hclogPrinter) Println(v ...any) {
	p.s.logger.Warn("metrics", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}

// versionNumber renders a version the way patroni_version does: each of
// major, minor, patch as two digits (3.0.2 -> 030002 = 30002, 0.1.0 -> 100).
// A pre-release or build suffix is ignored; an unparsable version gives 0.
func versionNumber(version string) int64 {
	version = strings.TrimPrefix(version, "v")
	if i := strings.IndexAny(version, "-+ "); i >= 0 {
		version = version[:i]
	}
	parts := strings.Split(version, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return 0
	}
	var n int64
	for i := 0; i < 3; i++ {
		var p int64
		if i < len(parts) {
			x, err := strconv.ParseInt(parts[i], 10, 64)
			if err != nil || x < 0 || x > 99 {
				return 0
			}
			p = x
		}
		n = n*100 + p
	}
	return n
}

// raftStateNumber numbers hashicorp/raft's states as its RaftState type does.
func raftStateNumber(state string) float64 {
	switch state {
	case "Candidate":
		return 1
	case "Leader":
		return 2
	case "Shutdown":
		return 3
	}
	return 0
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func epoch(t *time.Time) float64 {
	if t == nil || t.IsZero() {
		return 0
	}
	return float64(t.UnixMicro()) / 1e6
}
