package raftstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/fsm"
)

// TestScope is the scope of the nodes NewTestCluster starts.
const TestScope = "test"

// TestCluster is an in-process cluster of Stores on loopback TCP, for tests
// of this package and of packages built on it.
type TestCluster struct {
	t        testing.TB
	mu       sync.Mutex
	nodes    []*testNode
	validate func(JoinRequest, fsm.State) error
}

type testNode struct {
	cfg   Config
	fsm   *fsm.FSM
	store *Store // nil while stopped
}

// NewTestCluster starts n nodes that list each other as partners, waits
// until they formed one cluster with a leader and n voters, and closes them
// all at the end of the test.
func NewTestCluster(t testing.TB, n int) *TestCluster {
	t.Helper()
	c := &TestCluster{t: t}
	lns := make([]net.Listener, n)
	addrs := make([]string, n)
	for i := range lns {
		lns[i] = testListener(t, "127.0.0.1:0")
		addrs[i] = lns[i].Addr().String()
	}
	for i := range n {
		cfg := testConfig(t, fmt.Sprintf("node%d", i), lns[i], addrs)
		cfg.ValidateJoin = c.validateJoin
		c.nodes = append(c.nodes, &testNode{cfg: cfg})
	}
	for i := range c.nodes {
		c.start(i)
	}
	c.Leader(t)
	waitFor(t, 10*time.Second, func() error { return c.checkVoters(n) })
	return c
}

// SetValidateJoin sets the ValidateJoin hook of every node (nil: accept all).
func (c *TestCluster) SetValidateJoin(f func(JoinRequest, fsm.State) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.validate = f
}

func (c *TestCluster) validateJoin(req JoinRequest, st fsm.State) error {
	c.mu.Lock()
	f := c.validate
	c.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(req, st)
}

// Len is the number of nodes, stopped ones included.
func (c *TestCluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Store returns node i's Store, nil while it is stopped.
func (c *TestCluster) Store(i int) *Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].store
}

// Addr returns node i's address (its Raft server ID).
func (c *TestCluster) Addr(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].cfg.Addr
}

// Addrs returns every node's address.
func (c *TestCluster) Addrs() []string {
	var out []string
	for i := range c.Len() {
		out = append(out, c.Addr(i))
	}
	return out
}

// Leader waits until exactly one running node leads and every running node
// with Raft state knows it, and returns it.
func (c *TestCluster) Leader(t testing.TB) *Store {
	t.Helper()
	var leader *Store
	waitFor(t, 10*time.Second, func() error {
		leader = nil
		for i, s := range c.running() {
			if s.IsLeader() {
				if leader != nil {
					return fmt.Errorf("two leaders: %s and node %d", leader.cfg.Addr, i)
				}
				leader = s
			}
		}
		if leader == nil {
			return errors.New("no leader")
		}
		for _, s := range c.running() {
			if s.Formed() && s.Leader() != leader.cfg.Addr {
				return fmt.Errorf("%s thinks the leader is %q, not %s", s.cfg.Addr, s.Leader(), leader.cfg.Addr)
			}
		}
		return nil
	})
	return leader
}

// Follower returns a running node that is not the leader.
func (c *TestCluster) Follower(t testing.TB) *Store {
	t.Helper()
	leader := c.Leader(t)
	for _, s := range c.running() {
		if s != leader {
			return s
		}
	}
	t.Fatal("no follower")
	return nil
}

// WaitApplied waits until every running node's FSM applied index.
func (c *TestCluster) WaitApplied(t testing.TB, index uint64) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		for _, s := range c.running() {
			if got := s.fsm.AppliedIndex(); got < index {
				return fmt.Errorf("%s applied %d, want %d", s.cfg.Addr, got, index)
			}
		}
		return nil
	})
}

// Stop closes node i (its data directory stays).
func (c *TestCluster) Stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	s := c.nodes[i].store
	c.nodes[i].store = nil
	c.mu.Unlock()
	if s == nil {
		return
	}
	if err := s.Close(); err != nil {
		c.t.Errorf("close node %d: %v", i, err)
	}
}

// Restart stops node i if needed and opens it again on the same address and
// data directory, with a fresh FSM rebuilt from its Raft state.
func (c *TestCluster) Restart(i int) {
	c.t.Helper()
	c.Stop(i)
	c.mu.Lock()
	c.nodes[i].cfg.listener = testListener(c.t, c.nodes[i].cfg.Addr)
	c.mu.Unlock()
	c.start(i)
}

// AddNode starts a fresh node whose partners are the current nodes' addresses
// and returns its number. edit, when not nil, may change its Config first.
func (c *TestCluster) AddNode(t testing.TB, edit func(*Config)) int {
	t.Helper()
	ln := testListener(t, "127.0.0.1:0")
	i := c.Len()
	cfg := testConfig(t, fmt.Sprintf("node%d", i), ln, append(c.Addrs(), ln.Addr().String()))
	cfg.ValidateJoin = c.validateJoin
	if edit != nil {
		edit(&cfg)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, &testNode{cfg: cfg})
	c.mu.Unlock()
	c.start(i)
	return i
}

func (c *TestCluster) start(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	n.fsm = fsm.New()
	cfg := n.cfg
	n.cfg.listener = nil // consumed
	c.mu.Unlock()
	s := openTestStore(c.t, cfg, n.fsm)
	c.mu.Lock()
	n.store = s
	c.mu.Unlock()
}

func (c *TestCluster) running() []*Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Store
	for _, n := range c.nodes {
		if n.store != nil {
			out = append(out, n.store)
		}
	}
	return out
}

// checkVoters reports whether the leader's configuration has want voters.
func (c *TestCluster) checkVoters(want int) error {
	for _, s := range c.running() {
		if !s.IsLeader() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		servers, err := s.Servers(ctx)
		if err != nil {
			return err
		}
		voters := 0
		for _, srv := range servers {
			if srv.Voter {
				voters++
			}
		}
		if voters != want {
			return fmt.Errorf("%d voters, want %d: %+v", voters, want, servers)
		}
		return nil
	}
	return errors.New("no leader")
}

// testConfig is a fast-timeout Config on ln with the given server set.
func testConfig(t testing.TB, name string, ln net.Listener, set []string) Config {
	addr := ln.Addr().String()
	var partners []string
	for _, a := range set {
		if a != addr {
			partners = append(partners, a)
		}
	}
	return Config{
		Scope:              TestScope,
		Name:               name,
		DataDir:            t.TempDir(),
		Addr:               addr,
		Partners:           partners,
		Logger:             testLogger(t, name),
		HeartbeatTimeout:   50 * time.Millisecond,
		ElectionTimeout:    50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		listener:           ln,
		formationInterval:  50 * time.Millisecond,
		formationLogEvery:  time.Second,
	}
}

// openTestStore opens cfg and closes it at the end of the test.
func openTestStore(t testing.TB, cfg Config, f *fsm.FSM) *Store {
	t.Helper()
	s, err := Open(context.Background(), cfg, f)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.Addr, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testListener listens on addr, retrying briefly (a restarted node reuses
// its port).
func testListener(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	waitFor(t, 5*time.Second, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln
}

// testLogger writes to t.Log until the test's cleanups are done; later lines
// (from goroutines still winding down) are dropped.
func testLogger(t testing.TB, name string) hclog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs after the stores closed
	level := hclog.Info
	if os.Getenv("RAFTSTORE_TEST_DEBUG") != "" {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Output: w, Level: level})
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

// waitFor polls cond until it returns nil, failing the test with its last
// error after timeout (scaled when CI is set).
func waitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(scaled(timeout))
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", scaled(timeout), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holdsFor fails the test if cond returns an error at any poll during d.
func holdsFor(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := cond(); err != nil {
			t.Fatalf("condition broke: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func scaled(d time.Duration) time.Duration {
	if os.Getenv("CI") != "" {
		return 3 * d
	}
	return d
}
