package agent

import (
	"errors"
	"fmt"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
)

// prepareReplace builds the state that replaces the current one on the
// Raft leader (raftstore.Config.PrepareReplace; DESIGN.md "Raft state
// backup and recovery"). Neither kind ever brings back a leader key, a
// sync set or an initialize key from elsewhere:
//   - restore takes only the dynamic configuration from the file and keeps
//     everything the live cluster holds (initialize, leader key and its
//     index, sync, members, history, pending), so a running primary keeps
//     its tenure and nobody else can take it;
//   - forget (conclave remove) keeps only the dynamic configuration; the
//     members rebuild the rest from their data (ha/rebuild.go), and it is
//     refused while this node sees a leader lease that may still be trusted.
func (a *Agent) prepareReplace(kind string, current, restored fsm.State) (fsm.State, error) {
	switch kind {
	case raftstore.ReplaceRestore:
		if c, r := current.SystemID(), restored.SystemID(); c != "" && r != "" && c != r {
			return fsm.State{}, fmt.Errorf("the snapshot is of PostgreSQL system identifier %s, this cluster runs %s", r, c)
		}
		next := current.Clone()
		next.Config = restored.Config
		next.ConfigIndex = current.Index + 1 // a new version: If-Match on the old one fails
		return next, nil
	case raftstore.ReplaceForget:
		loop := a.liveLoop.Load()
		if loop == nil {
			return fsm.State{}, errors.New("this agent is still starting; retry")
		}
		if loop.LeaderLeaseTrusted(current) {
			return fsm.State{}, fmt.Errorf("member %s holds the leader lease: stop its agent (pause first to keep the others from taking over) and retry a ttl later",
				current.LeaderName())
		}
		return fsm.State{Config: current.Config, ConfigIndex: current.Index + 1, Members: map[string]fsm.Member{}}, nil
	}
	return fsm.State{}, fmt.Errorf("unknown state replacement %q", kind)
}
