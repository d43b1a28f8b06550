package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// PendingWriter writes switchover and failover requests into the
// replicated state (POST /switchover, /failover; DELETE /switchover).
type PendingWriter interface {
	// SetPending returns the Raft index the request was committed at.
	SetPending(ctx context.Context, p fsm.Pending) (uint64, error)
	// ClearPending returns the Raft index the removal was committed at.
	ClearPending(ctx context.Context) (uint64, error)
}

// pollEvery is how often a waiting POST /switchover looks at the state.
const pollEvery = 50 * time.Millisecond

func (s *Server) postSwitchover(w http.ResponseWriter, r *http.Request) error {
	return s.manualFailover(w, r, "switchover")
}

func (s *Server) postFailover(w http.ResponseWriter, r *http.Request) error {
	return s.manualFailover(w, r, "failover")
}

// manualFailover is Patroni's do_POST_failover: validate everything before
// anything is written, write the request, and wait for its outcome (a
// scheduled one is only written: 202).
func (s *Server) manualFailover(w http.ResponseWriter, r *http.Request, action string) error {
	began := time.Now()
	body, err := readJSONObject(r)
	if err != nil {
		return err
	}
	str := func(keys ...string) (string, error) {
		for _, k := range keys {
			switch v := body[k].(type) {
			case nil:
			case string:
				if v != "" {
					return v, nil
				}
			default:
				return "", fmt.Errorf("%w: %q must be a string, got %s", errBadRequest, k, jsonKind(v))
			}
		}
		return "", nil
	}
	leader, err := str("leader", "master")
	if err != nil {
		return err
	}
	candidate, err := str("candidate", "member")
	if err != nil {
		return err
	}
	scheduled, err := str("scheduled_at")
	if err != nil {
		return err
	}
	v := s.freshRead(r.Context())
	title := titleCase(action)
	code, msg := http.StatusBadRequest, ""
	var at *time.Time
	switch {
	case action == "failover" && candidate == "":
		msg = "Failover could be performed only to a specific candidate"
	case action == "switchover" && leader == "":
		msg = "Switchover could be performed only from a specific leader"
	case scheduled != "" && leader == "":
		msg = fmt.Sprintf("Scheduled %s is possible only from a specific leader", action)
	case scheduled != "" && v.dyn.Pause:
		msg = fmt.Sprintf("Can't schedule %s in the paused state", action)
	case scheduled != "":
		t, perr := fsm.ParseScheduledAt(scheduled)
		switch {
		case errors.Is(perr, fsm.ErrNoTimezone):
			msg = fmt.Sprintf("Timezone information is mandatory for the scheduled %s", action)
		case perr != nil:
			code, msg = http.StatusUnprocessableEntity, "Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601"
		case t.Before(s.now()):
			code, msg = http.StatusUnprocessableEntity, fmt.Sprintf("Cannot schedule %s in the past", action)
		default:
			at = &t
		}
	case action == "switchover" && v.dyn.Pause:
		code, msg = http.StatusPreconditionFailed, "Switchover is not possible in the paused state (maintenance mode): resume first, or use failover with a candidate"
	default:
		var why string
		if v, why = s.failoverProblemFresh(r.Context(), v, leader, candidate, action); why != "" { // lagwait.go
			code, msg = http.StatusPreconditionFailed, why
		}
	}
	if msg != "" {
		s.logger.Info("refused "+action, "leader", leader, "candidate", candidate, "code", code, "reason", msg)
		writeText(w, code, msg)
		return nil
	}
	if s.cfg.Pending == nil {
		writeText(w, http.StatusServiceUnavailable, fmt.Sprintf("failed to write %s key into DCS: not available on this node", action))
		return nil
	}
	oldLeader := v.cluster.LeaderName()
	p := fsm.Pending{Kind: action, Leader: leader, Candidate: candidate, ScheduledAt: at, RequestedAt: s.now().UTC()}
	index, err := s.cfg.Pending.SetPending(r.Context(), p)
	if err != nil {
		writeText(w, http.StatusServiceUnavailable, fmt.Sprintf("failed to write %s key into DCS: %v", action, err))
		return nil
	}
	s.logger.Info(action+" requested", "leader", leader, "candidate", candidate, "scheduled_at", scheduled)
	if at != nil {
		s.waitApplied(r.Context(), index) // a list or flush that follows sees it here
		writeText(w, http.StatusAccepted, title+" scheduled")
		return nil
	}
	code, msg = s.waitFailover(r.Context(), v.dyn, began, index, oldLeader, candidate, action)
	writeText(w, code, msg)
	return nil
}

// leaderReportWait bounds how long a successful switchover's answer waits
// for the new leader's own report after it took the key.
const leaderReportWait = 3 * time.Second

// waitFailover is Patroni's poll_failover_result: success once another
// member holds the key, failure once the request (committed at index) is
// gone without that. The local state may apply the request a moment after
// it committed: until then its absence says nothing.
//
// The new leader takes the key before it promotes, so its member record
// still says replica (state streaming, the old timeline) for a moment;
// `conclave switchover` prints the table right after the answer, and showed
// that. So success is answered once the new leader reported itself primary,
// or s.reportWait after it took the key, whichever comes first.
func (s *Server) waitFailover(ctx context.Context, dyn fsm.DynamicConfig, began time.Time, index uint64, oldLeader, candidate, action string) (int, string) {
	// The holder may wait fsm.HandOverConnectWait for a reconnecting
	// candidate, then stop PostgreSQL and hand over.
	timeout := max(fsm.HandOverConnectWait+5*time.Second, time.Duration(dyn.TTL+2*dyn.LoopWait)*time.Second)
	timeout = min(timeout, writeTimeout-time.Second-time.Since(began)) // a lag-only refusal may have waited (lagwait.go)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	verb := action[:len(action)-4] // "switch", "fail"
	succeeded := func(l string) (int, string) {
		if candidate == "" || candidate == l {
			return http.StatusOK, fmt.Sprintf("Successfully %sed over to %q", verb, l)
		}
		return http.StatusOK, fmt.Sprintf("%sed over to %q instead of %q", titleCase(verb), l, candidate)
	}
	var newLeader string
	var tookKey time.Time
	for {
		st := s.cfg.Source.Cluster()
		if l := st.LeaderName(); l != "" && l != oldLeader {
			if l != newLeader {
				newLeader, tookKey = l, time.Now()
			}
			if st.Members[l].Role == fsm.RolePrimary || time.Since(tookKey) >= s.reportWait {
				return succeeded(l)
			}
		} else if st.Pending == nil && st.Index >= index {
			return http.StatusServiceUnavailable, titleCase(action) + " failed"
		}
		select {
		case <-ctx.Done():
			if newLeader != "" {
				return succeeded(newLeader)
			}
			return http.StatusServiceUnavailable, titleCase(action) + " status unknown"
		case <-tick.C:
		}
	}
}

// failoverProblem is Patroni's is_failover_possible, with the reason named:
// "" when the request may be written.
func failoverProblem(v view, leader, candidate, action string) string {
	st := v.cluster
	if leader != "" && st.LeaderName() != leader {
		return "leader name does not match"
	}
	if st.LeaderIndex == 0 {
		// Taking over a running cluster (or bootstrapping): the running
		// primary is writable with no lease until its agent takes the key;
		// the agents would not act on the request either (ha.decidePending).
		return fmt.Sprintf("%s is not possible: no member has taken the leader key yet (the cluster is being initialized or taken over)", action)
	}
	if st.Leader != nil && !st.AllSupport(fsm.ProtocolHandOver) {
		return fmt.Sprintf("%s is not possible: a member's agent is older than the hand-over (protocol level %d); upgrade every member first",
			action, fsm.ProtocolHandOver)
	}
	// A candidate must stream only while there is a running primary to
	// stream from (a failover after the primary stopped finds it "running").
	streaming := leaderStreams(v)
	if candidate != "" {
		if _, ok := st.Members[candidate]; !ok {
			return "candidate does not exists"
		}
		if action == "switchover" && v.dyn.SynchronousMode && !st.IsSync(candidate) {
			return "candidate name does not match with sync_standby"
		}
		if why := candidateProblem(v, candidate, streaming); why != "" {
			return fmt.Sprintf("%s is not possible: %s", action, why)
		}
		return ""
	}
	for _, name := range st.MemberNames() {
		if name != st.LeaderName() && candidateProblem(v, name, streaming) == "" {
			return ""
		}
	}
	if v.dyn.SynchronousMode && len(st.Sync.Members) == 0 {
		return action + " is not possible: can not find sync_standby"
	}
	return action + " is not possible: no good candidates have been found"
}

// leaderStreams reports whether the leader reports a running primary a
// candidate can stream from.
func leaderStreams(v view) bool {
	lm, ok := v.cluster.Members[v.cluster.LeaderName()]
	return ok && !v.gone(lm.Name) && lm.Role == fsm.RolePrimary && lm.State == "running"
}

// candidateProblem is fsm.State.CandidateProblem plus whether the member
// still reports, as this node measures it (rule 6).
func candidateProblem(v view, name string, streaming bool) string {
	if why := v.cluster.CandidateProblem(v.dyn, name, streaming); why != "" {
		return why
	}
	if _, known := v.node.MemberSilence[name]; !known || v.gone(name) {
		return fmt.Sprintf("candidate %s does not report", name)
	}
	return ""
}

// deleteSwitchover is Patroni's do_DELETE_switchover: it cancels a
// scheduled switchover only.
func (s *Server) deleteSwitchover(w http.ResponseWriter, r *http.Request) error {
	st := s.cfg.Source.Cluster()
	if st.Pending == nil || st.Pending.ScheduledAt == nil || st.Pending.HandedOver() {
		writeText(w, http.StatusNotFound, "no switchover is scheduled")
		return nil
	}
	if s.cfg.Pending == nil {
		writeText(w, http.StatusServiceUnavailable, "failed to delete the scheduled switchover: not available on this node")
		return nil
	}
	index, err := s.cfg.Pending.ClearPending(r.Context())
	if err != nil {
		writeText(w, http.StatusServiceUnavailable, fmt.Sprintf("failed to delete the scheduled switchover: %v", err))
		return nil
	}
	s.logger.Info("scheduled switchover deleted")
	// Answer once this node's state shows it too, so a read that follows
	// (GET /cluster, conclave list) does not still show it scheduled.
	s.waitApplied(r.Context(), index)
	writeText(w, http.StatusOK, "scheduled switchover deleted")
	return nil
}

// waitApplied returns once the local state applied index (it follows the
// commit by moments), or after a second or when ctx ends.
func (s *Server) waitApplied(ctx context.Context, index uint64) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for s.cfg.Source.Cluster().Index < index {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
