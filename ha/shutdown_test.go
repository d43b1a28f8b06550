package ha

import (
	"context"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

func TestLoop_Shutdown_HolderPublishesStoppingThenReleasesTheKey(t *testing.T) {
	l, c, pg, _ := newLeader(t, nil, nil)
	if err := l.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := c.State()
	if st.Leader != nil {
		t.Fatalf("leader key still held by %s after Shutdown", st.Leader.Member)
	}
	if got := st.Members["n1"].State; got != memberStopping {
		t.Fatalf("member state %q after Shutdown; want %q", got, memberStopping)
	}
	if !pg.called("stop") {
		t.Fatal("PostgreSQL not stopped")
	}
}

// A member stopping together with a stopping key holder keeps its Raft
// peer (does not return) until the holder gave the key back.
func TestLoop_Shutdown_OtherMemberWaitsForAStoppingHolderToRelease(t *testing.T) {
	_, c, _, clock := newLeader(t, nil, nil)
	m := c.State().Members["n1"]
	m.State = memberStopping
	if _, err := c.Propose(context.Background(), fsm.UpsertMember{Member: m}); err != nil {
		t.Fatal(err)
	}
	other := New(Config{Name: "n2", Clock: clock}, c, &fakePG{st: PGStatus{DataDir: DataDirValid, Running: true, InRecovery: true}})
	done := make(chan struct{})
	go func() {
		other.Shutdown(context.Background())
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("n2's Shutdown returned while the stopping holder n1 still held the key")
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := c.Propose(context.Background(), fsm.ReleaseLeader{Member: "n1", Epoch: c.State().Leader.Epoch}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("n2's Shutdown did not return after the key was given back")
	}
}

// A running (not stopping) holder: a replica's Shutdown does not wait.
func TestLoop_Shutdown_OtherMemberDoesNotWaitForARunningHolder(t *testing.T) {
	_, c, _, clock := newLeader(t, nil, nil)
	other := New(Config{Name: "n2", Clock: clock}, c, &fakePG{st: PGStatus{DataDir: DataDirValid, Running: true, InRecovery: true}})
	start := time.Now()
	if err := other.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Shutdown took %v with a running holder", d)
	}
}
