package rafttest

import (
	"context"
	"errors"
	"math/rand"
	"net"
	"sync"
	"time"
)

// ErrCut is what a dial or an I/O on a cut or lossy link returns.
var ErrCut = errors.New("rafttest: link cut")

// Network sits between the nodes of a Cluster: every outgoing connection
// (Raft replication and Conclave RPC alike) is dialed through it and wrapped,
// so a test can cut links (partitions), delay them or drop messages. Links
// are named by the two nodes' addresses.
//
// A cut link refuses new dials and closes its open connections, as a
// firewall that rejects would. A lossy link closes a connection on a random
// write with the given probability: the RPC in flight is lost and Raft
// reconnects, which is how a lost segment looks to a TCP user. A delayed
// link holds every write in that direction (and every read of the answer
// in the other) for the given time, in order.
type Network struct {
	mu     sync.Mutex
	known  map[string]bool
	cut    map[[2]string]bool          // unordered: key sorted
	delay  map[[2]string]time.Duration // directed: from, to
	drop   float64
	rng    *rand.Rand
	conns  map[*faultConn]struct{}
	closed chan struct{}
	once   sync.Once
}

func newNetwork() *Network {
	return &Network{
		known:  map[string]bool{},
		cut:    map[[2]string]bool{},
		delay:  map[[2]string]time.Duration{},
		rng:    rand.New(rand.NewSource(1)),
		conns:  map[*faultConn]struct{}{},
		closed: make(chan struct{}),
	}
}

func (n *Network) add(addr string) {
	n.mu.Lock()
	n.known[addr] = true
	n.mu.Unlock()
}

func (n *Network) close() {
	n.once.Do(func() { close(n.closed) })
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Partition cuts every link between nodes of different groups. Links of
// nodes not named stay as they are.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	for gi, g := range groups {
		for _, other := range groups[gi+1:] {
			for _, a := range g {
				for _, b := range other {
					n.cut[pair(a, b)] = true
				}
			}
		}
	}
	n.mu.Unlock()
	n.closeCut()
}

// Isolate cuts every link of addr.
func (n *Network) Isolate(addr string) {
	n.mu.Lock()
	for other := range n.known {
		if other != addr {
			n.cut[pair(addr, other)] = true
		}
	}
	n.mu.Unlock()
	n.closeCut()
}

// Heal restores every link: no cuts, no delays, no loss.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = map[[2]string]bool{}
	n.delay = map[[2]string]time.Duration{}
	n.drop = 0
}

// Reachable tells whether a and b can talk.
func (n *Network) Reachable(a, b string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.cut[pair(a, b)]
}

// SetDelay delays the direction from → to by d (0 removes the delay).
func (n *Network) SetDelay(from, to string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d <= 0 {
		delete(n.delay, [2]string{from, to})
		return
	}
	n.delay[[2]string{from, to}] = d
}

// SetLoss makes every write on every link fail with probability p, drawn
// from a generator seeded with seed (so a schedule replays the same
// decisions in the same order, not the same timing).
func (n *Network) SetLoss(p float64, seed int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop = p
	n.rng = rand.New(rand.NewSource(seed))
}

// Dialer returns the Config.Dial hook of the node at from.
func (n *Network) Dialer(from string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, to string) (net.Conn, error) {
		if !n.Reachable(from, to) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ErrCut}
		}
		if err := n.wait(ctx.Done(), n.delayOf(from, to)); err != nil {
			return nil, err
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", to)
		if err != nil {
			return nil, err
		}
		fc := &faultConn{Conn: c, net: n, from: from, to: to, done: make(chan struct{})}
		n.mu.Lock()
		n.conns[fc] = struct{}{}
		n.mu.Unlock()
		return fc, nil
	}
}

func (n *Network) delayOf(from, to string) time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.delay[[2]string{from, to}]
}

// lose reports whether this write is lost.
func (n *Network) lose() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.drop > 0 && n.rng.Float64() < n.drop
}

// wait waits d unless done or the network closes first.
func (n *Network) wait(done <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-done:
		return ErrCut
	case <-n.closed:
		return ErrCut
	}
}

// closeCut closes the open connections of cut links.
func (n *Network) closeCut() {
	n.mu.Lock()
	var doomed []*faultConn
	for c := range n.conns {
		if n.cut[pair(c.from, c.to)] {
			doomed = append(doomed, c)
		}
	}
	n.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
}

func (n *Network) forget(c *faultConn) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}

// faultConn is one dialed connection from → to.
type faultConn struct {
	net.Conn
	net      *Network
	from, to string
	done     chan struct{}
	once     sync.Once
}

func (c *faultConn) Write(p []byte) (int, error) {
	if !c.net.Reachable(c.from, c.to) || c.net.lose() {
		c.Close()
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: ErrCut}
	}
	if err := c.net.wait(c.done, c.net.delayOf(c.from, c.to)); err != nil {
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: err}
	}
	return c.Conn.Write(p)
}

func (c *faultConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	if k > 0 {
		if !c.net.Reachable(c.from, c.to) {
			c.Close()
			return 0, &net.OpError{Op: "read", Net: "tcp", Err: ErrCut}
		}
		if werr := c.net.wait(c.done, c.net.delayOf(c.to, c.from)); werr != nil {
			return 0, &net.OpError{Op: "read", Net: "tcp", Err: werr}
		}
	}
	return k, err
}

func (c *faultConn) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.net.forget(c)
	})
	return c.Conn.Close()
}
