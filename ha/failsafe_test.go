package ha

import (
	"context"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

func noBoot() time.Duration { return 0 }

// Review item 2: the loop's renewal runs on a snapshot taken before
// renewMu (key ttl 30); meanwhile the ttl was lowered to 3 and the
// background renewer committed a renewal with it. The loop's renewal fails
// without Raft and failsafe extends the trust: it must count with ttl 3
// (what the members hold off for after the heartbeat), not the snapshot's 30.
func TestLoop_FailsafeAfterTTLLowered_CountsWithTheLastCommittedTTL(t *testing.T) {
	l, c, _, clock := newLeaderWith(t, map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "failsafe_mode": true},
		Config{Peers: fakePeers{}, Boottime: noBoot})
	if _, err := c.Propose(context.Background(), fsm.UpsertMember{Member: fsm.Member{Name: "n2"}}); err != nil {
		t.Fatal(err)
	}
	stale := c.State()
	staleDyn := l.dynamicConfig(stale, false)
	if _, err := c.Propose(context.Background(), fsm.SetConfig{Config: map[string]any{"ttl": 3, "loop_wait": 1, "retry_timeout": 1, "failsafe_mode": true}}); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	fresh := c.State()
	if err := l.renewLease(context.Background(), fresh, l.dynamicConfig(fresh, false), time.Second, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if ttl := c.State().Leader.TTL; ttl != 3 {
		t.Fatalf("key ttl %d after the renewal, want 3", ttl)
	}
	c.setDown(true)
	clock.advance(100 * time.Millisecond)
	sent := clock.Now()
	if err := l.renewLease(context.Background(), stale, staleDyn, time.Second, time.Time{}); err != nil {
		t.Fatalf("failsafe renewal: %v", err)
	}
	_, until := l.lease.TrustUntil()
	if got, want := until.Sub(sent), 3*time.Second-750*time.Millisecond; got > want {
		t.Fatalf("trust %v after the heartbeats; the members hold off only 3 s (want at most %v)", got, want)
	}
}
