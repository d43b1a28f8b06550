//go:build integration

package integration

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// README (REST API): /primary answers 200 only while the node holds the
// leader key with a trusted lease. The primary's namespace is cut off from
// the other nodes (nft inside it) while the client namespace still reaches
// it; /primary polled from the client every 50 ms must turn 503 as soon as
// the lease is no longer trusted (the last renewal sent + ttl - 750 ms, so
// at most 2.25 s after the cut), before the new primary accepts writes,
// and stay 503.
func TestPrimaryEndpoint_CutOffPrimary_Answers503WhenTrustRunsOut(t *testing.T) {
	needNetns(t)
	needNft(t)
	tb := newTestbed(t, 3)
	b := setUp(t, clusterOptions{serial: true}, tb) // trust deadline
	old := b.leader
	idx := b.c.nodeIndex(old)
	if code, err := getJSONWith(old.http(), old.apiURL()+"/primary", nil); code != 200 {
		t.Fatalf("/primary on the leader %s: HTTP %d, %v; want 200 before the cut", old.name, code, err)
	}

	// Poll /primary on the old primary from the client namespace.
	type answer struct {
		at   time.Time
		code int
	}
	var (
		mu      sync.Mutex
		answers []answer
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			code, _ := getJSONWith(old.http(), old.apiURL()+"/primary", nil)
			mu.Lock()
			answers = append(answers, answer{time.Now(), code})
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	stopPoll := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}
	defer stopPoll()

	tb.nft(idx, "add", "table", "inet", "cvcut")
	tb.nft(idx, "add", "chain", "inet", "cvcut", "in", "{ type filter hook input priority 0; policy accept; }")
	tb.nft(idx, "add", "chain", "inet", "cvcut", "out", "{ type filter hook output priority 0; policy accept; }")
	for i := range b.c.nodes {
		if i+1 == idx {
			continue
		}
		tb.nft(idx, "add", "rule", "inet", "cvcut", "in", "ip", "saddr", tb.addr(i+1), "drop")
		tb.nft(idx, "add", "rule", "inet", "cvcut", "out", "ip", "daddr", tb.addr(i+1), "drop")
	}
	t0 := time.Now()
	t.Logf("cut %s (10.213.%d.%d) off from the other nodes; the client still reaches it", old.name, tb.subnet, idx)

	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, 30*time.Second)
	waitFor(t, 10*time.Second, "a probe write on "+newLeader.name, func() error {
		if _, ok := b.p.firstSuccessAfter(newLeader.name, t0); !ok {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	newFirst, _ := b.p.firstSuccessAfter(newLeader.name, t0)
	// Keep polling a little past the takeover: /primary must stay 503.
	holdsFor(t, ttl, old.name+" still answers", func() error { return nil })
	stopPoll()

	mu.Lock()
	defer mu.Unlock()
	var first503, last200 time.Time
	n200 := 0
	for _, a := range answers {
		if a.at.Before(t0) {
			continue
		}
		switch a.code {
		case 200:
			last200 = a.at
			n200++
		case 503:
			if first503.IsZero() {
				first503 = a.at
			}
		}
	}
	if first503.IsZero() {
		t.Fatalf("/primary on %s never answered 503 after the cut (%d answers)", old.name, len(answers))
	}
	limit := ttl - 750*time.Millisecond + scaled(300*time.Millisecond)
	t.Logf("/primary on %s: %d answers 200 after the cut, last ended %v after it; first 503 at %v; new primary %s writable at %v",
		old.name, n200, sub(last200, t0), first503.Sub(t0).Round(time.Millisecond), newLeader.name, newFirst.Sub(t0).Round(time.Millisecond))
	if !last200.IsZero() && last200.Sub(t0) > limit {
		t.Errorf("/primary on the cut-off %s answered 200 until %v after the cut; its trust ran out by %v", old.name, last200.Sub(t0), ttl-750*time.Millisecond)
	}
	// Nor may it outlive the node's own writability by more than a probe
	// period and a poll: the lease guard fences at the same deadline.
	if lastWrite, ok := b.p.lastSuccess(old.name); ok && last200.Sub(lastWrite) > 300*time.Millisecond {
		t.Errorf("/primary on %s answered 200 at %v, %v after its PostgreSQL last accepted a write (fenced)", old.name, last200.Sub(t0), last200.Sub(lastWrite))
	}
	if !last200.IsZero() && !last200.Before(newFirst) {
		t.Errorf("/primary on %s answered 200 at %v, after the new primary %s accepted a write at %v", old.name, last200.Sub(t0), newLeader.name, newFirst.Sub(t0))
	}
	tb.nft(idx, "delete", "table", "inet", "cvcut")
	leader := waitConverged(b.c, 90*time.Second)
	if leader == old {
		t.Errorf("%s leads again after heal", old.name)
	}
	b.finish(asyncMode)
}

func sub(a, b time.Time) string {
	if a.IsZero() {
		return "never"
	}
	return strconv.FormatFloat(a.Sub(b).Seconds(), 'f', 3, 64) + "s"
}
