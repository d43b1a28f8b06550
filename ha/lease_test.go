package ha

import (
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

func leaderState(holder string, index uint64) fsm.State {
	return fsm.State{Leader: &fsm.Leader{Member: holder, Epoch: 5, TTL: 3}, LeaderIndex: index, Members: map[string]fsm.Member{}}
}

func TestLease_ObserverCountsFullTTLFromFirstObservation(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	st := leaderState("n1", 7)
	l.Observe(st, t0)
	if v := l.View(st, "n2", t0.Add(2999*time.Millisecond)); v.Expired {
		t.Fatal("expired before a full TTL")
	}
	if v := l.View(st, "n2", t0.Add(3*time.Second)); !v.Expired {
		t.Fatal("not expired after a full TTL")
	}
}

func TestLease_RenewalSeenLaterRestartsTheCount(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	l.Observe(leaderState("n1", 7), t0)
	renewed := leaderState("n1", 9)
	l.Observe(renewed, t0.Add(2*time.Second))
	if v := l.View(renewed, "n2", t0.Add(4*time.Second)); v.Expired {
		t.Fatal("expired although a renewal was seen 2s ago")
	}
	if v := l.View(renewed, "n2", t0.Add(5*time.Second)); !v.Expired {
		t.Fatal("not expired a full TTL after the last renewal")
	}
}

func TestLease_UnobservedStateNeverExpires(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	l.Observe(leaderState("n1", 7), t0)
	newer := leaderState("n1", 8)
	if v := l.View(newer, "n2", t0.Add(time.Hour)); v.Expired {
		t.Fatal("a leader index never passed to Observe must not count as expired")
	}
}

func TestLease_HolderStopsTrustingBeforeOthersMayTakeOver(t *testing.T) {
	margin := 750 * time.Millisecond
	holder, other := NewLease(margin), NewLease(margin)
	st := leaderState("n1", 7)
	sent := t0
	commitSeen := t0.Add(20 * time.Millisecond) // the other node applies after commit
	holder.Renewed(5, sent, 0, 3*time.Second)
	other.Observe(st, commitSeen)
	_, trustUntil := holder.TrustUntil()
	expires := other.View(st, "n2", commitSeen).ExpiresAt
	if gap := expires.Sub(trustUntil); gap < margin {
		t.Fatalf("holder trusts until %v, others may take over at %v: gap %v < margin %v", trustUntil, expires, gap, margin)
	}
	if v := holder.View(st, "n1", trustUntil.Add(-time.Millisecond)); !v.Held || !v.Valid {
		t.Fatalf("holder view before trustUntil = %+v", v)
	}
	if v := holder.View(st, "n1", trustUntil); v.Valid {
		t.Fatal("holder still trusts its lease at trustUntil")
	}
}

func TestLease_OtherEpochIsNotTrusted(t *testing.T) {
	l := NewLease(time.Second)
	l.Renewed(4, t0, 0, 3*time.Second)
	if v := l.View(leaderState("n1", 7), "n1", t0); v.Valid {
		t.Fatal("a lease of epoch 4 must not be valid for epoch 5")
	}
}

func TestLease_LiveMembersForgetSilentOnes(t *testing.T) {
	l := NewLease(time.Second)
	st := fsm.State{Members: map[string]fsm.Member{"a": {Name: "a", UpdatedIndex: 1}, "b": {Name: "b", UpdatedIndex: 1}}}
	l.Observe(st, t0)
	st.Members["a"] = fsm.Member{Name: "a", UpdatedIndex: 2}
	l.Observe(st, t0.Add(2*time.Second))
	live := l.LiveMembers(3*time.Second, t0.Add(4*time.Second))
	if !live["a"] || live["b"] {
		t.Fatalf("live = %v, want only a", live)
	}
}

func TestLease_TTLLowered_TrustFollowsTheCommittedTTLDown(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	l.Renewed(5, t0, 0, 30*time.Second)
	l.Renewed(5, t0.Add(10*time.Second), 0, 3*time.Second)
	if _, until := l.TrustUntil(); !until.Equal(t0.Add(12250 * time.Millisecond)) {
		t.Fatalf("after a renewal with ttl 3 sent at +10s the holder trusts until +%v; want +12.25s (sent + 3s - margin)", until.Sub(t0))
	}
}

func TestLease_TTLRaised_TrustFollowsTheCommittedTTLUp(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	l.Renewed(5, t0, 0, 3*time.Second)
	l.Renewed(5, t0.Add(time.Second), 0, 30*time.Second)
	if _, until := l.TrustUntil(); !until.Equal(t0.Add(30250 * time.Millisecond)) {
		t.Fatalf("trust until +%v; want +30.25s", until.Sub(t0))
	}
}

func TestLease_RenewalInFlight_CapsTheTrustAtItsOwnTTL(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	l.Renewed(5, t0, 0, 30*time.Second)
	if l.Sending(5, t0.Add(time.Second), 30*time.Second) {
		t.Fatal("a renewal with the same ttl lowered the trust")
	}
	if !l.Sending(5, t0.Add(time.Second), 3*time.Second) {
		t.Fatal("a renewal with a lower ttl did not lower the trust")
	}
	if _, until := l.TrustUntil(); !until.Equal(t0.Add(3250 * time.Millisecond)) {
		t.Fatalf("trust until +%v while a ttl-3 renewal sent at +1s may commit; want +3.25s", until.Sub(t0))
	}
	if l.Sending(4, t0.Add(time.Second), time.Second) {
		t.Fatal("a renewal of another tenure changed this one's trust")
	}
}

func TestLease_UnknownOutcome_ItsTTLStaysACeiling(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	l.Renewed(5, t0, 0, 30*time.Second)
	l.Unknown(5, 3*time.Second) // may still commit, after a later renewal
	l.Renewed(5, t0.Add(2*time.Second), 0, 30*time.Second)
	if _, until := l.TrustUntil(); !until.Equal(t0.Add(4250 * time.Millisecond)) {
		t.Fatalf("trust until +%v; want +4.25s (the unknown ttl-3 renewal bounds it)", until.Sub(t0))
	}
	l.Renewed(6, t0.Add(3*time.Second), 0, 30*time.Second)
	if _, until := l.TrustUntil(); !until.Equal(t0.Add(32250 * time.Millisecond)) {
		t.Fatalf("a new tenure kept the old tenure's ceiling: trust until +%v", until.Sub(t0))
	}
}

func TestLease_FrozenMonotonicClock_BootTimeEndsTheTrust(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	boot := 100 * time.Second
	l.Renewed(5, t0, boot, 3*time.Second)
	if _, ok, _ := l.Trusted(t0.Add(time.Second), boot+time.Second); !ok {
		t.Fatal("not trusted 1s after the renewal with both clocks agreeing")
	}
	// Suspended for 5 s: boot time moved on, the monotonic clock did not.
	if _, ok, left := l.Trusted(t0.Add(time.Second), boot+6*time.Second); ok {
		t.Fatalf("still trusted (%v left) after a 5 s suspend the monotonic clock missed", left)
	}
	// Differences smaller than the remaining trust keep it.
	if _, ok, _ := l.Trusted(t0.Add(time.Second), boot+1500*time.Millisecond); !ok {
		t.Fatal("a 0.5 s disagreement with 1.25 s of trust left ended the trust")
	}
	// An unknown boot time (0) disables the check.
	if _, ok, _ := l.Trusted(t0.Add(time.Second), 0); !ok {
		t.Fatal("an unreadable boot time ended the trust")
	}
}

func TestLease_Revoke_KeepsTheTenureSoTheGuardFences(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	l.Renewed(5, t0, 0, 3*time.Second)
	l.Revoke()
	epoch, ok, _ := l.Trusted(t0, 0)
	if epoch != 5 || ok {
		t.Fatalf("after Revoke: epoch %d trusted %v; want epoch 5, not trusted", epoch, ok)
	}
}

// Review item 2: a failsafe extension counts with the lowest of the key's
// ttl as the caller saw it, the last committed renewal's and the ceiling,
// also after the lease was dropped (a failsafe round may restore it).
func TestLease_FailsafeTTL_NeverMoreThanTheLastCommittedRenewal(t *testing.T) {
	l := NewLease(750 * time.Millisecond)
	l.Renewed(5, t0, 0, 3*time.Second)
	if got := l.FailsafeTTL(5, 30*time.Second); got != 3*time.Second {
		t.Fatalf("failsafe ttl %v with a committed ttl-3 renewal, want 3s", got)
	}
	l.Drop()
	if got := l.FailsafeTTL(5, 30*time.Second); got != 3*time.Second {
		t.Fatalf("after a drop: failsafe ttl %v, want 3s", got)
	}
	l.Unknown(6, 2*time.Second)
	if got := l.FailsafeTTL(6, 30*time.Second); got != 2*time.Second {
		t.Fatalf("other tenure with a ceiling: %v, want 2s", got)
	}
	if got := l.FailsafeTTL(7, 30*time.Second); got != 30*time.Second {
		t.Fatalf("unknown tenure: %v, want the key's 30s", got)
	}
}
