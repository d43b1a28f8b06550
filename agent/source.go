package agent

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/fsm"
)

// Status implements api.Source from the loop's last turn, the last full
// PostgreSQL status and Raft's own figures.
func (a *Agent) Status(ctx context.Context) api.NodeStatus {
	snap := a.loop.Snapshot()
	last := a.pg.Last()
	rs := a.store.Stats()
	st := api.NodeStatus{
		Name: a.cfg.Name, Scope: a.cfg.Scope, Version: a.version,
		State: snap.State, Role: snap.Role, HoldsLeaderKey: snap.HoldsLeaderKey, LeaseTrustLeft: snap.TrustLeft,
		ServerVersion: last.ServerVersion, Timeline: snap.PG.Timeline,
		SystemID:          snap.PG.SystemID,
		FailsafeActive:    snap.FailsafeActive,
		MemberSilence:     a.loop.MemberSilence(),
		MemberUnconfirmed: a.loop.UnconfirmedMembers(),
		PendingRestart:    snap.PG.PendingRestart,
		Tags:              memberTags(a.running().Tags),
		LoopLastRun:       snap.LastRun, LoopAliveAt: snap.AliveAt, LoopInterval: snap.LoopWait,
		VIP: a.vipStatus(), Backup: a.backupStatus(),
		Raft: api.RaftStatus{State: rs.State, Term: rs.Term, CommitIndex: rs.CommitIndex, AppliedIndex: rs.AppliedIndex,
			Leader: rs.Leader, Voters: rs.Voters, LastContact: rs.LastContact, Healthy: rs.Leader != "", LeaderChanges: rs.LeaderChanges,
			ClusterID: rs.ClusterID, Roles: a.store.Roles()},
	}
	switch st.State {
	case "":
		st.State = "starting"
	case "streaming":
		// /patroni reports PostgreSQL's state; "streaming" is the member
		// state /cluster shows for replicas.
		st.State = "running"
	}
	if rs.Leader != "" {
		st.DCSLastSeen = time.Now()
	}
	if last.Running {
		t := last.PostmasterStartTime
		st.PostmasterStartTime = &t
		if last.InRecovery {
			st.ReceivedLocation, st.ReplayedLocation = last.ReceiveLSN, last.ReplayLSN
			st.ReplayedTimestamp, st.ReplayPaused = last.ReplayTimestamp, last.ReplayPaused
			st.WALReceiverStreaming = last.WALReceiverStatus == "streaming"
		} else {
			st.XLogLocation = last.WALPosition
		}
		for _, r := range last.Replication {
			st.Replication = append(st.Replication, api.Replication{Usename: r.Username, ApplicationName: r.ApplicationName,
				ClientAddr: r.ClientAddr, State: r.State, SyncState: r.SyncState, SyncPriority: r.SyncPriority})
		}
	}
	return st
}

// Cluster implements api.Source.
func (a *Agent) Cluster() fsm.State { return a.store.State() }

func splitHostPort(addr string) (string, int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(p)
	return h, port
}

// StatusKey implements api.StatusKeyer: what the health checks decide on,
// read without Raft round trips or copies of the state. HoldsLeaderKey comes
// from Snapshot, which checks the lease's trust deadline at the call.
func (a *Agent) StatusKey() api.StatusKey {
	snap := a.loop.Snapshot()
	return api.StatusKey{
		Role: snap.Role, State: snap.State, HoldsLeaderKey: snap.HoldsLeaderKey, FailsafeActive: snap.FailsafeActive,
		AppliedIndex: a.store.AppliedIndex(), LoopLastRun: snap.LastRun,
	}
}

// FreshCluster implements api.FreshReader: a Raft read-index.
func (a *Agent) FreshCluster(ctx context.Context) (fsm.State, error) {
	return a.store.LinearizableState(ctx)
}

// FailsafeState implements api.FailsafeStateReader: a Raft read-index when
// this node is in contact with a Raft leader, else (cut off from Raft
// itself) the local state, at once rather than after waiting for a leader
// that may not come.
func (a *Agent) FailsafeState(ctx context.Context) (fsm.State, error) {
	if !a.store.InContact() {
		return a.store.State(), nil
	}
	return a.store.LinearizableState(ctx)
}
