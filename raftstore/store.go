package raftstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/conclave-ha/conclave/fsm"
)

const (
	transportMaxPool = 3
	transportTimeout = 2 * time.Second
	// One AppendEntries in flight per follower: hashicorp/raft's pipelined
	// replication can deadlock after a follower refuses an entry (a wiped
	// or lagging node), leaving that follower heartbeated but never sent
	// another entry, and Shutdown waiting on it. Conclave's log carries a
	// few small commands per second; the pipeline buys nothing here.
	transportMaxInFlight = 1
	logCacheSize         = 512
	retainSnapshots      = 3
	transferTimeout      = 5 * time.Second // Close and Leave wait this long for a leadership transfer
)

// Store is this node's Raft peer and the FSM it drives.
type Store struct {
	cfg       Config
	logger    hclog.Logger
	fsm       *fsm.FSM
	raft      *raft.Raft
	bolt      *raftboltdb.BoltStore
	mux       *muxListener
	transport *raft.NetworkTransport
	guarded   *guardedTransport // set when raft was created; Close stops its heartbeats before raft.db closes
	sec       security          // Raft port authentication (auth.go)

	hadState     bool        // Raft state existed at Open
	bootstrapped atomic.Bool // this process called BootstrapCluster successfully

	baseCtx   context.Context // cancelled by Close: RPC handlers, formation
	cancel    context.CancelFunc
	formDone  chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	limit *throttle // rate limit for repeated warnings

	catchUp *catchUp        // votes withheld until caught up (voteguard.go)
	savedID *savedClusterID // raft.data_dir/cluster_id (clusterid.go)
	joined  *joinRecord     // join.json: added by `conclave join` (joinfile.go)

	rejectMu sync.Mutex
	rejected error // JoinRejected

	leaderChanges atomic.Uint64 // new leaders this node learned of (Stats)
	// leaderSeen is closed (and replaced) whenever Raft reports a leader,
	// so route, waiting for one, goes on at once (leaderKnown).
	leaderMu   sync.Mutex
	leaderSeen chan struct{}

	readyMu   sync.Mutex
	readyTerm uint64 // term in which a leader Barrier completed (see readIndexLocal)
}

// Open opens the stores and the transport, starts Raft and, when this node
// has no Raft state, starts forming or joining the cluster in the
// background (FORMATION.md). It returns without waiting for a leader.
// ctx bounds the background formation only; Close stops everything.
func Open(ctx context.Context, cfg Config, f *fsm.FSM) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	if f == nil {
		return nil, errors.New("raftstore: nil fsm")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("raftstore: create data dir: %w", err)
	}
	if hasLeft(cfg.DataDir) { // joinfile.go
		return nil, fmt.Errorf("raftstore: %w (%s): run `conclave join --via HOST:PORT` to join again", ErrLeft, cfg.DataDir)
	}
	joined, err := readJoin(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:        cfg,
		logger:     cfg.Logger.Named("raftstore"),
		fsm:        f,
		formDone:   make(chan struct{}),
		limit:      newThrottle(cfg.FormationLogEvery),
		joined:     joined,
		leaderSeen: make(chan struct{}),
	}
	if s.sec, err = newSecurity(cfg.Secret, cfg.TLS); err != nil {
		return nil, fmt.Errorf("raftstore: %w", err)
	}
	if !s.sec.enabled() {
		s.logger.Warn("the raft port is open to anyone who can reach it: set raft.password, or raft.certfile, keyfile and cafile (see README, Raft port security)", "addr", cfg.Addr)
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	if err := s.open(); err != nil {
		s.cancel()
		s.closeResources()
		return nil, err
	}
	go s.manageVoters(s.baseCtx)  // voters.go
	go s.keepClusterID(s.baseCtx) // clusterid.go
	s.startJoined()               // joinfile.go
	if s.hadState {
		s.logger.Info("raft state found: starting without bootstrap", "node", cfg.Addr)
		close(s.formDone)
	} else {
		fctx, fcancel := context.WithCancel(ctx)
		stop := context.AfterFunc(s.baseCtx, fcancel)
		go func() {
			defer close(s.formDone)
			defer stop()
			defer fcancel()
			s.form(fctx)
		}()
	}
	return s, nil
}

func (s *Store) open() error {
	cfg := s.cfg
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		return fmt.Errorf("raftstore: open %s: %w", filepath.Join(cfg.DataDir, "raft.db"), err)
	}
	s.bolt = bolt
	logs, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		return fmt.Errorf("raftstore: log cache: %w", err)
	}
	raftLogger := cfg.Logger.Named("raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, retainSnapshots, raftLogger)
	if err != nil {
		return fmt.Errorf("raftstore: snapshot store: %w", err)
	}
	s.hadState, err = raft.HasExistingState(logs, bolt, snaps)
	if err != nil {
		return fmt.Errorf("raftstore: check raft state in %s: %w", cfg.DataDir, err)
	}

	// Snapshots alone are state for hashicorp/raft, but not for the vote:
	// with raft.db lost, the entries acknowledged after the last snapshot
	// are gone, and so are the term and the vote (voteguard.go).
	logKept, err := logStateKept(bolt)
	if err != nil {
		return fmt.Errorf("raftstore: check raft state in %s: %w", cfg.DataDir, err)
	}
	if s.hadState && !logKept {
		s.logger.Warn("raft.db holds no term and no log entry but snapshots exist: its log was lost; withholding this node's vote until it caught up",
			"node", cfg.Addr)
	}
	if s.savedID, err = openSavedClusterID(cfg.DataDir, s.hadState, s.logger); err != nil {
		return err
	}
	if s.catchUp, err = openCatchUp(cfg.DataDir, s.hadState && logKept, s.lastIndex); err != nil {
		return err
	}

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("raftstore: listen on raft.self_addr %s: %w", cfg.Addr, err)
		}
	}
	s.mux = newMuxListener(ln, cfg.Addr, s.serveRPC, s.secureAccepted, s.checkClusterID, s.dial)
	s.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:          s.mux,
		MaxPool:         transportMaxPool,
		MaxRPCsInFlight: transportMaxInFlight,
		Timeout:         transportTimeout,
		Logger:          raftLogger,
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Addr)
	rc.Logger = raftLogger
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("raftstore: raft config: %w", err)
	}
	s.guarded = newGuardedTransport(s.transport, s.catchUp, cfg.Addr, s.logger, s.baseCtx.Done())
	r, err := raft.NewRaft(rc, s.fsm, logs, bolt, snaps, s.guarded)
	if err != nil {
		return fmt.Errorf("raftstore: start raft: %w", err)
	}
	s.raft = r
	// Count leader changes for conclave_raft_leader_changes_total. The
	// filter runs in Raft's goroutine: one atomic add, nothing queued, so
	// it never holds Raft up.
	r.RegisterObserver(raft.NewObserver(nil, false, func(o *raft.Observation) bool {
		if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != "" {
			s.leaderChanges.Add(1)
			s.noteLeader()
		}
		return false
	}))
	s.mux.start()
	return nil
}

// noteLeader wakes whoever waits in leaderKnown. It runs in Raft's
// goroutine (the observer): a lock and a close, never blocking.
func (s *Store) noteLeader() {
	s.leaderMu.Lock()
	close(s.leaderSeen)
	s.leaderSeen = make(chan struct{})
	s.leaderMu.Unlock()
}

// leaderKnown is closed the next time Raft reports a leader. Take it before
// looking at Leader, so a report in between is not missed.
func (s *Store) leaderKnown() <-chan struct{} {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	return s.leaderSeen
}

// State returns a copy of the local state. It may be stale; use
// LinearizableState when a read must see every acknowledged write.
func (s *Store) State() fsm.State { return s.fsm.State() }

// Changed is closed at the next locally applied entry (fsm.FSM.Changed).
func (s *Store) Changed() <-chan struct{} { return s.fsm.Changed() }

// IsLeader tells whether this node is the Raft leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the Raft leader's address, "" when unknown.
func (s *Store) Leader() string {
	addr, _ := s.raft.LeaderWithID()
	return string(addr)
}

// InContact reports whether this node leads or is a follower that heard
// from its leader within HeartbeatTimeout: a follower cut off from the
// leader keeps its address until its own election timer fires.
func (s *Store) InContact() bool {
	if s.IsLeader() {
		return true
	}
	lc := s.raft.LastContact()
	return s.Leader() != "" && !lc.IsZero() && time.Since(lc) < s.cfg.HeartbeatTimeout
}

// Formed tells whether this node has Raft state: it had some at Open, it
// bootstrapped, or it received entries from a leader.
func (s *Store) Formed() bool {
	return s.hadState || s.bootstrapped.Load() || s.raft.LastIndex() > 0
}

// Servers returns the Raft configuration as this node knows it.
func (s *Store) Servers(ctx context.Context) ([]Server, error) {
	cf := s.raft.GetConfiguration()
	if err := waitFuture(ctx, cf); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	_, leaderID := s.raft.LeaderWithID()
	var out []Server
	for _, srv := range cf.Configuration().Servers {
		out = append(out, Server{
			ID:     string(srv.ID),
			Addr:   string(srv.Address),
			Voter:  srv.Suffrage == raft.Voter,
			Leader: srv.ID == leaderID,
		})
	}
	return out, nil
}

// Stats returns this node's Raft status.
func (s *Store) Stats() Stats {
	st := Stats{
		State:         s.raft.State().String(),
		Term:          s.raft.CurrentTerm(),
		CommitIndex:   s.raft.CommitIndex(),
		AppliedIndex:  s.raft.AppliedIndex(),
		LastLogIndex:  s.raft.LastIndex(),
		Leader:        s.Leader(),
		LeaderChanges: s.leaderChanges.Load(),
		ClusterID:     s.ClusterID(),
	}
	if lc := s.raft.LastContact(); !lc.IsZero() && !s.IsLeader() {
		st.LastContact = time.Since(lc)
	}
	cf := s.raft.GetConfiguration()
	if cf.Error() == nil {
		for _, srv := range cf.Configuration().Servers {
			if srv.ID != raft.ServerID(s.cfg.Addr) {
				st.NumPeers++
			}
			if srv.Suffrage == raft.Voter {
				st.Voters++
			}
		}
	}
	return st
}

// Close leaves leadership to another voter when this node leads (bounded
// wait), then shuts Raft down and closes the stores. It is safe to call
// more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.IsLeader() && s.otherVoters() > 0 {
			if err := waitFutureTimeout(s.raft.LeadershipTransfer(), transferTimeout); err != nil {
				s.logger.Warn("leadership transfer before shutdown failed", "error", err)
			}
		}
		s.cancel()
		<-s.formDone
		if err := s.raft.Shutdown().Error(); err != nil {
			s.closeErr = fmt.Errorf("raftstore: shutdown: %w", err)
		}
		s.closeResources()
	})
	return s.closeErr
}

// closeResources closes what open() opened, in reverse order.
func (s *Store) closeResources() {
	if s.transport != nil {
		s.transport.Close()
	} else if s.mux != nil {
		s.mux.Close()
	} else if s.cfg.Listener != nil {
		s.cfg.Listener.Close()
	}
	if s.mux != nil {
		s.mux.wait()
	}
	if s.guarded != nil {
		s.guarded.stopHeartbeats()
	}
	if s.bolt != nil {
		if err := s.bolt.Close(); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("raftstore: close raft.db: %w", err)
		}
	}
}

func (s *Store) closing() bool { return s.closed.Load() }

func (s *Store) otherVoters() int {
	cf := s.raft.GetConfiguration()
	if cf.Error() != nil {
		return 0
	}
	n := 0
	for _, srv := range cf.Configuration().Servers {
		if srv.Suffrage == raft.Voter && srv.ID != raft.ServerID(s.cfg.Addr) {
			n++
		}
	}
	return n
}

// waitFuture waits for f, or for ctx (f then completes in the background).
func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return mapRaftErr(err)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

func waitFutureTimeout(f raft.Future, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return waitFuture(ctx, f)
}

// dial opens an outgoing connection through Config.Dial, or plain TCP,
// and authenticates it when the port is secured (auth.go).
func (s *Store) dial(ctx context.Context, addr string) (net.Conn, error) {
	var conn net.Conn
	var err error
	if s.cfg.Dial != nil {
		conn, err = s.cfg.Dial(ctx, addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	conn, err = s.sec.secureClient(conn, addr, deadline)
	if err != nil {
		s.limit.error(s, "auth-out:"+addr, "raft port refused: this node could not authenticate with a peer", "peer", addr, "error", err)
		return nil, err
	}
	return s.presentClusterID(conn, addr, deadline)
}

// secureAccepted authenticates an accepted connection; a refusal is logged
// (once per host per FormationLogEvery) and nil returned.
func (s *Store) secureAccepted(conn net.Conn) net.Conn {
	c, reason := s.sec.secureServer(conn)
	if c == nil {
		host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		s.limit.error(s, "auth-in:"+host, "raft port refused a connection: unknown node", "remote", conn.RemoteAddr().String(), "reason", reason)
	}
	return c
}

// logStateKept reports whether the log and stable store (raft.db) hold a
// term or a log entry, as every node's does once it took part in the
// cluster (raft recover keeps the term too).
func logStateKept(bolt *raftboltdb.BoltStore) (bool, error) {
	term, err := bolt.GetUint64([]byte("CurrentTerm"))
	if err != nil && err.Error() != "not found" {
		return false, err
	}
	if term > 0 {
		return true, nil
	}
	last, err := bolt.LastIndex()
	return last > 0, err
}
