package raftstore

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// rpcMagic starts every Conclave RPC connection. Raft's net transport starts
// each connection with an RPC type byte 0..4, so the two never collide.
const rpcMagic byte = 0xC7

// peekTimeout bounds how long a new connection may stay silent before it is
// classified. A connection silent that long is handed to Raft (whose
// connections always speak first, so this only affects idle or broken peers).
const peekTimeout = 5 * time.Second

// muxListener is the raft.StreamLayer: one TCP port for Raft and Conclave RPC.
// Nothing is accepted before start. Accepted connections are classified by their first byte in their own
// goroutine, so a silent client never blocks Accept for others.
type muxListener struct {
	ln        net.Listener
	advertise net.Addr
	serveRPC  func(net.Conn) // called in its own goroutine for 0xC7 connections
	// secure authenticates an accepted connection before its first byte is
	// classified (auth.go); nil conn: refused, reason already logged.
	secure func(net.Conn) net.Conn
	// checkID runs the cluster ID handshake's server side on a connection
	// that starts with idMagic (clusterid.go) and returns the connection to
	// hand on; nil: refused, logged.
	checkID   func(net.Conn) net.Conn
	dial      func(ctx context.Context, addr string) (net.Conn, error)
	raftConns chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var _ raft.StreamLayer = (*muxListener)(nil)

func newMuxListener(ln net.Listener, advertise string, serveRPC func(net.Conn), secure func(net.Conn) net.Conn,
	checkID func(net.Conn) net.Conn, dial func(context.Context, string) (net.Conn, error)) *muxListener {
	m := &muxListener{
		ln:        ln,
		secure:    secure,
		checkID:   checkID,
		dial:      dial,
		advertise: tcpAddr(advertise),
		serveRPC:  serveRPC,
		raftConns: make(chan net.Conn),
		closed:    make(chan struct{}),
	}
	return m
}

// start begins accepting; called once the Store can serve RPCs.
func (m *muxListener) start() {
	m.wg.Add(1)
	go m.acceptLoop()
}

func (m *muxListener) acceptLoop() {
	defer m.wg.Done()
	var delay time.Duration
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || !errors.Is(err, net.ErrClosed) {
				// Transient (e.g. EMFILE): back off and retry.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-m.closed:
					return
				case <-time.After(delay):
				}
				continue
			}
			return
		}
		delay = 0
		m.wg.Add(1)
		go m.classify(conn)
	}
}

func (m *muxListener) classify(raw net.Conn) {
	defer m.wg.Done()
	// Close must not wait for a silent peer: expire its deadline at once.
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-m.closed:
			_ = raw.SetDeadline(time.Now())
		case <-stopWatch:
		}
	}()
	unwatch := func() { close(stopWatch); <-watched }

	conn := m.secure(raw)
	if conn == nil {
		unwatch()
		raw.Close()
		return
	}
	br := bufio.NewReader(conn)
	var pc net.Conn = &peekedConn{Conn: conn, r: br}
	b, err := peekFirst(conn, br)
	if err == nil && b == idMagic {
		if pc = m.checkID(pc); pc == nil {
			unwatch()
			conn.Close()
			return
		}
		b, err = peekFirst(conn, br) // then Raft's or RPC's first byte
	}
	if err != nil && !isTimeout(err) {
		unwatch()
		pc.Close() // closed before saying anything
		return
	}
	if err == nil && b == rpcMagic {
		m.serveRPC(pc)
		unwatch()
		return
	}
	unwatch() // from here on the connection is Raft's
	_ = conn.SetReadDeadline(time.Time{})
	select {
	case m.raftConns <- pc:
	case <-m.closed:
		pc.Close()
	}
}

// peekFirst peeks the next byte, waiting at most peekTimeout.
func peekFirst(conn net.Conn, br *bufio.Reader) (byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(peekTimeout))
	b, err := br.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Accept hands Raft its connections.
func (m *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftConns:
		return c, nil
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections already handed out stay open.
func (m *muxListener) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.ln.Close()
	})
	return err
}

// wait blocks until the accept loop and every classifier have returned.
func (m *muxListener) wait() { m.wg.Wait() }

// Addr is the advertised address (Config.Addr), which Raft uses as its own.
func (m *muxListener) Addr() net.Addr { return m.advertise }

// Dial opens a Raft connection; Raft writes its type byte first.
func (m *muxListener) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return m.dial(ctx, string(address))
}

// peekedConn replays the peeked byte before reading the rest.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }
