package ha

import (
	"github.com/conclave-ha/conclave/fsm"
)

// Protocol gates (fsm/protocol.go). A command type without FlagIgnorable is
// proposed only when every agent that may apply the log applies it: every
// member listed in the state, and every server of the Raft configuration
// (voter or not), through a member record naming its Raft ID. A Raft peer
// whose agent never published a record, or whose record was removed as
// stale, still applies every entry: counting only members missed it (rolling
// upgrade, DESIGN.md).
//
// The gates decide who must not be made to stop, not what is safe: an older
// node that meets a type it does not know stops instead of diverging. So a
// Raft configuration read a moment before a server joined can at worst stop
// that (older) server, never make two nodes keep different states.

// ServerLister may be implemented by a Cluster: RaftServerIDs lists the ID
// (raft.self_addr, Member.RaftAddr) of every server in the latest Raft
// configuration this node knows, voters and non-voters.
type ServerLister interface {
	RaftServerIDs() ([]string, error)
}

// unknownServer stands for a Raft configuration that could not be read: no
// member record names it, so every gate stays closed.
const unknownServer = "(raft configuration unknown)"

// raftServers returns the Raft configuration's server IDs; nil when the
// Cluster does not list them (in-process fakes: members only).
func (l *Loop) raftServers() []string {
	sl, ok := l.cluster.(ServerLister)
	if !ok {
		return nil
	}
	ids, err := sl.RaftServerIDs()
	if err != nil {
		l.log.Warn("reading the Raft configuration failed: proposing only commands every agent applies", "error", err)
		return []string{unknownServer}
	}
	if ids == nil {
		ids = []string{}
	}
	return ids
}

// supports reports whether every agent that may apply st's log applies
// level (the Raft configuration read now).
func (l *Loop) supports(st fsm.State, level int) bool {
	return supportedBy(st, l.raftServers(), level)
}

// Supports is the same gate for Decide, on the observation's Raft
// configuration.
func (o Observation) Supports(level int) bool {
	return supportedBy(o.State, o.RaftServers, level)
}

func supportedBy(st fsm.State, servers []string, level int) bool {
	if servers == nil {
		return st.AllSupport(level)
	}
	return st.AllServersSupport(level, servers)
}

// levelOf is the highest protocol level every agent that may apply st's
// log applies: 0 while an agent older than the levels is listed (or the
// state lists no member yet), fsm.Protocol once every one runs this build.
func levelOf(st fsm.State, servers []string) int {
	level := 0
	for level < fsm.Protocol && supportedBy(st, servers, level+1) {
		level++
	}
	return level
}

// noteLevel logs the cluster's protocol level when it changes (loop
// goroutine). At INFO while it is below this build's (an older agent is
// listed: a rolling upgrade is under way) and when it rises to this build's
// from a lower one: that line is the sign that the last older agent is gone
// and the commands of the newer levels are in use (README, "Rolling
// upgrades"). A cluster all on this build logs it at DEBUG only, and a state
// that lists no member yet (replay not done) is not read. Only a log line:
// the gates themselves read the state at each proposal.
func (l *Loop) noteLevel(o Observation) {
	if len(o.State.Members) == 0 {
		return
	}
	level := levelOf(o.State, o.RaftServers)
	if l.level != nil && *l.level == level {
		return
	}
	log := l.log.Info
	if l.level == nil && level == fsm.Protocol {
		log = l.log.Debug
	}
	l.level = &level
	log("cluster protocol level", "member", l.cfg.Name, "level", level, "this_agent", fsm.Protocol)
}
