package raftstore

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/fsm"
)

func TestMayMintClusterID(t *testing.T) {
	at := func(levels ...int) fsm.State {
		st := fsm.State{Members: map[string]fsm.Member{}}
		for i, l := range levels {
			name := string(rune('a' + i))
			st.Members[name] = fsm.Member{Name: name, Protocol: l}
		}
		return st
	}
	withID := at(fsm.Protocol, fsm.Protocol)
	withID.ClusterID = "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name string
		st   fsm.State
		want bool
	}{
		{"no member listed yet", at(), false},
		{"every member at this level", at(fsm.Protocol, fsm.Protocol), true},
		{"an agent older than the level", at(fsm.Protocol, fsm.ProtocolClusterID-1), false},
		{"an agent older than the protocol field", at(fsm.Protocol, 0), false},
		{"an id already recorded", withID, false},
	}
	for _, tc := range cases {
		if got := mayMintClusterID(tc.st); got != tc.want {
			t.Errorf("%s: mayMintClusterID = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// idStore is a Store with just what the cluster ID handshake uses.
func idStore(t *testing.T) *Store {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Store{cfg: Config{Addr: "test"}, fsm: fsm.New(), savedID: &savedClusterID{}, baseCtx: ctx,
		logger: hclog.NewNullLogger(), limit: newThrottle(time.Second)}
}

// A connection accepted while this node knows no ID, from a peer that
// presents one, is watched until the node learns an ID; when the connection
// closes first, its watcher ends with it (one per RPC or reconnect leaked
// before).
func TestCheckClusterID_WatcherEndsWithItsConnection(t *testing.T) {
	s := idStore(t)
	before := runtime.NumGoroutine()
	server, client := net.Pipe()
	defer client.Close()
	exchanged := make(chan struct{})
	go func() {
		defer close(exchanged)
		_ = clientIDExchange(client, strings.Repeat("ab", fsm.ClusterIDLen/2))
	}()
	conn := s.checkClusterID(server)
	if conn == nil {
		t.Fatal("a node without an id refused a peer presenting one")
	}
	<-exchanged
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before the connection, %d after it closed", before, runtime.NumGoroutine())
		}
		runtime.Gosched()
	}
}

// A connection opened without an ID ends at its first use once the ID is
// known, so Raft redials it with the handshake.
func TestPresentClusterID_ConnectionWithoutID_EndsOnceTheIDIsKnown(t *testing.T) {
	s := idStore(t)
	a, b := net.Pipe()
	defer b.Close()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	conn, err := s.presentClusterID(a, "peer", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte{1}); err != nil {
		t.Fatalf("write before the id is known: %v", err)
	}
	s.savedID.id = strings.Repeat("cd", fsm.ClusterIDLen/2) // as read from cluster_id
	if _, err := conn.Write([]byte{1}); !errors.Is(err, errIDLearned) {
		t.Fatalf("write once the id is known: %v, want errIDLearned", err)
	}
	if _, err := a.Write([]byte{1}); err == nil {
		t.Fatal("the underlying connection stayed open")
	}
}
