package api

import (
	"context"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Lag measured against a newer leader report. maximum_lag_on_failover
// compares the candidate's last reported WAL position with the leader's
// last reported one; each agent reports once per loop_wait. Right after a
// WAL segment switch the leader's report can be up to a segment (16 MB)
// ahead of a replica's older report although the replica caught up within
// milliseconds. So a request refused only for lag, by a candidate whose
// report predates the leader's, waits (bounded) for that candidate's next
// report and is judged again on it; a lag that persists in a report made
// after the leader's is refused at once, as before.

// lagReportWaitMax bounds that wait (with loop_wait, at least
// lagReportWaitMin): the answer's own wait comes after it, within the
// server's write timeout.
const (
	lagReportWaitMin = 2 * time.Second
	lagReportWaitMax = 5 * time.Second
)

// lagReportWait is how long a lag-only refusal waits for fresh reports.
func lagReportWait(v view) time.Duration {
	return min(max(time.Duration(v.dyn.LoopWait)*time.Second, lagReportWaitMin), lagReportWaitMax)
}

// failoverProblemFresh is failoverProblem, judged again on the candidates'
// next reports when lag measured against a newer leader report is the only
// obstacle. It returns the view it judged last.
func (s *Server) failoverProblemFresh(ctx context.Context, v view, leader, candidate, action string) (view, string) {
	why := failoverProblem(v, leader, candidate, action)
	if why == "" {
		return v, why
	}
	stale := staleLaggers(v, candidate)
	if len(stale) == 0 || failoverProblem(caughtUp(v, stale), leader, candidate, action) != "" {
		return v, why // another obstacle than lag: no report can lift it
	}
	s.logger.Debug("candidate lag measured against a newer leader report: waiting for its next report", "candidate", candidate, "reason", why)
	ctx, cancel := context.WithTimeout(ctx, lagReportWait(v))
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return v, why
		case <-tick.C:
		}
		st := s.cfg.Source.Cluster()
		if !reportedSince(st.Members, stale) {
			continue
		}
		v = newView(s.cfg.Source.Status(ctx), st)
		why, stale = failoverProblem(v, leader, candidate, action), staleLaggers(v, candidate)
		if why == "" || len(stale) == 0 || failoverProblem(caughtUp(v, stale), leader, candidate, action) != "" {
			return v, why
		}
	}
}

// staleLaggers lists the candidates (the named one, or every member when
// none is named) refused for lag alone whose last report is older than the
// leader's, with the index of that report.
func staleLaggers(v view, candidate string) map[string]uint64 {
	st := v.cluster
	names := st.MemberNames()
	if candidate != "" {
		names = []string{candidate}
	}
	streaming := leaderStreams(v)
	out := map[string]uint64{}
	for _, name := range names {
		if st.LagOnlyProblem(v.dyn, name, streaming) && st.ReportedBeforeLeader(name) {
			out[name] = st.Members[name].UpdatedIndex
		}
	}
	return out
}

// caughtUp is v with the members in stale at the leader's reported
// position: the request as it would be judged if they had caught up.
func caughtUp(v view, stale map[string]uint64) view {
	v.cluster = v.cluster.Clone()
	ref := v.cluster.Members[v.cluster.LeaderName()].WALPosition
	for name := range stale {
		m := v.cluster.Members[name]
		m.WALPosition = max(m.WALPosition, ref)
		v.cluster.Members[name] = m
	}
	return v
}

// reportedSince reports whether one of the members in stale reported again.
func reportedSince(members map[string]fsm.Member, stale map[string]uint64) bool {
	for name, idx := range stale {
		if m, ok := members[name]; ok && m.UpdatedIndex > idx {
			return true
		}
	}
	return false
}
