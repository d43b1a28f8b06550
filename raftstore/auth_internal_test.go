package raftstore

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// recorder keeps every byte written through it.
type recorder struct {
	net.Conn
	mu  *sync.Mutex
	out *bytes.Buffer
}

func (r recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.out.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

// handshake runs both sides over a pipe and returns what crossed it.
func handshake(t *testing.T, client, server security) (cerr error, serverReason string, wire []byte) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var mu sync.Mutex
	var buf bytes.Buffer
	done := make(chan string, 1)
	go func() {
		c, reason := server.secureServer(recorder{b, &mu, &buf})
		if c != nil {
			reason = ""
		}
		b.Close()
		done <- reason
	}()
	_, cerr = client.secureClient(recorder{a, &mu, &buf}, "peer", time.Now().Add(5*time.Second))
	serverReason = <-done
	mu.Lock()
	defer mu.Unlock()
	return cerr, serverReason, buf.Bytes()
}

func mustSecurity(t *testing.T, secret string) security {
	t.Helper()
	s, err := newSecurity(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHandshake_SamePassword_SucceedsWithoutSendingIt(t *testing.T) {
	const secret = "correct horse battery staple"
	cerr, reason, wire := handshake(t, mustSecurity(t, secret), mustSecurity(t, secret))
	if cerr != nil || reason != "" {
		t.Fatalf("handshake: client %v, server %q", cerr, reason)
	}
	if bytes.Contains(wire, []byte(secret)) || len(wire) == 0 {
		t.Errorf("the password crossed the wire (or nothing did): %d bytes", len(wire))
	}
}

func TestHandshake_WrongPassword_IsRefusedOnBothSides(t *testing.T) {
	cerr, reason, _ := handshake(t, mustSecurity(t, "guess"), mustSecurity(t, "right"))
	if !errors.Is(cerr, ErrAuth) || !errors.Is(cerr, ErrRejected) {
		t.Errorf("client error %v, want ErrAuth", cerr)
	}
	if reason != "wrong raft.password" {
		t.Errorf("server reason %q", reason)
	}
}

func TestHandshake_NoPasswordOnClient_IsRefusedByServer(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() { _, _ = a.Write([]byte{rpcMagic, '{', '}'}); a.Close() }()
	c, reason := mustSecurity(t, "right").secureServer(b)
	if c != nil || reason == "" {
		t.Errorf("unauthenticated rpc accepted: reason %q", reason)
	}
}
