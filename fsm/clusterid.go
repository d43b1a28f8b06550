package fsm

import (
	"encoding/hex"
)

// The cluster ID names one Raft history (DESIGN.md, "Cluster ID"). It is
// minted through the log, not at bootstrap: several fresh nodes may
// bootstrap the same configuration at once (raftstore/FORMATION.md), and
// IDs minted locally would differ. The Raft leader of a state without an
// ID proposes SetClusterID; the first one applied wins.

// CmdSetClusterID records the cluster ID. FlagIgnorable: nothing in Apply
// or Decide reads the ID, so an older node that skips it keeps the same
// decisions; it is proposed only at ProtocolClusterID all the same
// (State.AllSupport), and the flag covers a Raft voter whose agent has not
// published a record yet (after a rebuild, a voter that is down).
const CmdSetClusterID CommandType = FlagIgnorable | 20 // body: SetClusterID

// ClusterIDLen is the length of a cluster ID: 128 random bits in hex.
const ClusterIDLen = 32

// SetClusterID records ID as the cluster ID unless one is recorded already.
type SetClusterID struct {
	ID string `json:"id"`
}

func (SetClusterID) Type() CommandType { return CmdSetClusterID }

// ValidClusterID reports whether id has the form of a minted cluster ID.
func ValidClusterID(id string) bool {
	if len(id) != ClusterIDLen {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// applySetClusterID keeps the first ID: a second leader that proposed its
// own before seeing the first (a leader change mid-proposal) changes
// nothing, so every replica ends with the same one.
func applySetClusterID(s *State, c Command, _ uint64) error {
	cmd := c.(SetClusterID)
	if !ValidClusterID(cmd.ID) {
		return reject(ErrInvalidCommand, "set cluster id: %q is not %d hex digits", cmd.ID, ClusterIDLen)
	}
	if s.ClusterID == "" {
		s.ClusterID = cmd.ID
	}
	return nil
}

// ClusterID returns the recorded cluster ID, "" before one is applied.
func (f *FSM) ClusterID() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.ClusterID
}
