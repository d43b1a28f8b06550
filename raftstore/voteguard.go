package raftstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// A node without Raft state may not vote, nor campaign, until its log holds
// every entry committed before it arrived.
//
// hashicorp/raft grants a vote from an empty log to any candidate. A node
// whose Raft data was wiped comes back empty while the others may still
// list it as a voter: with one other node down, a candidate that lacks a
// committed entry X could then win with the wiped node's vote and
// overwrite X (X was on the leader that is down and on the wiped node).
// A new node is no different from a wiped one as far as this node can tell.
//
// So a node opened without Raft state "withholds" its vote: the transport
// wrapper below answers every RequestVote and RequestPreVote with a refusal
// and drops TimeoutNow (a leadership transfer to it), and its own outgoing
// vote requests fail, so it can neither elect another node nor itself. The
// withholding is persisted (catchup.json in raft.data_dir) so a restart
// before catching up keeps it. It ends when:
//
//   - this node bootstraps (every node of a first formation starts empty);
//   - its last log index reaches the catch-up index that the Raft leader
//     returned to its join request: the leader's read index (a Barrier in
//     its term, then VerifyLeader), which is at least the index of every
//     entry committed so far. Its log is then a prefix of that leader's log
//     up to there, so it holds every committed entry it may once have
//     acknowledged, and Raft's usual argument applies again;
//   - without a catch-up index, a candidate it let campaign under the
//     first-formation exception below (a log holding only the bootstrap
//     configuration) leads that term and has committed an entry of it (its
//     AppendEntries of that term says commit index 2 or more): a leader
//     elected with no entry past index 1 means nothing past index 1 had
//     been committed before its term, or such an entry is lost the moment
//     the leader commits one of its own (the case left open below); either
//     way this node's vote can lose nothing more. Without this, a first
//     formation whose leader stopped before answering this node's join
//     could never elect a leader again;
//   - formation finds every server of the configured set reachable, and
//     none has a log entry past the bootstrap configuration (index 1): no
//     entry was ever committed, so there is nothing its vote could lose.
//     This is the first-formation race (one node bootstrapped, the others
//     saw it formed and joined) that would otherwise wait for a leader
//     that cannot be elected.
//
// Withholding only ever refuses votes, so it cannot make an unsafe
// election possible; its cost is availability: with a node down and
// another withholding, a 3-node cluster waits for one of them.

const catchUpFile = "catchup.json"

// catchUp is the withholding state; the zero value withholds nothing.
type catchUp struct {
	mu       sync.Mutex
	path     string
	active   bool
	target   uint64 // 0 while unknown (no join answer yet)
	lastLog  func() uint64
	onChange func(active bool, target uint64)
	// bare lists the recent candidates that campaigned with only the
	// bootstrap configuration while this node withheld.
	bare []campaign
}

// campaign is one candidate's request for votes in one term.
type campaign struct {
	term      uint64
	candidate string
}

// bareCampaigns bounds catchUp.bare: split votes aside, one candidate per
// term is enough, and only the latest terms can still produce a leader.
const bareCampaigns = 8

type catchUpRecord struct {
	Index uint64 `json:"index"`
}

// openCatchUp reads catchup.json; a node without Raft state starts
// withholding (and records it) even without the file.
func openCatchUp(dir string, hadState bool, lastLog func() uint64) (*catchUp, error) {
	c := &catchUp{path: filepath.Join(dir, catchUpFile), lastLog: lastLog}
	b, err := os.ReadFile(c.path)
	switch {
	case err == nil:
		var rec catchUpRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("raftstore: %s: %w (delete it only if this node's Raft log is known to be complete)", c.path, err)
		}
		c.active, c.target = true, rec.Index
	case errors.Is(err, os.ErrNotExist):
		if !hadState {
			c.active = true
			if err := c.write(); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("raftstore: read %s: %w", c.path, err)
	}
	return c, nil
}

func (c *catchUp) write() error {
	b, _ := json.Marshal(catchUpRecord{Index: c.target})
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("raftstore: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return fmt.Errorf("raftstore: write %s: %w", c.path, err)
	}
	return nil
}

// withholding reports whether votes are withheld now; it ends withholding
// once the log reached the target.
func (c *catchUp) withholding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.active {
		return false
	}
	if c.target > 0 && c.lastLog() >= c.target {
		c.endLocked()
	}
	return c.active
}

// setTarget records the catch-up index of a join answer (the highest wins:
// every answer bounds the committed entries from above at its time).
func (c *catchUp) setTarget(index uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.active || index <= c.target {
		return
	}
	c.target = index
	c.bare = nil  // the catch-up index ends withholding now
	_ = c.write() // best effort: without the file a restart withholds from scratch only if it has no state
	c.notify()
}

// noteBareCampaign records a vote request from a candidate whose log holds
// only the bootstrap configuration, passed on under the first-formation
// exception.
func (c *catchUp) noteBareCampaign(term uint64, candidate string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.active || candidate == "" {
		return
	}
	c.bare = append(c.bare, campaign{term, candidate})
	if len(c.bare) > bareCampaigns {
		c.bare = c.bare[len(c.bare)-bareCampaigns:]
	}
}

// noteLeader ends withholding when leader, sending entries in term with
// commit index commit, is a candidate that campaigned in that term with
// only the bootstrap configuration and has committed an entry of its own
// term since (index 2 and later are its own: see the comment at the top).
// It reports whether it did.
func (c *catchUp) noteLeader(term uint64, leader string, commit uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.active || c.target > 0 || leader == "" || commit < 2 {
		return false
	}
	for _, b := range c.bare {
		if b.term == term && b.candidate == leader {
			c.endLocked()
			return true
		}
	}
	return false
}

// end stops withholding (bootstrap, or nothing was ever committed).
func (c *catchUp) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active {
		c.endLocked()
	}
}

func (c *catchUp) endLocked() {
	c.active = false
	c.bare = nil
	_ = os.Remove(c.path)
	c.notify()
}

func (c *catchUp) notify() {
	if c.onChange != nil {
		c.onChange(c.active, c.target)
	}
}

// state returns whether votes are withheld and the catch-up index.
func (c *catchUp) state() (bool, uint64) {
	active := c.withholding()
	c.mu.Lock()
	defer c.mu.Unlock()
	return active, c.target
}

// guardedTransport is the NetworkTransport with votes withheld while
// catchUp says so. It keeps the optional interfaces raft looks for
// (WithPreVote, WithClose).
type guardedTransport struct {
	*raft.NetworkTransport
	guard  *catchUp
	logger hclog.Logger
	self   raft.RPCHeader
	out    chan raft.RPC
	beats  heartbeatGate
}

// heartbeatGate lets Close wait for heartbeats in progress. hashicorp/raft
// handles a heartbeat on the transport's connection goroutine, not its
// main loop: one that passed its shutdown check just before Shutdown can
// still write the term after raft.db was closed, and raft panics ("failed
// to save current term: database not open"). Once closed, heartbeats are
// refused.
type heartbeatGate struct {
	mu     sync.RWMutex
	closed bool
}

var errTransportClosed = errors.New("raft transport closed")

// SetHeartbeatHandler wraps raft's heartbeat handler with the gate.
func (g *guardedTransport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	if cb == nil {
		g.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	g.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		g.beats.mu.RLock()
		defer g.beats.mu.RUnlock()
		if g.beats.closed {
			rpc.Respond(nil, errTransportClosed)
			return
		}
		cb(rpc)
	})
}

// stopHeartbeats waits for the heartbeats in progress and refuses later ones.
func (g *guardedTransport) stopHeartbeats() {
	g.beats.mu.Lock()
	g.beats.closed = true
	g.beats.mu.Unlock()
}

var (
	_ raft.Transport   = (*guardedTransport)(nil)
	_ raft.WithPreVote = (*guardedTransport)(nil)
	_ raft.WithClose   = (*guardedTransport)(nil)
)

func newGuardedTransport(t *raft.NetworkTransport, guard *catchUp, id string, logger hclog.Logger, done <-chan struct{}) *guardedTransport {
	g := &guardedTransport{
		NetworkTransport: t,
		guard:            guard,
		logger:           logger,
		self:             raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id), Addr: []byte(id)},
		out:              make(chan raft.RPC),
	}
	go g.filter(done)
	return g
}

var errWithholding = errors.New("this node withholds its vote until its Raft log caught up")

// filter passes every RPC on except the ones a withholding node refuses.
func (g *guardedTransport) filter(done <-chan struct{}) {
	in := g.NetworkTransport.Consumer()
	for {
		var rpc raft.RPC
		select {
		case rpc = <-in:
		case <-done:
			return
		}
		switch cmd := rpc.Command.(type) {
		case *raft.RequestVoteRequest:
			if g.refusesVote(cmd.LastLogIndex) {
				rpc.Respond(&raft.RequestVoteResponse{RPCHeader: g.self, Term: cmd.Term, Granted: false}, nil)
				continue
			}
			if cmd.LastLogIndex <= 1 {
				g.guard.noteBareCampaign(cmd.Term, sender(cmd.RPCHeader, cmd.Candidate))
			}
		case *raft.AppendEntriesRequest:
			if leader := sender(cmd.RPCHeader, cmd.Leader); g.guard.noteLeader(cmd.Term, leader, cmd.LeaderCommitIndex) {
				g.logger.Info("stopped withholding this node's vote: the leader elected without entries past the bootstrap configuration leads",
					"node", string(g.self.Addr), "leader", leader, "term", cmd.Term)
			}
		case *raft.RequestPreVoteRequest:
			if g.refusesVote(cmd.LastLogIndex) {
				rpc.Respond(&raft.RequestPreVoteResponse{RPCHeader: g.self, Term: cmd.Term, Granted: false}, nil)
				continue
			}
		case *raft.TimeoutNowRequest:
			if g.guard.withholding() {
				rpc.Respond(nil, errWithholding)
				continue
			}
		}
		select {
		case g.out <- rpc:
		case <-done:
			return
		}
	}
}

// sender is the address of an RPC's sender: the header's, or the older
// field the request still carries.
func sender(h raft.RPCHeader, legacy []byte) string {
	if len(h.Addr) > 0 {
		return string(h.Addr)
	}
	return string(legacy)
}

// refusesVote says whether a vote request from a candidate whose log ends
// at lastLog is refused. While this node withholds, it refuses, except
// during a first formation: it never got a join answer (no catch-up index)
// and the candidate's log holds only the bootstrap configuration. Two of
// three servers forming (the third not started yet; one bootstrapped, the
// other saw it formed and joined) otherwise wait for a leader nobody can
// elect. A candidate with nothing past the bootstrap entry has no entry to
// overwrite anyone's with, save in one case left open (DESIGN.md,
// "Membership"): it was cut off since it bootstrapped while this node,
// wiped since, had helped commit entries with others.
func (g *guardedTransport) refusesVote(lastLog uint64) bool {
	active, target := g.guard.state()
	return active && !(target == 0 && lastLog <= 1)
}

// Consumer is the filtered RPC channel.
func (g *guardedTransport) Consumer() <-chan raft.RPC { return g.out }

// RequestVote fails while withholding: this node must not campaign.
func (g *guardedTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if g.guard.withholding() {
		return errWithholding
	}
	return g.NetworkTransport.RequestVote(id, target, args, resp)
}

// RequestPreVote fails while withholding, like RequestVote.
func (g *guardedTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if g.guard.withholding() {
		return errWithholding
	}
	return g.NetworkTransport.RequestPreVote(id, target, args, resp)
}
