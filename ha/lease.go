package ha

import (
	"sync"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Safety rule 1: never two writable primaries.
//
// The leader key's lease is measured only with monotonic clocks, each on its
// own node; wall clocks of different hosts are never compared.
//
//   - The holder counts its lease from the moment it *sent* its last
//     successful renewal (sentAt). It trusts the lease until
//     sentAt + TTL - FenceMargin and fences PostgreSQL (immediate shutdown)
//     when that moment passes without a newer successful renewal.
//   - Every other node notes on its own clock when it first saw the leader
//     key change (observedAt). A renewal is observed only after it was
//     committed, and committed only after it was sent, so
//     observedAt >= commit >= sentAt. A node may propose AcquireLeader only at
//     observedAt + TTL or later, which is after the holder stopped trusting its
//     lease by at least FenceMargin.
//   - AcquireLeader is a compare-and-swap on State.LeaderIndex. If a renewal
//     was committed that this node has not yet seen, the CAS fails, so acting
//     on a stale view cannot take the key from a live holder.
//   - A node that starts (or restarts) has seen nothing yet: its first
//     observation counts as the change, so it waits a full TTL too.
//
// Clock rate differences between hosts are tiny next to FenceMargin; a
// paused agent cannot fence, which is why Fence is also armed as a deadline
// that PostgreSQL's own side enforces where the platform allows (see cmd).

// LeaseView is Decide's view of the leader lease.
type LeaseView struct {
	// Held: the state names this node as holder.
	Held bool
	// Valid: this node renewed the current tenure and may still rely on it.
	Valid bool
	// Expired: the holder named by the state has not renewed within its TTL
	// as measured here (always false while Held).
	Expired bool
	// ExpiresAt is when Expired becomes true (zero when unlocked).
	ExpiresAt time.Time
}

// Lease tracks both sides of the lease on this node's monotonic clock.
type Lease struct {
	FenceMargin time.Duration

	mu         sync.Mutex
	seen       bool
	lastIndex  uint64
	observedAt time.Time
	epoch      uint64
	trustUntil time.Time
	members    map[string]memberSeen
}

type memberSeen struct {
	index uint64
	at    time.Time
}

// NewLease returns a tracker with the given fence margin.
func NewLease(fenceMargin time.Duration) *Lease {
	return &Lease{FenceMargin: fenceMargin, members: map[string]memberSeen{}}
}

// Observe records the state as seen at now. Call it at every state change
// (as soon as it is applied locally) and at every loop turn.
func (l *Lease) Observe(st fsm.State, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen || st.LeaderIndex != l.lastIndex {
		l.seen = true
		l.lastIndex = st.LeaderIndex
		l.observedAt = now
	}
	for name, m := range st.Members {
		prev, ok := l.members[name]
		if !ok || prev.index != m.UpdatedIndex {
			l.members[name] = memberSeen{index: m.UpdatedIndex, at: now}
		}
	}
	for name := range l.members {
		if _, ok := st.Members[name]; !ok {
			delete(l.members, name)
		}
	}
}

// Renewed records a successful acquire or renewal of tenure epoch whose
// proposal was sent at sentAt.
func (l *Lease) Renewed(epoch uint64, sentAt time.Time, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	until := sentAt.Add(ttl - l.FenceMargin)
	if epoch != l.epoch || until.After(l.trustUntil) {
		l.epoch = epoch
		l.trustUntil = until
	}
}

// Drop forgets this node's own lease (released, lost or fenced).
func (l *Lease) Drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch = 0
	l.trustUntil = time.Time{}
}

// TrustUntil returns the tenure this node renewed and until when it may rely on it.
func (l *Lease) TrustUntil() (epoch uint64, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, l.trustUntil
}

// View computes the lease view for self at now.
func (l *Lease) View(st fsm.State, self string, now time.Time) LeaseView {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st.Leader == nil {
		return LeaseView{}
	}
	if st.Leader.Member == self {
		valid := l.epoch == st.Leader.Epoch && now.Before(l.trustUntil)
		return LeaseView{Held: true, Valid: valid}
	}
	ttl := time.Duration(st.Leader.TTL) * time.Second
	if !l.seen || l.lastIndex != st.LeaderIndex {
		// Not observed through Observe yet: count from now.
		return LeaseView{ExpiresAt: now.Add(ttl)}
	}
	expires := l.observedAt.Add(ttl)
	return LeaseView{Expired: !now.Before(expires), ExpiresAt: expires}
}

// LiveMembers returns the members whose reports changed within ttl of now.
func (l *Lease) LiveMembers(ttl time.Duration, now time.Time) map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	live := map[string]bool{}
	for name, seen := range l.members {
		if now.Sub(seen.at) < ttl {
			live[name] = true
		}
	}
	return live
}
