package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/fsm"
)

// evictServer is `conclave leave HOST:PORT --evict`: it removes the Raft
// server at addr that no member record names, what an eviction whose
// second step failed leaves behind. Such a server still counts in the
// quorum and keeps the protocol gates closed (fsm AllServersSupport), and
// no eviction by name can reach it. Removing it is one single-server
// change, as any eviction; the refusals keep a working node in (DESIGN.md,
// Membership).
func (e eviction) evictServer(ctx context.Context, st fsm.State, addr string, began time.Time) error {
	if err := e.serverRefusal(ctx, st, addr, began); err != nil {
		return err
	}
	if err := e.store.CheckRemove(ctx, addr); err != nil {
		return refusedAsConflict(err)
	}
	if err := e.store.Remove(ctx, addr); err != nil {
		return refusedAsConflict(err)
	}
	e.log.Info("raft server without a member record evicted", "raft_addr", addr)
	return nil
}

// serverRefusal says why the Raft server at addr must not be evicted
// without a member record, nil when it may be. The record check uses the
// fresh read st; the configuration is this node's latest, at least as new
// as that read.
func (e eviction) serverRefusal(ctx context.Context, st fsm.State, addr string, began time.Time) error {
	if owner, ok := memberAt(st, addr); ok {
		return fmt.Errorf("%w: the Raft server %s belongs to member %s: evict it by name (conclave leave %s --evict)",
			api.ErrMembershipConflict, addr, owner, owner)
	}
	ids, err := e.store.RaftServerIDs()
	if err != nil {
		return fmt.Errorf("evict %s: %w", addr, err)
	}
	if !slices.Contains(ids, addr) {
		return fmt.Errorf("%w: no member %s, nor a Raft server at that address", api.ErrMembershipInvalid, addr)
	}
	switch {
	case addr == e.self:
		return fmt.Errorf("%w: %s is this node's own Raft server: run conclave leave on this node instead", api.ErrMembershipConflict, addr)
	case addr == e.store.Leader():
		return fmt.Errorf("%w: %s is the Raft leader: it runs; run conclave leave on it, or stop it first", api.ErrMembershipConflict, addr)
	case time.Until(began.Add(serverWatchEnd)) < e.watch:
		return fmt.Errorf("%w: the cluster state took too long to read to watch %s for %s within this request: try again",
			api.ErrMembershipConflict, addr, e.watch)
	case e.answersWithin(ctx, addr):
		return fmt.Errorf("%w: the Raft server %s answers: it is alive: run conclave leave on it, or stop it first", api.ErrMembershipConflict, addr)
	}
	return nil
}

// serverWatch is how long an eviction by address watches the server: a
// ttl, as an eviction by name wants a ttl of silence, but at most 8 s so
// the request answers within the REST server's write timeout (15 s). A
// node frozen longer than that (SIGSTOP, a VM pause) can be evicted like a
// dead one; rule 1 does not depend on it: a former key holder's lease
// still runs out and its watchdog fences it.
func serverWatch(ttl time.Duration) time.Duration { return min(ttl, 8*time.Second) }

// serverWatchEnd is how long after the request began the watch must be
// over: the quorum check and the removal still have 5 s before the REST
// write timeout. A slower fresh read refuses rather than watch less.
const serverWatchEnd = 10 * time.Second

// serverProbeEvery is the pause between two hellos while watching.
const serverProbeEvery = 200 * time.Millisecond

// answersWithin says whether addr answers a hello at any probe while it is
// watched (e.watch). A cancelled request counts as an answer: nothing is
// evicted on a watch cut short.
func (e eviction) answersWithin(ctx context.Context, addr string) bool {
	until := time.Now().Add(e.watch)
	for {
		if e.store.AnswersHello(ctx, addr) {
			return true
		}
		if !time.Now().Before(until) {
			return false
		}
		select {
		case <-ctx.Done():
			return true
		case <-time.After(serverProbeEvery):
		}
	}
}

// memberAt returns the member whose record names Raft address addr.
func memberAt(st fsm.State, addr string) (string, bool) {
	for _, name := range st.MemberNames() {
		if st.Members[name].RaftAddr == addr {
			return name, true
		}
	}
	return "", false
}
