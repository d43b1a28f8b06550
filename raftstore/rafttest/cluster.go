// Package rafttest runs in-process clusters of raftstore.Stores on loopback
// TCP for tests, with faults: partitions, dropped and delayed messages,
// stopped, restarted and wiped nodes. It is imported only by tests, so
// nothing of it is compiled into the conclave binary.
package rafttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
)

// Scope is the scope of the nodes a Cluster starts.
const Scope = "test"

// Cluster is an in-process cluster of Stores on loopback TCP. Every
// outgoing connection of its nodes goes through Net, so links can be cut,
// delayed or made lossy.
type Cluster struct {
	t        testing.TB
	net      *Network
	mu       sync.Mutex
	nodes    []*node
	validate func(raftstore.JoinRequest, fsm.State) error
	edit     func(i int, cfg *raftstore.Config)
}

type node struct {
	cfg   raftstore.Config
	fsm   *fsm.FSM
	store *raftstore.Store // nil while stopped
}

// Options tune a Cluster. The zero value gives the fast timeouts (50 ms)
// that raftstore's own tests use.
type Options struct {
	// Edit, when set, may change node i's Config before every (re)start.
	Edit func(i int, cfg *raftstore.Config)
}

// New starts n nodes that list each other as partners, waits until they
// formed one cluster with a leader and n voters, and closes them all at the
// end of the test.
func New(t testing.TB, n int) *Cluster { return NewWithOptions(t, n, Options{}) }

// NewWithOptions is New with options.
func NewWithOptions(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, net: newNetwork(), edit: opts.Edit}
	t.Cleanup(c.net.close)
	lns := make([]net.Listener, n)
	addrs := make([]string, n)
	for i := range lns {
		lns[i] = Listener(t, "127.0.0.1:0")
		addrs[i] = lns[i].Addr().String()
	}
	for i := range n {
		cfg := Config(t, fmt.Sprintf("node%d", i), lns[i], addrs)
		c.nodes = append(c.nodes, &node{cfg: cfg})
		c.net.add(addrs[i])
	}
	for i := range c.nodes {
		c.start(i)
	}
	c.Leader(t)
	WaitFor(t, 10*time.Second, func() error { return c.CheckVoters(n) })
	// A node that bootstrapped no cluster itself holds no state until the
	// leader's first entries reach it; until then it does not answer as a
	// server of the cluster (Store.CheckRemove counts it silent).
	WaitFor(t, 10*time.Second, func() error {
		for i := range n {
			if !c.Store(i).Formed() {
				return fmt.Errorf("node %d holds no raft state yet", i)
			}
		}
		return nil
	})
	return c
}

// Net is the cluster's fault-injecting network.
func (c *Cluster) Net() *Network { return c.net }

// SetValidateJoin sets the ValidateJoin hook of every node (nil: accept all).
func (c *Cluster) SetValidateJoin(f func(raftstore.JoinRequest, fsm.State) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.validate = f
}

func (c *Cluster) validateJoin(req raftstore.JoinRequest, st fsm.State) error {
	c.mu.Lock()
	f := c.validate
	c.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(req, st)
}

// Len is the number of nodes, stopped ones included.
func (c *Cluster) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Store returns node i's Store, nil while it is stopped.
func (c *Cluster) Store(i int) *raftstore.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].store
}

// FSM returns node i's current FSM (a new one after every restart).
func (c *Cluster) FSM(i int) *fsm.FSM {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].fsm
}

// Addr returns node i's address (its Raft server ID).
func (c *Cluster) Addr(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].cfg.Addr
}

// Addrs returns every node's address.
func (c *Cluster) Addrs() []string {
	var out []string
	for i := range c.Len() {
		out = append(out, c.Addr(i))
	}
	return out
}

// Index returns the node number of a Store of this cluster, -1 if none.
func (c *Cluster) Index(s *raftstore.Store) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.nodes {
		if n.store == s {
			return i
		}
	}
	return -1
}

// Leader waits until exactly one running node leads and every running node
// with Raft state knows it, and returns it.
func (c *Cluster) Leader(t testing.TB) *raftstore.Store {
	t.Helper()
	var leader *raftstore.Store
	WaitFor(t, 10*time.Second, func() error {
		var err error
		leader, err = c.leader()
		return err
	})
	return leader
}

func (c *Cluster) leader() (*raftstore.Store, error) {
	var leader *raftstore.Store
	li := -1
	for i, s := range c.running() {
		if s == nil || !s.IsLeader() {
			continue
		}
		if leader != nil {
			return nil, fmt.Errorf("two leaders: node %d and node %d", li, i)
		}
		leader, li = s, i
	}
	if leader == nil {
		return nil, errors.New("no leader")
	}
	addr := c.Addr(li)
	for i, s := range c.running() {
		if s != nil && s.Formed() && s.Leader() != addr {
			return nil, fmt.Errorf("node %d thinks the leader is %q, not %s", i, s.Leader(), addr)
		}
	}
	return leader, nil
}

// Follower returns a running node that is not the leader.
func (c *Cluster) Follower(t testing.TB) *raftstore.Store {
	t.Helper()
	leader := c.Leader(t)
	for _, s := range c.running() {
		if s != nil && s != leader {
			return s
		}
	}
	t.Fatal("no follower")
	return nil
}

// WaitApplied waits until every running node's FSM applied index.
func (c *Cluster) WaitApplied(t testing.TB, index uint64) {
	t.Helper()
	WaitFor(t, 10*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, n := range c.nodes {
			if n.store == nil {
				continue
			}
			if got := n.fsm.AppliedIndex(); got < index {
				return fmt.Errorf("node %d applied %d, want %d", i, got, index)
			}
		}
		return nil
	})
}

// Stop closes node i (its data directory stays). Close hands leadership
// over first when the node leads (raftstore.Store.Close).
func (c *Cluster) Stop(i int) {
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
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Stop(i)
	c.mu.Lock()
	addr := c.nodes[i].cfg.Addr
	c.mu.Unlock()
	ln := Listener(c.t, addr)
	c.mu.Lock()
	c.nodes[i].cfg.Listener = ln
	c.mu.Unlock()
	c.start(i)
}

// DataDir is node i's raft.data_dir.
func (c *Cluster) DataDir(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].cfg.DataDir
}

// Wipe stops node i, deletes its Raft data (log, stable store, snapshots)
// and starts it again on the same address: it forms or joins as a node that
// never had state, while the others still list it as a voter.
func (c *Cluster) Wipe(i int) {
	c.t.Helper()
	c.Stop(i)
	c.deleteRaftData(i)
	c.Restart(i)
}

// RebuildWithout plays the loss of every node's Raft data but stale's:
// stale goes down first, then the others stop, lose their Raft data and
// start again (they form a new cluster on the same addresses); stale stays
// down with its old log.
func (c *Cluster) RebuildWithout(stale int) {
	c.t.Helper()
	c.Stop(stale)
	var wiped []int
	for i := range c.Len() {
		if i != stale {
			c.Stop(i)
			wiped = append(wiped, i)
		}
	}
	for _, i := range wiped {
		c.deleteRaftData(i)
	}
	for _, i := range wiped {
		c.Restart(i)
	}
}

// deleteRaftData empties stopped node i's Raft data directory.
func (c *Cluster) deleteRaftData(i int) {
	c.t.Helper()
	c.mu.Lock()
	dir := c.nodes[i].cfg.DataDir
	c.mu.Unlock()
	entries, err := os.ReadDir(dir)
	if err != nil {
		c.t.Fatalf("delete the raft data of node %d: %v", i, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			c.t.Fatalf("delete the raft data of node %d: %v", i, err)
		}
	}
}

// LoseFiles stops node i, deletes the named entries of its Raft data
// directory (e.g. "raft.db" alone: a lost log and stable store with the
// snapshots left) and starts it again on the same address.
func (c *Cluster) LoseFiles(i int, names ...string) {
	c.t.Helper()
	c.Stop(i)
	c.mu.Lock()
	dir := c.nodes[i].cfg.DataDir
	c.mu.Unlock()
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			c.t.Fatalf("lose %s of node %d: %v", n, i, err)
		}
	}
	c.Restart(i)
}

// AddNode starts a fresh node whose partners are the current nodes' addresses
// and returns its number. edit, when not nil, may change its Config first.
func (c *Cluster) AddNode(t testing.TB, edit func(*raftstore.Config)) int {
	t.Helper()
	ln := Listener(t, "127.0.0.1:0")
	i := c.Len()
	cfg := Config(t, fmt.Sprintf("node%d", i), ln, append(c.Addrs(), ln.Addr().String()))
	if edit != nil {
		edit(&cfg)
	}
	c.net.add(cfg.Addr)
	c.mu.Lock()
	c.nodes = append(c.nodes, &node{cfg: cfg})
	c.mu.Unlock()
	c.start(i)
	return i
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	n.fsm = fsm.New()
	cfg := n.cfg
	n.cfg.Listener = nil // consumed
	f := n.fsm
	c.mu.Unlock()
	cfg.ValidateJoin = c.validateJoin
	cfg.Dial = c.net.Dialer(cfg.Addr)
	if c.edit != nil {
		c.edit(i, &cfg)
	}
	s := OpenStore(c.t, cfg, f)
	c.mu.Lock()
	n.store = s
	c.mu.Unlock()
}

// running returns every node's Store by number, nil for stopped ones.
func (c *Cluster) running() []*raftstore.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*raftstore.Store, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.store
	}
	return out
}

// CheckVoters reports whether the leader's configuration has want voters.
func (c *Cluster) CheckVoters(want int) error {
	for _, s := range c.running() {
		if s == nil || !s.IsLeader() {
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

// Config is a fast-timeout Config on ln with the given server set.
func Config(t testing.TB, name string, ln net.Listener, set []string) raftstore.Config {
	addr := ln.Addr().String()
	var partners []string
	for _, a := range set {
		if a != addr {
			partners = append(partners, a)
		}
	}
	return raftstore.Config{
		Scope:              Scope,
		Name:               name,
		DataDir:            t.TempDir(),
		Addr:               addr,
		Partners:           partners,
		Logger:             Logger(t, name),
		HeartbeatTimeout:   50 * time.Millisecond,
		ElectionTimeout:    50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		Listener:           ln,
		FormationInterval:  50 * time.Millisecond,
		FormationLogEvery:  time.Second,
	}
}

// OpenStore opens cfg and closes it at the end of the test.
func OpenStore(t testing.TB, cfg raftstore.Config, f *fsm.FSM) *raftstore.Store {
	t.Helper()
	s, err := raftstore.Open(context.Background(), cfg, f)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.Addr, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Listener listens on addr, retrying briefly (a restarted node reuses its
// port).
func Listener(t testing.TB, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	WaitFor(t, 5*time.Second, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln
}

// DeadAddr returns a loopback address nobody listens on.
func DeadAddr(t testing.TB) string {
	ln := Listener(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Logger writes to t.Log until the test's cleanups are done; later lines
// (from goroutines still winding down) are dropped. RAFTSTORE_TEST_DEBUG
// set: debug level.
func Logger(t testing.TB, name string) hclog.Logger {
	return LoggerAt(t, name, hclog.Info)
}

// LoggerAt is Logger at the given level (RAFTSTORE_TEST_DEBUG still wins).
func LoggerAt(t testing.TB, name string, level hclog.Level) hclog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs after the stores closed
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

// WaitFor polls cond until it returns nil, failing the test with its last
// error after timeout (scaled when CI is set).
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(Scaled(timeout))
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", Scaled(timeout), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// HoldsFor fails the test if cond returns an error at any poll during d.
func HoldsFor(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := cond(); err != nil {
			t.Fatalf("condition broke: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Scaled multiplies d by 3 when CI is set.
func Scaled(d time.Duration) time.Duration {
	if os.Getenv("CI") != "" {
		return 3 * d
	}
	return d
}
