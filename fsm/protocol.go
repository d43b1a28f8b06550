package fsm

// Protocol levels. Each agent publishes the highest level it applies in its
// member record (Member.Protocol; 0 = an agent older than the field). A
// command type without FlagIgnorable that older agents cannot apply makes
// them stop, so new agents propose one only while every member listed in
// the state advertises its level (State.AllSupport), and otherwise fall
// back to what older agents proposed. Levels are only ever appended.
const (
	// ProtocolSwapSync: the agent applies SwapSync (14) and
	// RemoveStaleMember (15).
	ProtocolSwapSync = 1

	// ProtocolRenewCAS: the agent checks RenewLeader.ExpectIndex. An older
	// agent ignores the field and would apply a renewal the newer ones
	// refuse, so the field is sent only at this level.
	ProtocolRenewCAS = 2

	// ProtocolTenureHistory: the agent applies AppendTenureHistory (16).
	ProtocolTenureHistory = 3

	// ProtocolCAS: the agent applies RenewLeaderCAS (17) and
	// SwapSyncSealed (18) (fsm/cas.go).
	ProtocolCAS = 4

	// ProtocolHandOver: the agent applies HandOver (19), the planned
	// switchover's release of the key to a named candidate.
	ProtocolHandOver = 5

	// ProtocolClusterID: the agent applies SetClusterID and checks the
	// cluster ID on its Raft port's connections (raftstore/clusterid.go).
	ProtocolClusterID = 6

	// Protocol is the level this build applies and publishes.
	Protocol = ProtocolClusterID
)

// AllServersSupport is AllSupport with the Raft configuration too: servers
// are the IDs (raft.self_addr) of every server in it, voters and non-voters,
// and each must have a member record (Member.RaftAddr) advertising at least
// level. A Raft peer whose agent never published a record, or whose record
// was removed as stale, applies the log all the same.
func (s State) AllServersSupport(level int, servers []string) bool {
	if !s.AllSupport(level) {
		return false
	}
	for _, id := range servers {
		found := false
		for _, m := range s.Members {
			if m.RaftAddr == id && m.Protocol >= level {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// AllSupport reports whether every member listed in the state advertises
// at least level. Conservative: a silent member still counts (its agent may
// still run a Raft peer), and an empty list supports nothing. A Raft voter
// whose agent never published a record is not seen here: AllServersSupport
// checks the Raft configuration too.
func (s State) AllSupport(level int) bool {
	if len(s.Members) == 0 {
		return false
	}
	for _, m := range s.Members {
		if m.Protocol < level {
			return false
		}
	}
	return true
}
