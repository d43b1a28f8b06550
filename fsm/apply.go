package fsm

import (
	"sort"

	"github.com/conclave-ha/conclave/dynconfig"
)

func applyClaimInitialize(s *State, c Command, _ uint64) error {
	cmd := c.(ClaimInitialize)
	if cmd.Member == "" {
		return reject(ErrInvalidCommand, "claim initialize: empty member")
	}
	switch {
	case s.Initialize == nil:
		s.Initialize = &Initialize{Member: cmd.Member}
		return nil
	case s.Initialize.Member == cmd.Member && s.Initialize.SystemID == "":
		return nil // idempotent retry
	default:
		return reject(ErrInitializeHeld, "held by %s", s.Initialize.Member)
	}
}

func applySetInitialize(s *State, c Command, _ uint64) error {
	cmd := c.(SetInitialize)
	if cmd.SystemID == "" {
		return reject(ErrInvalidCommand, "set initialize: empty system identifier")
	}
	switch {
	case s.Initialize == nil:
		return reject(ErrInitializeHeld, "not claimed")
	case s.Initialize.SystemID != "":
		if s.Initialize.SystemID == cmd.SystemID {
			return nil
		}
		return reject(ErrSystemIDMismatch, "cluster has %s, %s reported %s", s.Initialize.SystemID, cmd.Member, cmd.SystemID)
	case s.Initialize.Member != cmd.Member:
		return reject(ErrInitializeHeld, "held by %s", s.Initialize.Member)
	}
	s.Initialize.SystemID = cmd.SystemID
	return nil
}

func applyAbortInitialize(s *State, c Command, _ uint64) error {
	cmd := c.(AbortInitialize)
	if s.Initialize == nil || s.Initialize.Member != cmd.Member || s.Initialize.SystemID != "" {
		return reject(ErrInitializeHeld, "nothing to abort for %s", cmd.Member)
	}
	s.Initialize = nil
	return nil
}

func applyAcquireLeader(s *State, c Command, index uint64) error {
	cmd := c.(AcquireLeader)
	if cmd.Member == "" || cmd.TTL <= 0 {
		return reject(ErrInvalidCommand, "acquire leader: member and ttl are required")
	}
	if cmd.ExpectIndex != s.LeaderIndex {
		return reject(ErrLeaderChanged, "expected index %d, leader key is at %d", cmd.ExpectIndex, s.LeaderIndex)
	}
	// Rule 2 at the compare-and-swap itself, so a candidate deciding on a
	// stale view cannot win: in synchronous mode only the recorded sync
	// leader or a recorded synchronous standby may take the key.
	if syncModeClosed(s.Config) && s.Sync.Leader != "" && s.Sync.Leader != cmd.Member && !s.IsSync(cmd.Member) {
		return reject(ErrNotSyncStandby, "%s is not a recorded synchronous standby", cmd.Member)
	}
	s.Leader = &Leader{Member: cmd.Member, Epoch: index, TTL: cmd.TTL, AcquiredAt: cmd.ProposedAt, RenewedAt: cmd.ProposedAt}
	s.LeaderIndex = index
	return nil
}

// syncModeClosed reads synchronous_mode for rule 2 failing closed: a stored
// document that does not parse at all still counts as synchronous when its
// raw synchronous_mode is anything but absent or false.
func syncModeClosed(raw map[string]any) bool {
	if dyn, err := ParseDynamicConfig(raw); err == nil {
		return dyn.SynchronousMode
	}
	v, ok := raw["synchronous_mode"]
	return ok && v != nil && v != false
}

// applyRenewLeader checks ExpectIndex only when it is set (zero: entries of
// agents older than the field); RenewLeaderCAS always checks it.
func applyRenewLeader(s *State, c Command, index uint64) error {
	cmd := c.(RenewLeader)
	return renewTenure(s, RenewLeaderCAS(cmd), cmd.ExpectIndex != 0, index)
}

// renewTenure extends the lease of tenure cmd.Epoch, a compare-and-swap on
// LeaderIndex when checkIndex.
func renewTenure(s *State, cmd RenewLeaderCAS, checkIndex bool, index uint64) error {
	if s.Leader == nil || s.Leader.Member != cmd.Member || s.Leader.Epoch != cmd.Epoch {
		return reject(ErrNotLeaderHolder, "%s (epoch %d) cannot renew", cmd.Member, cmd.Epoch)
	}
	if checkIndex && cmd.ExpectIndex != s.LeaderIndex {
		return reject(ErrLeaderChanged, "renew: expected index %d, leader key is at %d", cmd.ExpectIndex, s.LeaderIndex)
	}
	if cmd.TTL > 0 {
		s.Leader.TTL = cmd.TTL
	}
	s.Leader.RenewedAt = cmd.ProposedAt
	s.LeaderIndex = index
	return nil
}

func applyReleaseLeader(s *State, c Command, index uint64) error {
	cmd := c.(ReleaseLeader)
	if s.Leader == nil || s.Leader.Member != cmd.Member || s.Leader.Epoch != cmd.Epoch {
		return reject(ErrNotLeaderHolder, "%s (epoch %d) cannot release", cmd.Member, cmd.Epoch)
	}
	s.Leader = nil
	s.LeaderIndex = index
	return nil
}

func applyUpsertMember(s *State, c Command, index uint64) error {
	m := c.(UpsertMember).Member
	if m.Name == "" {
		return reject(ErrInvalidCommand, "upsert member: empty name")
	}
	m.UpdatedIndex = index
	if s.Members == nil {
		s.Members = map[string]Member{}
	}
	s.Members[m.Name] = m
	return nil
}

func applyRemoveMember(s *State, c Command, _ uint64) error {
	name := c.(RemoveMember).Name
	if _, ok := s.Members[name]; !ok {
		return reject(ErrInvalidCommand, "remove member: no member %q", name)
	}
	delete(s.Members, name)
	return nil
}

func applySetConfig(s *State, c Command, index uint64) error {
	cmd := c.(SetConfig)
	// ConfigIndex, not Config != nil: an empty stored document becomes nil
	// through a snapshot (omitempty), and a restored node would then apply
	// what the others skip.
	if cmd.IfEmpty && s.ConfigIndex != 0 {
		return nil // first formation already stored one: keep it
	}
	if cmd.ExpectIndex != nil && *cmd.ExpectIndex != s.ConfigIndex {
		return reject(ErrConfigConflict, "expected index %d, config is at %d", *cmd.ExpectIndex, s.ConfigIndex)
	}
	if err := dynconfig.AcceptDynamicConfig(cmd.Config); err != nil {
		return reject(ErrInvalidConfig, "%v", err)
	}
	if cmd.Config == nil {
		cmd.Config = map[string]any{}
	}
	s.Config = cmd.Config
	s.ConfigIndex = index
	return nil
}

func applySetSync(s *State, c Command, _ uint64) error {
	cmd := c.(SetSync)
	if s.Leader == nil || s.Leader.Member != cmd.Leader || s.Leader.Epoch != cmd.Epoch {
		return reject(ErrNotLeaderHolder, "%s (epoch %d) cannot set synchronous standbys", cmd.Leader, cmd.Epoch)
	}
	if s.Sync.SealedEpoch != 0 && s.Sync.SealedEpoch == cmd.Epoch {
		// Only reachable after a SwapSyncSealed, which nodes that apply
		// SetSync the old way stop at (fsm/cas.go).
		return reject(ErrSyncChanged, "tenure %d records its synchronous standbys with a version: unversioned SetSync refused", cmd.Epoch)
	}
	members := append([]string(nil), cmd.Members...)
	sort.Strings(members)
	s.Sync = Sync{Leader: cmd.Leader, Members: members, Version: s.Sync.Version, SealedEpoch: s.Sync.SealedEpoch}
	return nil
}

// applySwapSync is SetSync with a compare-and-swap on Sync.Version: the
// primary proposes with the version it last read, so a delayed proposal of
// an older decision cannot overwrite a newer one (rule 2 relies on the state
// never listing a standby the primary stopped waiting for).
func applySwapSync(s *State, c Command, index uint64) error {
	return swapSync(s, c.(SwapSync), s.Sync.SealedEpoch, index)
}

// swapSync records cmd's set if Sync.Version is still cmd.ExpectVersion,
// with sealed as Sync.SealedEpoch.
func swapSync(s *State, cmd SwapSync, sealed, index uint64) error {
	if s.Leader == nil || s.Leader.Member != cmd.Leader || s.Leader.Epoch != cmd.Epoch {
		return reject(ErrNotLeaderHolder, "%s (epoch %d) cannot set synchronous standbys", cmd.Leader, cmd.Epoch)
	}
	if cmd.ExpectVersion != s.Sync.Version {
		return reject(ErrSyncChanged, "expected version %d, sync is at %d", cmd.ExpectVersion, s.Sync.Version)
	}
	members := append([]string(nil), cmd.Members...)
	sort.Strings(members)
	s.Sync = Sync{Leader: cmd.Leader, Members: members, Version: index, SealedEpoch: sealed}
	return nil
}

// applyRemoveStaleMember removes a member whose last report is the one the
// proposer judged stale. The leader key holder and recorded synchronous
// standbys are never removed this way: their records back safety decisions.
func applyRemoveStaleMember(s *State, c Command, _ uint64) error {
	cmd := c.(RemoveStaleMember)
	m, ok := s.Members[cmd.Name]
	switch {
	case !ok:
		return reject(ErrInvalidCommand, "remove stale member: no member %q", cmd.Name)
	case m.UpdatedIndex != cmd.ExpectIndex:
		return reject(ErrMemberChanged, "%s reported at index %d, expected %d", cmd.Name, m.UpdatedIndex, cmd.ExpectIndex)
	case s.LeaderName() == cmd.Name:
		return reject(ErrInvalidCommand, "remove stale member: %s holds the leader key", cmd.Name)
	case s.IsSync(cmd.Name):
		return reject(ErrInvalidCommand, "remove stale member: %s is a recorded synchronous standby", cmd.Name)
	}
	delete(s.Members, cmd.Name)
	return nil
}

// applyAppendHistory keeps the rule every version has applied to this
// command: a timeline strictly after the last one. It must not change (an
// older node applies the same entries); the epoch is not stored from it, as
// an older node would drop it. New nodes propose AppendTenureHistory.
func applyAppendHistory(s *State, c Command, _ uint64) error {
	e := c.(AppendHistory).Entry
	e.Epoch = 0
	if n := len(s.History); n > 0 && s.History[n-1].Timeline >= e.Timeline {
		return reject(ErrInvalidCommand, "history: timeline %d not after %d", e.Timeline, s.History[n-1].Timeline)
	}
	s.History = append(s.History, e)
	return nil
}

// applyAppendTenureHistory accepts a later timeline, or the same timeline as
// the last entry from a later tenure: two tenures can each fork timeline N+1
// from timeline N (rule 4: the history is keyed by tenure, not by number).
// An entry without a tenure (Epoch 0: the fork LSN was a guess) gets the old
// rule, a strictly later timeline.
func applyAppendTenureHistory(s *State, c Command, _ uint64) error {
	e := c.(AppendTenureHistory).Entry
	if n := len(s.History); n > 0 {
		last := s.History[n-1]
		if e.Timeline < last.Timeline || (e.Timeline == last.Timeline && e.Epoch <= last.Epoch) {
			return reject(ErrInvalidCommand, "history: timeline %d (epoch %d) not after %d (epoch %d)", e.Timeline, e.Epoch, last.Timeline, last.Epoch)
		}
	}
	s.History = append(s.History, e)
	return nil
}

func applySetPending(s *State, c Command, _ uint64) error {
	p := c.(SetPending).Pending
	// Only HandOver records a hand-over; older nodes drop these fields
	// when they decode the body, so every node stores the same thing.
	p.HandedOverIndex, p.CheckpointLSN = 0, 0
	if p.Kind != "switchover" && p.Kind != "failover" {
		return reject(ErrInvalidCommand, "pending: unknown kind %q", p.Kind)
	}
	s.Pending = &p
	return nil
}

func applyClearPending(s *State, _ Command, _ uint64) error {
	s.Pending = nil
	return nil
}
