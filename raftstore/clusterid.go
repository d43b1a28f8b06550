package raftstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/fsm"
)

// The cluster ID on the Raft port (DESIGN.md, "Cluster ID").
//
// A node whose Raft log predates a rebuild of the Raft state (or belongs to
// another cluster on the same addresses) must not take part in the new
// cluster: its terms and indexes mean nothing there, and it could win an
// election and overwrite committed entries. Raft cannot tell; the cluster
// ID can. Every outgoing connection of a node that knows its cluster's ID
// starts, after authentication (auth.go) and before Raft's or RPC's first
// byte, with:
//
//	client → server: idMagic, idVersion, len, ID
//	server → client: idOK or idRefused, len, the server's ID ("" if none)
//
// The server refuses when it knows an ID and the client's differs; the
// client refuses when the server names a different ID. A node that knows no
// ID (first formation, a joining or wiped node, an agent older than
// ProtocolClusterID) sends nothing and is accepted, and accepts anyone: it
// learns the ID by applying the log; the connections it opened meanwhile
// end once it knows the ID (untilClusterID), so that the peer checks their
// replacements. An older agent cannot read the
// preamble, but none is sent while the cluster has no ID, and the ID is
// minted only once every member advertises ProtocolClusterID.

const (
	idMagic    byte = 0xC9 // Raft uses 0..4, RPC 0xC7, authentication 0xC8
	idVersion  byte = 1
	idOK       byte = 0
	idRefused  byte = 1
	idMaxLen        = 64
	idFileName      = "cluster_id"
)

// ErrClusterID marks a connection refused because the two nodes' Raft logs
// belong to different clusters.
var ErrClusterID = fmt.Errorf("%w: raft log of another cluster", ErrRejected)

// savedClusterID is raft.data_dir/cluster_id: the ID this node applied,
// known at startup before the log is replayed.
type savedClusterID struct {
	path string
	mu   sync.Mutex
	id   string
}

// openSavedClusterID reads the file. A node without Raft state drops it:
// it has no log to protect and must be able to join whichever cluster it
// is sent to (the documented fix is exactly to move the Raft data aside).
// A corrupt file counts as a missing one (warned): the node then presents
// the ID its FSM restores or replays, and keepClusterID rewrites the file.
func openSavedClusterID(dir string, hadState bool, logger hclog.Logger) (*savedClusterID, error) {
	sc := &savedClusterID{path: filepath.Join(dir, idFileName)}
	if !hadState {
		if err := os.Remove(sc.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("raftstore: remove %s: %w", sc.path, err)
		}
		return sc, nil
	}
	b, err := os.ReadFile(sc.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return sc, nil
	case err != nil:
		return nil, fmt.Errorf("raftstore: read %s: %w", sc.path, err)
	}
	id := string(b)
	if !fsm.ValidClusterID(id) {
		logger.Warn("the cluster id file is corrupt: using the id in the raft log once it is replayed", "path", sc.path, "content", id)
		return sc, nil
	}
	sc.id = id
	return sc, nil
}

func (sc *savedClusterID) get() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.id
}

// save writes id durably (temporary file, fsync, rename, directory fsync).
func (sc *savedClusterID) save(id string) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.id == id {
		return nil
	}
	tmp := sc.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(id)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, sc.path)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(sc.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	sc.id = id
	return nil
}

// ClusterID is the ID of the cluster whose log this node holds: the one
// its FSM applied, else the one saved before this start; "" when none is
// known yet.
func (s *Store) ClusterID() string {
	if s.fsm == nil || s.savedID == nil { // the CLI's Client
		return ""
	}
	if id := s.fsm.ClusterID(); id != "" {
		return id
	}
	return s.savedID.get()
}

// keepClusterID saves the applied ID to raft.data_dir whenever the FSM
// applies or restores one that differs from the saved one. It runs outside
// Apply (no I/O there) on every node.
func (s *Store) keepClusterID(ctx context.Context) {
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		changed := s.fsm.Changed()
		if id := s.fsm.ClusterID(); id != "" && id != s.savedID.get() {
			if err := s.savedID.save(id); err != nil {
				s.limit.error(s, "cluster-id-save", "saving the cluster id failed; retrying", "path", s.savedID.path, "error", err)
			} else {
				s.logger.Info("cluster id recorded", "node", s.cfg.Addr, "cluster_id", id)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-retry.C:
		}
	}
}

// mayMintClusterID is the gate for SetClusterID: no ID yet, and every member
// listed advertises ProtocolClusterID. A Raft server without a member record
// does not close it (after a rebuild, a voter that is down has none, and
// that node is the one the ID must keep out); an older agent there skips
// the command (FlagIgnorable).
func mayMintClusterID(st fsm.State) bool {
	return st.ClusterID == "" && st.AllSupport(fsm.ProtocolClusterID)
}

// mintClusterID runs on the Raft leader: it proposes a fresh random ID for
// a state without one. Two leaders in a row may each propose one; Apply
// keeps the first.
func (s *Store) mintClusterID(ctx context.Context) {
	if s.fsm.ClusterID() != "" || !mayMintClusterID(s.fsm.State()) {
		return
	}
	b := make([]byte, fsm.ClusterIDLen/2)
	if _, err := rand.Read(b); err != nil {
		s.limit.error(s, "cluster-id-mint", "minting a cluster id failed", "error", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, membershipTimeout)
	defer cancel()
	if _, err := s.Propose(pctx, fsm.SetClusterID{ID: hex.EncodeToString(b)}); err != nil {
		s.limit.info(s, "cluster-id-mint", "proposing a cluster id failed; retrying", "error", err)
		return
	}
	s.logger.Info("minted the cluster id", "node", s.cfg.Addr, "cluster_id", s.fsm.ClusterID())
}

// presentClusterID runs the client side of the handshake on an outgoing
// connection (after authentication). Without a known ID it sends nothing,
// and the connection lasts only until the ID is known (untilClusterID).
func (s *Store) presentClusterID(conn net.Conn, addr string, deadline time.Time) (net.Conn, error) {
	own := s.ClusterID()
	if own == "" {
		return &untilClusterID{Conn: conn, known: func() bool { return s.ClusterID() != "" }}, nil
	}
	if d := time.Now().Add(authTimeout); deadline.IsZero() || d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	if err := clientIDExchange(conn, own); err != nil {
		conn.Close()
		err = fmt.Errorf("raft port %s: %w", addr, err)
		s.limit.error(s, "cluster-id-out:"+addr, "raft port refused: the peer's raft log belongs to another cluster", "peer", addr, "error", err)
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// clientIDExchange sends own and reads the answer; the error wraps
// ErrClusterID when either side refuses.
func clientIDExchange(conn net.Conn, own string) error {
	if _, err := conn.Write(append([]byte{idMagic, idVersion, byte(len(own))}, own...)); err != nil {
		return err
	}
	status := []byte{0}
	if _, err := io.ReadFull(conn, status); err != nil {
		return fmt.Errorf("cluster id handshake: %w (is the peer an agent older than protocol level %d?)", err, fsm.ProtocolClusterID)
	}
	theirs, err := readID(conn)
	if err != nil {
		return err
	}
	if status[0] != idOK || theirs != "" && theirs != own {
		return mismatch(own, theirs)
	}
	return nil
}

// mismatch is the operator's error: both IDs and the fix.
func mismatch(own, theirs string) error {
	return fmt.Errorf("%w: this node's raft log is of cluster %s, the peer's of cluster %s; "+
		"on the node whose Raft data is stale (it predates a rebuild of the Raft state, or belongs to another cluster), "+
		"stop the agent, move its raft.data_dir aside and run `conclave join --via HOST:PORT`", ErrClusterID, own, theirs)
}

// errIDLearned ends a connection opened before this node knew its cluster
// ID; the caller (Raft, the RPC client) redials, with the handshake.
var errIDLearned = errors.New("raft connection opened before the cluster id was known: redialing with it")

// untilClusterID wraps a connection this node opened while it knew no
// cluster ID: it went out without the handshake, so the peer never checked
// it, and Raft keeps such connections (its pool, its pipelines) for good. The
// first Read or Write once the ID is known closes it, so every connection
// that outlives the mint is redialed and checked by the peer. A Read blocked
// meanwhile ends when the next Write (the leader's next heartbeat) closes it.
type untilClusterID struct {
	net.Conn
	known func() bool
	ended atomic.Bool
}

func (c *untilClusterID) Read(p []byte) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *untilClusterID) Write(p []byte) (int, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *untilClusterID) check() error {
	if c.ended.Load() {
		return errIDLearned
	}
	if c.known() {
		c.ended.Store(true)
		c.Conn.Close()
		return errIDLearned
	}
	return nil
}

// checkClusterID runs the server side on an accepted connection whose next
// byte is idMagic. It returns the connection to hand on, or nil: refused
// (logged) and the caller closes it.
func (s *Store) checkClusterID(conn net.Conn) net.Conn {
	_ = conn.SetDeadline(time.Now().Add(authTimeout))
	defer conn.SetDeadline(time.Time{})
	remote := conn.RemoteAddr().String()
	host, _, _ := net.SplitHostPort(remote)
	head := make([]byte, 2)
	if _, err := io.ReadFull(conn, head); err != nil || head[1] != idVersion {
		s.limit.error(s, "cluster-id-in:"+host, "raft port refused a connection: unreadable cluster id handshake", "remote", remote, "error", err)
		return nil
	}
	theirs, err := readID(conn)
	if err != nil {
		s.limit.error(s, "cluster-id-in:"+host, "raft port refused a connection: unreadable cluster id handshake", "remote", remote, "error", err)
		return nil
	}
	own := s.ClusterID()
	status := idOK
	if own != "" && theirs != own {
		status = idRefused
	}
	_, werr := conn.Write(append([]byte{status, byte(len(own))}, own...))
	if status == idRefused {
		s.limit.error(s, "cluster-id-in:"+host, "raft port refused a connection: the peer's raft log belongs to another cluster",
			"remote", remote, "error", mismatch(own, theirs))
		return nil
	}
	if werr != nil {
		return nil
	}
	if own == "" && theirs != "" {
		nc := &notifyClose{Conn: conn, closed: make(chan struct{})}
		go s.closeIfOtherCluster(nc, theirs)
		return nc
	}
	return conn
}

// closeIfOtherCluster closes a connection accepted while this node knew no
// ID once it learns one that differs from the peer's: Raft keeps its
// connections open, and a stale peer accepted in that window must not stay
// connected for good. It returns when the connection closes, so a node
// that learns no ID keeps no goroutine per past connection.
func (s *Store) closeIfOtherCluster(conn *notifyClose, theirs string) {
	for {
		changed := s.fsm.Changed()
		if own := s.fsm.ClusterID(); own != "" {
			if own != theirs {
				s.logger.Error("raft port closed a connection accepted before this node knew its cluster id: the peer's raft log belongs to another cluster",
					"node", s.cfg.Addr, "remote", conn.RemoteAddr().String(), "error", mismatch(own, theirs))
				conn.Close()
			}
			return
		}
		select {
		case <-changed:
		case <-conn.closed:
			return
		case <-s.baseCtx.Done():
			return
		}
	}
}

// notifyClose tells closeIfOtherCluster that its connection was closed.
type notifyClose struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyClose) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func readID(r io.Reader) (string, error) {
	n := []byte{0}
	if _, err := io.ReadFull(r, n); err != nil {
		return "", fmt.Errorf("cluster id handshake: %w", err)
	}
	if n[0] > idMaxLen {
		return "", fmt.Errorf("cluster id handshake: id of %d bytes", n[0])
	}
	b := make([]byte, n[0])
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("cluster id handshake: %w", err)
	}
	return string(b), nil
}
