package fsm

import (
	"fmt"
	"time"
)

// Planned switchover (and manual failover with a running leader): the key
// holder stops PostgreSQL cleanly, then hands the key over to a candidate
// with HandOver, which releases it and records the candidate and the LSN of
// the old primary's shutdown checkpoint in Pending. The candidate takes the
// key (AcquireLeader, the usual compare-and-swap) only once its own WAL has
// reached past that LSN, so it has every byte the old primary wrote. The
// argument is in DESIGN.md ("Switchover and manual failover").

// CmdHandOver releases the leader key to a named candidate. No
// FlagIgnorable: an older node that skipped it would keep the old holder as
// leader while the others see the key free, so it is proposed only at
// ProtocolHandOver (State.AllSupport).
const CmdHandOver CommandType = 19 // body: HandOver

// HandOver releases the leader key of tenure Epoch held by Member if the key
// has not changed since ExpectIndex (a compare-and-swap, as RenewLeader's:
// a renewal that commits first makes it fail, and one that commits after it
// is refused), and records in Pending that the key was handed to Candidate
// after Member's PostgreSQL shut down cleanly at CheckpointLSN.
type HandOver struct {
	Member        string `json:"member"`
	Epoch         uint64 `json:"epoch"`
	ExpectIndex   uint64 `json:"expect_index"`
	Candidate     string `json:"candidate"`
	CheckpointLSN uint64 `json:"checkpoint_lsn"`
	// Kind is the request being carried out ("switchover" or "failover").
	Kind string `json:"kind"`
}

func (HandOver) Type() CommandType { return CmdHandOver }

func applyHandOver(s *State, c Command, index uint64) error {
	cmd := c.(HandOver)
	switch {
	case cmd.Member == "" || cmd.Candidate == "" || cmd.CheckpointLSN == 0:
		return reject(ErrInvalidCommand, "hand over: member, candidate and checkpoint_lsn are required")
	case cmd.Kind != "switchover" && cmd.Kind != "failover":
		return reject(ErrInvalidCommand, "hand over: unknown kind %q", cmd.Kind)
	case cmd.Candidate == cmd.Member:
		return reject(ErrInvalidCommand, "hand over: candidate %s is the holder", cmd.Candidate)
	case s.Leader == nil || s.Leader.Member != cmd.Member || s.Leader.Epoch != cmd.Epoch:
		return reject(ErrNotLeaderHolder, "%s (epoch %d) cannot hand over", cmd.Member, cmd.Epoch)
	case cmd.ExpectIndex != s.LeaderIndex:
		return reject(ErrLeaderChanged, "hand over: expected index %d, leader key is at %d", cmd.ExpectIndex, s.LeaderIndex)
	}
	p := Pending{Kind: cmd.Kind, Leader: cmd.Member, Candidate: cmd.Candidate}
	if s.Pending != nil {
		p.RequestedAt = s.Pending.RequestedAt
	}
	p.HandedOverIndex, p.CheckpointLSN = index, cmd.CheckpointLSN
	s.Pending = &p
	s.Leader = nil
	s.LeaderIndex = index
	return nil
}

// HandedOver reports whether the pending request is a hand-over in progress:
// the old holder released the key to p.Candidate after a clean shutdown.
func (p *Pending) HandedOver() bool { return p != nil && p.HandedOverIndex != 0 }

// Due reports whether the request should be carried out at now (wall clock
// of the deciding node: a scheduled switchover fires at its time).
func (p *Pending) Due(nowUnixNano int64) bool {
	return p != nil && (p.ScheduledAt == nil || p.ScheduledAt.UnixNano() <= nowUnixNano)
}

// CandidateProblem says why member name may not be the target of a planned
// switchover or a manual failover ("" = it may): it must be a replica other
// than the leader, streaming when streaming is set (a running leader to
// stream from), without nofailover, within maximum_lag_on_failover of the
// leader's last reported position (without a leader, of the most advanced
// member's), and in synchronous mode a recorded synchronous standby (rule
// 2). Whether it still reports is the caller's measure (monotonic clocks).
func (s State) CandidateProblem(dyn DynamicConfig, name string, streaming bool) string {
	if why := s.candidateStateProblem(dyn, name, streaming); why != "" {
		return why
	}
	return s.LagProblem(dyn, name)
}

// LagOnlyProblem reports whether maximum_lag_on_failover is the only
// reason CandidateProblem refuses name.
func (s State) LagOnlyProblem(dyn DynamicConfig, name string, streaming bool) bool {
	return s.candidateStateProblem(dyn, name, streaming) == "" && s.LagProblem(dyn, name) != ""
}

// ReportedBeforeLeader reports whether member name's last report is older
// than the leader's: its lag is then measured against a position the
// leader reached after name reported (right after a WAL segment switch up
// to a segment), and says little until name reports again.
func (s State) ReportedBeforeLeader(name string) bool {
	l, okL := s.Members[s.LeaderName()]
	m, ok := s.Members[name]
	return okL && ok && name != s.LeaderName() && m.UpdatedIndex < l.UpdatedIndex
}

// candidateStateProblem is CandidateProblem without the lag check.
func (s State) candidateStateProblem(dyn DynamicConfig, name string, streaming bool) string {
	m, ok := s.Members[name]
	switch {
	case !ok:
		return fmt.Sprintf("candidate %s is not a member", name)
	case name == s.LeaderName():
		return fmt.Sprintf("candidate %s is the leader", name)
	case m.Role != RoleReplica:
		return fmt.Sprintf("candidate %s is not a replica (role %s)", name, m.Role)
	case streaming && m.State != "streaming":
		return fmt.Sprintf("candidate %s is not streaming (state %s)", name, m.State)
	case !streaming && m.State != "streaming" && m.State != "running":
		return fmt.Sprintf("candidate %s is not running (state %s)", name, m.State)
	case m.Tag("nofailover"):
		return fmt.Sprintf("candidate %s has tag nofailover", name)
	case dyn.SynchronousMode && !s.IsSync(name):
		return fmt.Sprintf("candidate %s is not a recorded synchronous standby (synchronous_mode)", name)
	}
	return ""
}

// LagProblem is CandidateProblem's maximum_lag_on_failover check alone: ""
// when name's last reported position is within it of the reference.
func (s State) LagProblem(dyn DynamicConfig, name string) string {
	m := s.Members[name]
	if ref := s.referencePosition(); ref > m.WALPosition && dyn.MaximumLagOnFailover >= 0 {
		if lag := ref - m.WALPosition; lag > uint64(dyn.MaximumLagOnFailover) {
			return fmt.Sprintf("candidate %s lags %d bytes, more than maximum_lag_on_failover %d", name, lag, dyn.MaximumLagOnFailover)
		}
	}
	return ""
}

// referencePosition is the leader's last reported WAL position, or without
// one the highest any member reported.
func (s State) referencePosition() uint64 {
	if m, ok := s.Members[s.LeaderName()]; ok && m.WALPosition > 0 {
		return m.WALPosition
	}
	var best uint64
	for _, m := range s.Members {
		best = max(best, m.WALPosition)
	}
	return best
}

// scheduleLayouts are the forms of a scheduled time accepted by POST
// /switchover and `conclave switchover --scheduled`, as patronictl writes
// them (ISO 8601, "T" or a space, optional fraction, zone as +00:00, +0000
// or Z).
var scheduleLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00", "2006-01-02 15:04Z07:00",
}

var scheduleLayoutsNoZone = []string{
	"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04",
}

// ErrNoTimezone: a scheduled time without a zone.
var ErrNoTimezone = fmt.Errorf("no timezone")

// HandOverConnectWait is how long after a switchover's request (or its
// scheduled time) the key holder waits for a candidate that does not
// stream from it yet: a standby's WAL receiver connects again
// wal_retrieve_retry_interval (5 s by default) after its connection broke.
// The REST API waits at least this long, plus the hand-over, for the outcome.
const HandOverConnectWait = 8 * time.Second

// ParseScheduledAt reads a scheduled switchover time. A time without a
// zone gives ErrNoTimezone (Patroni refuses it too); anything else that
// does not parse gives another error.
func ParseScheduledAt(s string) (time.Time, error) {
	for _, l := range scheduleLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	for _, l := range scheduleLayoutsNoZone {
		if _, err := time.Parse(l, s); err == nil {
			return time.Time{}, ErrNoTimezone
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a time (use ISO 8601, e.g. 2026-11-30T17:20:44+00:00)", s)
}
