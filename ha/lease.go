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
//
// Exactly the committed ttl, in both directions (issue 6 item 1). The
// others count from the ttl written in the key they saw last, so the
// holder's trust is recomputed from every committed renewal as
// sent + ttl-in-that-renewal - FenceMargin: it moves down when the ttl was
// lowered and up when it was raised, never "the later of old and new"
// (which trusted a 30 s lease for 30 s after the key said 3 s).
//   - A renewal whose outcome is not known yet may commit at any moment,
//     and the others then count from its ttl. So before it is sent the
//     trust is capped at its own sent + ttl - FenceMargin (Sending), and
//     one that failed without a definite rejection may still commit later
//     (a forwarded RPC that arrives late), after a newer renewal: its ttl
//     stays a ceiling (Unknown) until a later renewal commits that proves
//     it never can (Superseded): every renewal is a compare-and-swap on
//     LeaderIndex (RenewLeader.ExpectIndex), so once one commits, those
//     sent before it, which expected an older index, are dead. A renewal
//     that certainly appended nothing (AppendReporter: no Raft leader) can
//     never commit and leaves no ceiling. With an unchanged ttl neither
//     ever lowers the trust.
//   - Failsafe extensions go through the same Renewed with the key's ttl,
//     so they obey the same ceilings.
//
// A frozen monotonic clock (issue 6 item 5): CLOCK_MONOTONIC may stand
// still while a VM is suspended, CLOCK_BOOTTIME does not. Each renewal
// records both; Trusted counts the difference of their elapsed times as
// time that passed, so a node that slept through its lease stops trusting
// it on its first look after waking.

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
	// sentMono/sentBoot: monotonic and boot-time readings when the renewal
	// the trust is counted from was sent (sentBoot 0: unknown).
	sentMono time.Time
	sentBoot time.Duration
	// ceilingTTL is the lowest ttl of a renewal of tenure ceilingEpoch
	// whose outcome stayed unknown (0: none).
	ceilingEpoch uint64
	ceilingTTL   time.Duration
	// ceilingPinned: a renewal without ExpectIndex (sent while an older
	// agent was listed) left an unknown outcome in ceilingEpoch; nothing
	// refuses it later, so no committed renewal lifts the ceiling.
	ceilingPinned bool
	// renewedTTL is the ttl the trust of tenure renewedEpoch was last
	// counted with (the committed renewal's, under the ceiling): failsafe
	// extensions never use more (FailsafeTTL). Kept across Drop.
	renewedEpoch uint64
	renewedTTL   time.Duration
	// gen counts Drop and Revoke calls: a renewal sent before one of them
	// must not bring the trust back when it commits (Loop.renewed).
	gen     uint64
	members map[string]memberSeen
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

// Renewed records a committed acquire or renewal of tenure epoch, sent at
// sent (monotonic) and sentBoot (CLOCK_BOOTTIME, 0 if unknown) with ttl:
// the trust becomes exactly sent + ttl - FenceMargin, lower or higher than
// before, except that a ttl ceiling left by an unknown outcome applies.
func (l *Lease) Renewed(epoch uint64, sent time.Time, sentBoot, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ceilingEpoch == epoch && l.ceilingTTL > 0 && l.ceilingTTL < ttl {
		ttl = l.ceilingTTL
	}
	l.epoch = epoch
	l.trustUntil = sent.Add(ttl - l.FenceMargin)
	l.sentMono, l.sentBoot = sent, sentBoot
	l.renewedEpoch, l.renewedTTL = epoch, ttl
}

// FailsafeTTL is the ttl a failsafe extension of tenure epoch may count
// with: the lowest of the key's ttl as the caller saw it (keyTTL, possibly
// from a snapshot taken before the last renewal committed), the ttl of the
// last committed renewal and the ceiling left by unknown outcomes. A member
// whose compare-and-swap could succeed saw the last committed renewal, so
// it holds off for that renewal's ttl (or a later one's) after the
// heartbeat; never trust longer than that (issue 6 item 1, review item 2).
func (l *Lease) FailsafeTTL(epoch uint64, keyTTL time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	ttl := keyTTL
	if epoch == l.renewedEpoch && l.renewedTTL > 0 && l.renewedTTL < ttl {
		ttl = l.renewedTTL
	}
	if epoch == l.ceilingEpoch && l.ceilingTTL > 0 && l.ceilingTTL < ttl {
		ttl = l.ceilingTTL
	}
	return ttl
}

// Sending caps the trust of tenure epoch before a renewal with ttl is sent
// at sent: once sent it may commit, and the others then count from it. It
// reports whether the trust was lowered.
func (l *Lease) Sending(epoch uint64, sent time.Time, ttl time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if epoch == 0 || epoch != l.epoch {
		return false
	}
	if capAt := sent.Add(ttl - l.FenceMargin); capAt.Before(l.trustUntil) {
		l.trustUntil = capAt
		return true
	}
	return false
}

// Unknown records that a renewal of tenure epoch with ttl failed without a
// definite rejection: it may still commit, so its ttl stays a ceiling.
func (l *Lease) Unknown(epoch uint64, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if epoch != l.ceilingEpoch {
		l.ceilingPinned = false
	}
	if epoch != l.ceilingEpoch || l.ceilingTTL == 0 || ttl < l.ceilingTTL {
		l.ceilingEpoch, l.ceilingTTL = epoch, ttl
	}
}

// UnknownUnchecked is Unknown for a renewal sent without ExpectIndex: it
// may commit after any later renewal, so Superseded keeps its ceiling for
// the rest of the tenure.
func (l *Lease) UnknownUnchecked(epoch uint64, ttl time.Duration) {
	l.Unknown(epoch, ttl)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ceilingPinned = true
}

// Superseded records that a renewal of tenure epoch carrying ExpectIndex
// committed. Every renewal sent before it carried an older ExpectIndex
// (indexes only grow, and it was sent before this one was appended), and
// LeaderIndex never goes back, so none of them can commit any more: the
// ceiling their unknown outcomes left is lifted (review item 1: it lasted
// the whole tenure and, after the ttl was raised, fenced a healthy primary
// after every renewal). Renewals are made one at a time (Loop.renewMu), so
// no unknown outcome newer than this renewal exists when it is called.
func (l *Lease) Superseded(epoch uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ceilingEpoch == epoch && !l.ceilingPinned {
		l.ceilingEpoch, l.ceilingTTL = 0, 0
	}
}

// Revoke ends the trust now but keeps the tenure, so the guard still
// fences before the lease is dropped (the key was lost or taken).
func (l *Lease) Revoke() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoch != 0 {
		l.trustUntil = time.Time{}
	}
	l.gen++
}

// Drop forgets this node's own lease (released, lost or fenced).
func (l *Lease) Drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch = 0
	l.trustUntil = time.Time{}
	l.gen++
}

// Gen returns the drop/revoke generation (see Loop.renewed).
func (l *Lease) Gen() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// Tenure is the epoch of the last tenure this node renewed, kept after
// Drop (fence events are keyed by it, events.go).
func (l *Lease) Tenure() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewedEpoch
}

// TrustUntil returns the tenure this node renewed and until when it may rely on it.
func (l *Lease) TrustUntil() (epoch uint64, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, l.trustUntil
}

// Trusted reports whether tenure epoch (0: none) is still trusted at now
// (monotonic) and boot (CLOCK_BOOTTIME, 0 if unknown), and how much trust
// is left. Boot time that passed while the monotonic clock stood still
// (a suspended VM) counts as passed.
func (l *Lease) Trusted(now time.Time, boot time.Duration) (epoch uint64, ok bool, left time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoch == 0 || l.trustUntil.IsZero() {
		return l.epoch, false, 0
	}
	left = l.trustUntil.Sub(now)
	if boot > 0 && l.sentBoot > 0 {
		if frozen := (boot - l.sentBoot) - now.Sub(l.sentMono); frozen > 0 {
			left -= frozen
		}
	}
	return l.epoch, left > 0, left
}

// Deadline is the monotonic moment the trust ends as Trusted counts it at
// now and boot: TrustUntil moved earlier by the boot time the monotonic
// clock missed since the renewal was sent (a suspend). The watchdog is
// armed with it (review item 7: a renewal sent before a suspend and
// committed after it armed the watchdog a suspend's length too late).
func (l *Lease) Deadline(now time.Time, boot time.Duration) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.trustUntil.IsZero() {
		return time.Time{}
	}
	until := l.trustUntil
	if boot > 0 && l.sentBoot > 0 {
		if frozen := (boot - l.sentBoot) - now.Sub(l.sentMono); frozen > 0 {
			until = until.Add(-frozen)
		}
	}
	return until
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
