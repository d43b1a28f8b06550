package ha

import (
	"context"
	"testing"
	"time"
)

// /primary reads Snapshot().HoldsLeaderKey: it must turn false the moment
// the trust deadline passes, even when no turn has published since.
func TestLoop_Snapshot_StopsHoldingTheKeyWhenTrustRunsOutBetweenTurns(t *testing.T) {
	l, c, _, clock := newLeader(t, nil, nil)
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !l.Snapshot().HoldsLeaderKey {
		t.Fatal("the leader's snapshot does not hold the key after a renewal")
	}
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	clock.advance(2 * time.Second) // still before sent + ttl - FenceMargin (2.25 s)
	if !l.Snapshot().HoldsLeaderKey {
		t.Fatal("the snapshot stopped holding the key while the lease was still trusted")
	}
	clock.advance(300 * time.Millisecond) // past the trust deadline, no turn since
	if l.Snapshot().HoldsLeaderKey {
		t.Fatal("the snapshot still holds the key after the trust deadline passed")
	}
}
