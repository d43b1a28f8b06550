package fsm

import "time"

// Protocol level 4 (ProtocolCAS): two command types that replace a field or
// a command older nodes apply differently.
//
// RenewLeaderCAS (17). RenewLeader.ExpectIndex is a field: an agent older
// than ProtocolRenewCAS ignores it and applies a renewal the others refuse,
// and its LeaderIndex diverges. The protocol gate saw only the member list,
// so an older Raft voter without a member record (or an older member removed
// as stale whose Raft peer still runs) was not counted. A new type without
// FlagIgnorable turns that divergence into a stop: a node that does not know
// type 17 panics at it rather than keep another LeaderIndex. RenewLeader (5)
// is still applied exactly as before (ExpectIndex checked when non-zero), for
// the entries older agents write.
//
// SwapSyncSealed (18). SetSync (10) carries no version, so a SetSync whose
// outcome was unknown, sent while the cluster was below ProtocolSwapSync, is
// not fenced by a later SwapSync: if it lands after it (a forwarded proposal
// that arrives late), it records its set on an unchanged version, perhaps a
// standby PostgreSQL no longer waits for (rule 2). SwapSyncSealed is SwapSync
// that also records the tenure in Sync.SealedEpoch, and SetSync of a sealed
// tenure is refused. That refusal is a stricter rule for an existing type,
// which is allowed here only because it cannot make two nodes disagree:
// SealedEpoch is set by type 18 alone, so a state where the new rule differs
// from the old one exists only on nodes that applied a type 18 entry, and a
// node that does not know type 18 stops at it. Replaying the log and
// restoring snapshots (SealedEpoch travels in Sync) give the same answer on
// every node still applying. SwapSync (14) and SetSync keep SealedEpoch.

// RenewLeaderCAS extends the lease of tenure Epoch if State.LeaderIndex
// still equals ExpectIndex. Its fields are RenewLeader's (applyRenewLeader
// converts one into the other), and SwapSyncSealed's are SwapSync's (ha/lease.go: a committed renewal then proves no
// renewal sent before it with an older ExpectIndex can commit any more).
type RenewLeaderCAS struct {
	Member      string    `json:"member"`
	Epoch       uint64    `json:"epoch"`
	TTL         int       `json:"ttl"`
	ProposedAt  time.Time `json:"proposed_at"`
	ExpectIndex uint64    `json:"expect_index"`
}

// SwapSyncSealed is SwapSync that also seals tenure Epoch against SetSync.
type SwapSyncSealed struct {
	Leader        string   `json:"leader"`
	Epoch         uint64   `json:"epoch"`
	ExpectVersion uint64   `json:"expect_version"`
	Members       []string `json:"members"`
}

func (RenewLeaderCAS) Type() CommandType { return CmdRenewLeaderCAS }
func (SwapSyncSealed) Type() CommandType { return CmdSwapSyncSealed }

func applyRenewLeaderCAS(s *State, c Command, index uint64) error {
	return renewTenure(s, c.(RenewLeaderCAS), true, index)
}

func applySwapSyncSealed(s *State, c Command, index uint64) error {
	cmd := c.(SwapSyncSealed)
	return swapSync(s, SwapSync(cmd), cmd.Epoch, index)
}
