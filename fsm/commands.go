package fsm

import (
	"encoding/json"
	"fmt"
	"time"
)

// CommandType is the first byte of every log entry. Numbers are only ever
// appended; a retired number stays listed as "retired: do not reuse".
// The high bit (FlagIgnorable) marks commands an older node may skip because
// losing them cannot break safety.
type CommandType uint8

// FlagIgnorable marks a command type that older nodes may ignore.
const FlagIgnorable CommandType = 0x80

const (
	CmdClaimInitialize CommandType = 1  // body: ClaimInitialize
	CmdSetInitialize   CommandType = 2  // body: SetInitialize
	CmdAbortInitialize CommandType = 3  // body: AbortInitialize
	CmdAcquireLeader   CommandType = 4  // body: AcquireLeader
	CmdRenewLeader     CommandType = 5  // body: RenewLeader
	CmdReleaseLeader   CommandType = 6  // body: ReleaseLeader
	CmdUpsertMember    CommandType = 7  // body: UpsertMember
	CmdRemoveMember    CommandType = 8  // body: RemoveMember
	CmdSetConfig       CommandType = 9  // body: SetConfig
	CmdSetSync         CommandType = 10 // body: SetSync
	CmdAppendHistory   CommandType = 11 // body: AppendHistory
	CmdSetPending      CommandType = 12 // body: SetPending
	CmdClearPending    CommandType = 13 // body: ClearPending
	// CmdSwapSync replaces CmdSetSync for new proposals: a compare-and-swap
	// on Sync.Version. It has no FlagIgnorable: an older node that skipped it
	// would keep another sync set than the rest and might promote a member
	// that lacks acknowledged commits, so it stops instead.
	CmdSwapSync CommandType = 14 // body: SwapSync
	// CmdRemoveStaleMember removes a member that stopped reporting, only if
	// it has not reported since (compare-and-swap on its UpdatedIndex). No
	// FlagIgnorable: the member list drives slots and the sync choice.
	CmdRemoveStaleMember CommandType = 15 // body: RemoveStaleMember
	// CmdAppendTenureHistory replaces CmdAppendHistory for new proposals: its
	// entry carries the promoting tenure (Entry.Epoch), and a later tenure may
	// record a second fork of the same parent timeline. That is a changed
	// acceptance rule, so it is a new type without FlagIgnorable: an older
	// node, which would reject the second entry (and drop the epoch), stops
	// instead of keeping another history than the rest.
	CmdAppendTenureHistory CommandType = 16 // body: AppendTenureHistory
	// CmdRenewLeaderCAS replaces RenewLeader.ExpectIndex for new proposals:
	// a renewal that is always a compare-and-swap on LeaderIndex. A field
	// older nodes ignore made them apply renewals the others refused; a new
	// type without FlagIgnorable makes them stop instead (fsm/cas.go).
	CmdRenewLeaderCAS CommandType = 17 // body: RenewLeaderCAS
	// CmdSwapSyncSealed is SwapSync that also seals the tenure's sync record
	// against the old, unversioned SetSync (fsm/cas.go). No FlagIgnorable.
	CmdSwapSyncSealed CommandType = 18 // body: SwapSyncSealed
)

// Command is a typed change to the replicated state.
type Command interface {
	Type() CommandType
}

// ClaimInitialize takes the right to run initdb for the cluster (or, for an
// existing data directory, to publish its system identifier).
type ClaimInitialize struct {
	Member string `json:"member"`
}

// SetInitialize records the system identifier once the claimant's data
// directory exists. It is set once and never changes afterwards.
type SetInitialize struct {
	Member   string `json:"member"`
	SystemID string `json:"system_id"`
}

// AbortInitialize gives the claim back after a failed initdb so another
// member may try.
type AbortInitialize struct {
	Member string `json:"member"`
}

// AcquireLeader takes the leader key if it has not changed since
// ExpectIndex (State.LeaderIndex as the proposer saw it).
type AcquireLeader struct {
	Member      string    `json:"member"`
	ExpectIndex uint64    `json:"expect_index"`
	TTL         int       `json:"ttl"`
	ProposedAt  time.Time `json:"proposed_at"`
}

// RenewLeader extends the lease of the current tenure (Epoch). With
// ExpectIndex set (non-zero) it is also a compare-and-swap on
// State.LeaderIndex, like AcquireLeader: a renewal that commits then proves
// that no renewal sent before it with an older ExpectIndex can commit any
// more (ha/lease.go). Zero: no check (the old behaviour).
type RenewLeader struct {
	Member      string    `json:"member"`
	Epoch       uint64    `json:"epoch"`
	TTL         int       `json:"ttl"`
	ProposedAt  time.Time `json:"proposed_at"`
	ExpectIndex uint64    `json:"expect_index,omitempty"`
}

// ReleaseLeader gives the leader key up (clean shutdown, switchover, demotion).
type ReleaseLeader struct {
	Member string `json:"member"`
	Epoch  uint64 `json:"epoch"`
}

// UpsertMember publishes one member's status.
type UpsertMember struct {
	Member Member `json:"member"`
}

// RemoveMember deletes a member from the list (leave, remove).
type RemoveMember struct {
	Name string `json:"name"`
}

// SetConfig replaces the dynamic configuration. With IfEmpty it applies only
// when no configuration is stored yet (first formation). With ExpectIndex set
// it applies only if the config has not changed since that index.
type SetConfig struct {
	Config      map[string]any `json:"config"`
	IfEmpty     bool           `json:"if_empty,omitempty"`
	ExpectIndex *uint64        `json:"expect_index,omitempty"`
}

// SetSync records the synchronous standbys of the tenure Epoch of Leader.
// New nodes never propose it (SwapSync does the same with a version check);
// it is kept so that log entries written by older versions still apply.
type SetSync struct {
	Leader  string   `json:"leader"`
	Epoch   uint64   `json:"epoch"`
	Members []string `json:"members"`
}

// SwapSync records the synchronous standbys of the tenure Epoch of Leader
// if Sync.Version still equals ExpectVersion, so a proposal whose outcome
// was unknown (Raft leader change mid-commit) and that lands after a newer
// one is rejected instead of overwriting it.
type SwapSync struct {
	Leader        string   `json:"leader"`
	Epoch         uint64   `json:"epoch"`
	ExpectVersion uint64   `json:"expect_version"`
	Members       []string `json:"members"`
}

// RemoveStaleMember deletes member Name from the list if its last report is
// still the one at ExpectIndex (Member.UpdatedIndex as the proposer saw it).
// A member that reported again in between is kept.
type RemoveStaleMember struct {
	Name        string `json:"name"`
	ExpectIndex uint64 `json:"expect_index"`
}

// AppendHistory records a timeline switch.
type AppendHistory struct {
	Entry HistoryEntry `json:"entry"`
}

// AppendTenureHistory records a timeline switch made by the tenure
// Entry.Epoch. Unlike AppendHistory it accepts an entry for the same timeline
// as the last one when it comes from a later tenure (two tenures each forked
// a timeline with the same number from the same parent).
type AppendTenureHistory struct {
	Entry HistoryEntry `json:"entry"`
}

// SetPending requests a switchover or failover.
type SetPending struct {
	Pending Pending `json:"pending"`
}

// ClearPending removes a pending request.
type ClearPending struct{}

func (ClaimInitialize) Type() CommandType { return CmdClaimInitialize }
func (SetInitialize) Type() CommandType   { return CmdSetInitialize }
func (AbortInitialize) Type() CommandType { return CmdAbortInitialize }
func (AcquireLeader) Type() CommandType   { return CmdAcquireLeader }
func (RenewLeader) Type() CommandType     { return CmdRenewLeader }
func (ReleaseLeader) Type() CommandType   { return CmdReleaseLeader }
func (UpsertMember) Type() CommandType    { return CmdUpsertMember }
func (RemoveMember) Type() CommandType    { return CmdRemoveMember }
func (SetConfig) Type() CommandType       { return CmdSetConfig }
func (SetSync) Type() CommandType         { return CmdSetSync }
func (AppendHistory) Type() CommandType   { return CmdAppendHistory }
func (AppendTenureHistory) Type() CommandType {
	return CmdAppendTenureHistory
}
func (SetPending) Type() CommandType   { return CmdSetPending }
func (ClearPending) Type() CommandType { return CmdClearPending }
func (SwapSync) Type() CommandType     { return CmdSwapSync }
func (RemoveStaleMember) Type() CommandType {
	return CmdRemoveStaleMember
}

// Encode returns the log entry bytes: [type][JSON body].
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", c.Type(), err)
	}
	return append([]byte{byte(c.Type())}, body...), nil
}

// Decode parses log entry bytes. An unknown type yields ErrUnknownCommand.
func Decode(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decode command: empty entry")
	}
	t := CommandType(b[0])
	h, ok := handlers[t]
	if !ok {
		return nil, fmt.Errorf("%w: type %d", ErrUnknownCommand, t)
	}
	c, err := h.decode(b[1:])
	if err != nil {
		return nil, fmt.Errorf("decode command %d: %w", t, err)
	}
	return c, nil
}

func decodeAs[T Command](body []byte) (Command, error) {
	var c T
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, err
	}
	return c, nil
}
