package raftstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

const helloTimeout = time.Second

// form runs the first-formation rule (FORMATION.md) until this node has Raft
// state or ctx is done. It only runs when Open found no Raft state.
func (s *Store) form(ctx context.Context) {
	set := s.cfg.serverSet()
	partners := s.cfg.partners()
	log := s.logger.With("node", s.cfg.Addr, "scope", s.cfg.Scope)
	if s.joined != nil {
		s.formJoined(ctx)
		return
	}
	if len(partners) == 0 && s.cfg.WasMember {
		s.waitAloneForOwnCluster(ctx)
		return
	}
	if len(partners) == 0 {
		log.Info("no partners configured: bootstrapping a one-node cluster")
		s.bootstrap(set)
		return
	}
	if s.cfg.WasMember {
		log.Warn("no raft state, though this node's PostgreSQL data directory was configured by Conclave: its Raft state was lost "+
			"(or the data came from a Conclave cluster). Looking for a formed cluster; a new one forms only when every configured "+
			"server answers without state", "servers", set)
	} else {
		log.Info("no raft state: looking for a formed cluster or a majority of the configured servers", "servers", set)
	}
	formerMembers := map[string]bool{} // servers that said they lost their state, kept across rounds
	if s.cfg.WasMember {
		formerMembers[s.cfg.Addr] = true
	}
	for {
		if s.Formed() {
			log.Info("raft state present: formation done")
			return
		}
		s.formStep(ctx, set, partners, formerMembers)
		if s.Formed() {
			log.Info("raft state present: formation done")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.FormationInterval):
		}
	}
}

// waitAloneForOwnCluster is formation on a node without partners that lost
// its Raft state: a node that joined with `conclave join` may run without
// partners, and a one-node cluster of its own would split from the cluster
// it belonged to. It waits for that cluster's leader, which still lists it,
// to send its entries, and says what to do otherwise.
func (s *Store) waitAloneForOwnCluster(ctx context.Context) {
	for ctx.Err() == nil && !s.Formed() {
		s.limit.error(s, "lost-state-alone", "no raft state and no raft.partner_addrs, though this node's PostgreSQL data directory "+
			"was configured by Conclave: its Raft state was lost, and a one-node cluster formed now could run a second primary "+
			"beside the cluster it belonged to. Not forming one; waiting for a leader of its cluster to send its entries. "+
			"If the cluster no longer lists this node: stop the agent and run `conclave join --via HOST:PORT`. Only if this node "+
			"was a one-node cluster: stop the agent and run `conclave raft recover --voters "+s.cfg.Addr+"`", "scope", s.cfg.Scope)
		select {
		case <-ctx.Done():
		case <-time.After(s.cfg.FormationInterval):
		}
	}
}

type helloResult struct {
	addr string
	info *helloInfo
	err  error
}

// formStep is one round: hello every partner, then join, bootstrap or wait.
// A strict majority answering suffices to bootstrap only when no server said
// it lost its state (WasMember, remembered in formerMembers across rounds, so
// one that misses a round still counts); otherwise every server must answer.
func (s *Store) formStep(ctx context.Context, set, partners []string, formerMembers map[string]bool) {
	th := s.limit
	reachable := 1 // self
	var joinVia, problems, silent []string
	var otherScope error // a formed cluster of another scope answered
	nothingCommitted := true
	for _, h := range s.helloAll(ctx, partners) {
		if h.err != nil || h.info.Scope != s.cfg.Scope || h.info.LastIndex > 1 || !slices.Equal(h.info.Servers, set) {
			nothingCommitted = false
		}
		switch {
		case h.err != nil && errors.Is(h.err, ErrRejected):
			reachable++
			problems = append(problems, fmt.Sprintf("partner %s refused hello (%v): check raft.password and raft.certfile/keyfile/cafile on both", h.addr, h.err))
		case h.err != nil:
			silent = append(silent, h.addr)
			th.debug(s, "unreachable:"+h.addr, "partner unreachable", "partner", h.addr, "error", h.err)
		case h.info.Scope != s.cfg.Scope:
			reachable++
			if h.info.HasState {
				otherScope = fmt.Errorf("%w: partner %s belongs to a formed cluster of scope %q, this node to %q",
					ErrRejected, h.addr, h.info.Scope, s.cfg.Scope)
			}
			problems = append(problems, fmt.Sprintf("partner %s belongs to scope %q, this node to %q: check scope and raft.partner_addrs", h.addr, h.info.Scope, s.cfg.Scope))
		case h.info.HasState:
			reachable++
			joinVia = append(joinVia, h.addr)
		case !slices.Equal(h.info.Servers, set):
			reachable++
			problems = append(problems, fmt.Sprintf("partner %s is configured with servers %v, this node with %v (%s): give every node the same raft.self_addr + raft.partner_addrs set",
				h.addr, h.info.Servers, set, setDiff(set, h.info.Servers)))
		default:
			reachable++
			if h.info.WasMember {
				formerMembers[h.addr] = true
			}
		}
	}
	for _, p := range problems {
		th.error(s, p, "not forming the cluster: a partner disagrees", "problem", p)
	}
	if len(joinVia) > 0 {
		if nothingCommitted {
			// The first-formation race: see voteguard.go.
			s.catchUp.end()
		}
		s.joinVia(ctx, joinVia)
		return
	}
	if otherScope != nil {
		s.setJoinRejected(otherScope)
	}
	if len(problems) > 0 {
		return
	}
	if len(formerMembers) > 0 && len(silent) > 0 {
		// A server that is silent now may hold the state they lost: a new
		// cluster formed without it could be overwritten by its old log,
		// or lose entries only it and the lost nodes had (FORMATION.md).
		th.error(s, "lost-state", "not forming a new Raft cluster: Raft state was lost on a node that ran a member before, "+
			"and a configured server that may still hold it does not answer. Start it: if it holds Raft state, the others join it; "+
			"if too few voters kept theirs for a majority, stop it and move its raft.data_dir aside too, and the state is rebuilt "+
			"from PostgreSQL. Only if it is gone for good and no other node (one added with `conclave join` included) still runs "+
			"this cluster, remove it from raft.partner_addrs on every node",
			"lost_state_on", slices.Sorted(maps.Keys(formerMembers)), "not_answering", silent)
		return
	}
	if 2*reachable <= len(set) {
		th.info(s, "no-majority", "waiting for a majority of the configured servers before bootstrapping",
			"reachable", reachable, "servers", len(set))
		return
	}
	s.bootstrap(set)
}

func (s *Store) helloAll(ctx context.Context, partners []string) []helloResult {
	out := make([]helloResult, len(partners))
	var wg sync.WaitGroup
	for i, p := range partners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = helloResult{addr: p}
			cctx, cancel := context.WithTimeout(ctx, helloTimeout)
			defer cancel()
			resp, err := s.call(cctx, p, rpcRequest{Op: opHello})
			switch {
			case err != nil:
				out[i].err = err
			case decodeErr(resp) != nil:
				out[i].err = decodeErr(resp)
			case resp.Hello == nil:
				out[i].err = errors.New("empty hello")
			default:
				out[i].info = resp.Hello
			}
		}()
	}
	wg.Wait()
	return out
}

// joinVia asks the formed cluster, through the first partner that answers,
// to add this node as a voter. The partner forwards it to its leader.
func (s *Store) joinVia(ctx context.Context, via []string) {
	req := JoinRequest{ID: s.cfg.Addr, Addr: s.cfg.Addr, Name: s.cfg.Name, Scope: s.cfg.Scope, SystemID: s.cfg.SystemID}
	for _, p := range via {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := s.call(cctx, p, rpcRequest{Op: opJoin, Join: &req})
		cancel()
		if err == nil {
			err = decodeErr(resp)
		}
		if err == nil {
			s.setJoinRejected(nil)
			s.catchUp.setTarget(resp.Index)
			s.logger.Info("joined the formed cluster; waiting for its entries", "node", s.cfg.Addr, "via", p, "leader", resp.Leader, "catch_up_index", resp.Index)
			return
		}
		if errors.Is(err, ErrRejected) {
			s.setJoinRejected(err)
			// The leader decided; asking through another partner reaches the same leader.
			s.limit.error(s, "join-rejected", "join refused by the cluster; retrying", "via", p, "error", err)
			return
		}
		s.limit.info(s, "join-failed:"+p, "join not done yet; retrying", "via", p, "error", err)
	}
}

// JoinRejected returns why the cluster refused this node during formation
// (its join was refused: other scope, Config.ValidateJoin; or the formed
// cluster it reached is of another scope), wrapping ErrRejected. It is nil
// when nothing was refused or once this node has Raft state. Formation keeps
// retrying meanwhile; the caller decides whether to give up.
func (s *Store) JoinRejected() error {
	if s.Formed() {
		return nil
	}
	s.rejectMu.Lock()
	defer s.rejectMu.Unlock()
	return s.rejected
}

func (s *Store) setJoinRejected(err error) {
	s.rejectMu.Lock()
	defer s.rejectMu.Unlock()
	s.rejected = err
}

// bootstrap calls BootstrapCluster with the configured set, all voters,
// IDs = addresses. hashicorp/raft documents that every node may do this
// with an identical configuration.
func (s *Store) bootstrap(set []string) {
	var c raft.Configuration
	for _, a := range set {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(a), Address: raft.ServerAddress(a)})
	}
	err := s.raft.BootstrapCluster(c).Error()
	switch {
	case err == nil:
		s.bootstrapped.Store(true)
		s.catchUp.end()
		s.logger.Info("bootstrapped the cluster", "node", s.cfg.Addr, "servers", set)
	case errors.Is(err, raft.ErrCantBootstrap):
		s.logger.Info("not bootstrapping: raft state appeared meanwhile", "node", s.cfg.Addr)
	default:
		s.logger.Error("bootstrap failed", "node", s.cfg.Addr, "error", err)
	}
}

// setDiff describes how theirs differs from ours.
func setDiff(ours, theirs []string) string {
	var missing, extra []string
	for _, a := range ours {
		if !slices.Contains(theirs, a) {
			missing = append(missing, a)
		}
	}
	for _, a := range theirs {
		if !slices.Contains(ours, a) {
			extra = append(extra, a)
		}
	}
	return fmt.Sprintf("it lacks %v, it adds %v", missing, extra)
}

// throttle logs each distinct message key at most once per period, so a
// condition that persists is reported every ~10 s instead of every round.
type throttle struct {
	mu    sync.Mutex
	every time.Duration
	last  map[string]time.Time
}

func newThrottle(every time.Duration) *throttle {
	return &throttle{every: every, last: map[string]time.Time{}}
}

func (t *throttle) allow(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.last[key]; ok && time.Since(at) < t.every {
		return false
	}
	if len(t.last) > 1000 { // bound memory under a flood of distinct keys
		clear(t.last)
	}
	t.last[key] = time.Now()
	return true
}

func (t *throttle) error(s *Store, key, msg string, args ...any) {
	if t.allow(key) {
		s.logger.Error(msg, append([]any{"node", s.cfg.Addr}, args...)...)
	}
}

func (t *throttle) info(s *Store, key, msg string, args ...any) {
	if t.allow(key) {
		s.logger.Info(msg, append([]any{"node", s.cfg.Addr}, args...)...)
	}
}

func (t *throttle) debug(s *Store, key, msg string, args ...any) {
	if t.allow(key) {
		s.logger.Debug(msg, append([]any{"node", s.cfg.Addr}, args...)...)
	}
}
