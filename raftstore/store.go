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
	logCacheSize     = 512
	retainSnapshots  = 3
	transferTimeout  = 5 * time.Second // Close and Leave wait this long for a leadership transfer
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

	hadState     bool        // Raft state existed at Open
	bootstrapped atomic.Bool // this process called BootstrapCluster successfully

	baseCtx   context.Context // cancelled by Close: RPC handlers, formation
	cancel    context.CancelFunc
	formDone  chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	limit *throttle // rate limit for repeated warnings

	rejectMu sync.Mutex
	rejected error // JoinRejected

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
	s := &Store{
		cfg:      cfg,
		logger:   cfg.Logger.Named("raftstore"),
		fsm:      f,
		formDone: make(chan struct{}),
		limit:    newThrottle(cfg.formationLogEvery),
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	if err := s.open(); err != nil {
		s.cancel()
		s.closeResources()
		return nil, err
	}
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

	ln := cfg.listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("raftstore: listen on raft.self_addr %s: %w", cfg.Addr, err)
		}
	}
	s.mux = newMuxListener(ln, cfg.Addr, s.serveRPC)
	s.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  s.mux,
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  raftLogger,
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
	r, err := raft.NewRaft(rc, s.fsm, logs, bolt, snaps, s.transport)
	if err != nil {
		return fmt.Errorf("raftstore: start raft: %w", err)
	}
	s.raft = r
	s.mux.start()
	return nil
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
		State:        s.raft.State().String(),
		Term:         s.raft.CurrentTerm(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.raft.AppliedIndex(),
		LastLogIndex: s.raft.LastIndex(),
		Leader:       s.Leader(),
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
	} else if s.cfg.listener != nil {
		s.cfg.listener.Close()
	}
	if s.mux != nil {
		s.mux.wait()
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
