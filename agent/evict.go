package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/fsm"
)

// evictStore is the part of raftstore.Store an eviction uses.
type evictStore interface {
	LinearizableState(ctx context.Context) (fsm.State, error)
	RaftServerIDs() ([]string, error)
	CheckRemove(ctx context.Context, id string) error
	Remove(ctx context.Context, id string) error
	Propose(ctx context.Context, c fsm.Command) (uint64, error)
	Leader() string
	AnswersHello(ctx context.Context, addr string) bool
}

// evictReadWait bounds the fresh read an eviction decides on.
const evictReadWait = 10 * time.Second

// eviction is `conclave leave MEMBER --evict` (POST /leave with force):
// it removes a member that will not return, its record and its Raft server.
type eviction struct {
	store evictStore
	self  string // this node's raft.self_addr
	// silence is how long the member has not reported since its report
	// at index, as measured here; false when that report was not
	// observed here yet (ha.Loop.ReportSilence).
	silence func(name string, index uint64) (time.Duration, bool)
	ttl     time.Duration
	// watch is how long an eviction by Raft address watches the server
	// before it takes it for gone (serverWatch); 0: one probe.
	watch time.Duration
	log   hclog.Logger
}

// evict runs an eviction with this agent's store, loop and ttl.
func (a *Agent) evict(ctx context.Context, name string) error {
	ttl := time.Duration(a.currentDynamic().TTL) * time.Second
	e := eviction{store: a.store, self: a.cfg.Raft.SelfAddr, silence: a.loop.ReportSilence,
		ttl: ttl, watch: serverWatch(ttl), log: a.log}
	return e.run(ctx, name)
}

// run decides on a fresh read (a Raft read-index: a lagging node's own copy
// could show a live member as silent) and refuses a member that holds the
// leader key, is a recorded synchronous standby or still reports. It then
// removes the record with RemoveStaleMember, a compare-and-swap on the
// report judged stale, so a member that reported meanwhile stays, and only
// then the Raft server (DESIGN.md, Membership). A name that is no member
// but a Raft server's address evicts that server (evictServer).
func (e eviction) run(ctx context.Context, name string) error {
	began := time.Now()
	st, err := e.freshState(ctx)
	if err != nil {
		return err
	}
	rec, ok := st.Members[name]
	if !ok {
		return e.evictServer(ctx, st, name, began)
	}
	if err := e.refusal(st, name, rec); err != nil {
		return err
	}
	if !e.casAllowed(st) {
		return e.removeLegacy(ctx, name, rec)
	}
	if rec.RaftAddr != "" {
		// Before the record goes: a removal the voters that remain
		// cannot commit is refused with nothing changed.
		if err := e.store.CheckRemove(ctx, rec.RaftAddr); err != nil {
			return refusedAsConflict(err)
		}
	}
	if _, err := e.store.Propose(ctx, fsm.RemoveStaleMember{Name: name, ExpectIndex: rec.UpdatedIndex}); err != nil {
		if errors.Is(err, fsm.ErrMemberChanged) {
			return fmt.Errorf("%w: %s reported while it was being evicted: run conclave leave on it, or stop it first", api.ErrMembershipConflict, name)
		}
		return refusedAsConflict(err)
	}
	if rec.RaftAddr != "" {
		if err := e.store.Remove(ctx, rec.RaftAddr); err != nil {
			return fmt.Errorf("%w; the member record of %s is removed, its Raft server %s is not: finish with conclave leave %s --evict",
				refusedAsConflict(err), name, rec.RaftAddr, rec.RaftAddr)
		}
	}
	e.log.Info("member evicted", "node", name, "raft_addr", rec.RaftAddr)
	return nil
}

// freshState reads the state through the Raft leader; without one there
// is no eviction (503), since this node's copy may be behind.
func (e eviction) freshState(ctx context.Context) (fsm.State, error) {
	ctx, cancel := context.WithTimeout(ctx, evictReadWait)
	defer cancel()
	st, err := e.store.LinearizableState(ctx)
	if err != nil {
		return fsm.State{}, fmt.Errorf("evict: no up-to-date read of the cluster state (is there a Raft leader?): %w", err)
	}
	return st, nil
}

// refusal says why name must not be evicted now, nil when it may be.
func (e eviction) refusal(st fsm.State, name string, rec fsm.Member) error {
	switch {
	case st.LeaderName() == name:
		return fmt.Errorf("%w: %s holds the leader key; it cannot be evicted", api.ErrMembershipConflict, name)
	case st.IsSync(name):
		return fmt.Errorf("%w: %s is a recorded synchronous standby: the primary drops it from the synchronous set "+
			"once it counts as gone; evict it after that", api.ErrMembershipConflict, name)
	case e.reports(name, rec):
		return fmt.Errorf("%w: %s still reports: run conclave leave on it, or stop it first", api.ErrMembershipConflict, name)
	}
	return nil
}

// reports tells whether name's last report is within ttl as measured here;
// a report this node has not observed yet is newer than that, so it does.
func (e eviction) reports(name string, rec fsm.Member) bool {
	s, seen := e.silence(name, rec.UpdatedIndex)
	return !seen || s < e.ttl
}

// casAllowed tells whether every agent that applies the log applies
// RemoveStaleMember (fsm.ProtocolSwapSync), Raft servers included. When
// the configuration cannot be read the answer is no: the older order.
func (e eviction) casAllowed(st fsm.State) bool {
	ids, err := e.store.RaftServerIDs()
	if err != nil {
		e.log.Warn("reading the Raft configuration failed: evicting as older agents do", "error", err)
		return false
	}
	return st.AllServersSupport(fsm.ProtocolSwapSync, ids)
}

// removeLegacy is the order used while an older agent applies the log
// (it would stop on RemoveStaleMember): the Raft server, then RemoveMember.
// The refusals above were still decided on the fresh read; the quorum
// check is the one the leader runs with every removal (an older leader
// has none, and evicts as it did).
func (e eviction) removeLegacy(ctx context.Context, name string, rec fsm.Member) error {
	if rec.RaftAddr != "" {
		if err := e.store.Remove(ctx, rec.RaftAddr); err != nil {
			return refusedAsConflict(err)
		}
	}
	if _, err := e.store.Propose(ctx, fsm.RemoveMember{Name: name}); err != nil {
		return err
	}
	e.log.Info("member evicted (older protocol: Raft server first)", "node", name, "raft_addr", rec.RaftAddr)
	return nil
}
