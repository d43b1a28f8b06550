package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Failsafe mode (failsafe_mode: true), as in Patroni 3: when Raft cannot
// commit a renewal, the leader keeps its role only while every other member
// accepts its heartbeat through the REST API (POST /failsafe).
//
// Safety: a member that accepted a heartbeat from the key holder at time t
// (its own clock) does not take the key before t + ttl. The leader sent the
// heartbeats at s <= t and trusts its role only until s + ttl - FenceMargin,
// the same argument as for a Raft renewal (lease.go). A member that does not
// answer makes the leader fall back to the normal rule: stop trusting, fence,
// start read-only. A round with nobody to ask proves nothing and is not a
// success.
//
// The ttl is the key's (the last committed one, under the same ceilings as
// a Raft renewal, lease.go): the members count from the key they see, not
// from the dynamic configuration. The caller's snapshot of the key may be
// older than the last renewal committed (taken before renewMu was
// acquired: a ttl lowered by a PATCH and committed by the background
// renewer meanwhile), so the extension uses the lowest of that snapshot's
// ttl, the last committed renewal's and the unknown-outcome ceiling
// (Lease.FailsafeTTL). A member whose takeover could win the
// compare-and-swap has seen the last committed renewal, so it holds off for
// at least that ttl after the heartbeat.
//
// A member that joined after the holder was cut off is never asked: the
// members refuse a heartbeat that does not list a member their Raft
// read-index names (api.acceptFailsafe), and a member takes no key within a
// ttl of first seeing its own record (newMemberHoldoff; DESIGN "Failsafe
// mode").
//
// Accepting a heartbeat and starting a takeover are one step under Loop.mu
// (issue 6 item 8): FailsafeHeartbeat refuses once a takeover began
// (acquiringAt within ttl), and beginTakeover refuses while a heartbeat from
// the holder accepted within ttl is valid. Without that, a heartbeat
// accepted between Decide's look at FailsafeLeader and the AcquireLeader
// proposal let the old leader extend its trust while this node took the key.

// An AcquireLeader with an unknown outcome may commit long after it was
// sent (review item 5), and while the old holder could not renew, its
// compare-and-swap still matches. So a member keeps refusing heartbeats
// until the outcome of its takeover is definite: committed or refused, or
// the key seen to change since (then the CAS can never match). And as a
// second line, a member that accepted a heartbeat from another member at t
// neither promotes nor starts PostgreSQL as primary before t + the key's
// ttl as it saw it then (failsafeHoldoff), whatever its own lease says.

// takeover is the AcquireLeader this member sent whose outcome is not
// known yet (under Loop.mu).
type takeover struct {
	pending bool
	expect  uint64 // its ExpectIndex
}

// Peers reaches the other members' REST APIs.
type Peers interface {
	// Failsafe sends the leader's heartbeat to every member in to; it
	// returns nil only if all of them accepted.
	Failsafe(ctx context.Context, self fsm.Member, to []fsm.Member) error
}

// ErrHoldsKey refuses a failsafe heartbeat on the member that holds the key.
var ErrHoldsKey = errors.New("this member holds the leader key")

// CheckFailsafeSender is what every receiver of a failsafe heartbeat
// checks first, a database member or a witness: the sender must hold the
// leader key in the receiver's state (st), and the receiver must not.
func CheckFailsafeSender(st fsm.State, self, leader string) error {
	if leader == self {
		return fmt.Errorf("%w: a heartbeat from itself", ErrHoldsKey)
	}
	if st.Leader != nil && st.Leader.Member == self {
		return ErrHoldsKey
	}
	if st.Leader == nil || st.Leader.Member != leader {
		// This member's view names another holder (a newer tenure) or none:
		// the sender's view is stale, and accepting would let it stay
		// writable beside the holder this member knows (review item 10).
		return fmt.Errorf("%s does not hold the leader key here (holder: %q)", leader, st.LeaderName())
	}
	return nil
}

// FailsafeHeartbeat records a heartbeat from leader (POST /failsafe),
// decided on st: the state the API read for it, a Raft read-index when this
// member reaches a Raft leader, else its local state.
func (l *Loop) FailsafeHeartbeat(leader string, st fsm.State) error {
	if err := CheckFailsafeSender(st, l.cfg.Name, leader); err != nil {
		return err
	}
	now := l.cfg.Clock.Now()
	ttl := time.Duration(fsm.DefaultTTLSeconds) * time.Second
	if st.Leader != nil {
		ttl = time.Duration(st.Leader.TTL) * time.Second
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.takeover.pending && st.LeaderIndex != l.takeover.expect {
		l.takeover.pending = false // the key changed: that CAS can never match
	}
	if l.takeover.pending {
		return errors.New("this member's takeover of the leader key may still commit")
	}
	if !l.acquiringAt.IsZero() && now.Sub(l.acquiringAt) < ttl {
		return errors.New("this member is taking over the leader key")
	}
	l.failsafeFrom, l.failsafeAt, l.failsafeTTL = leader, now, ttl
	return nil
}

// takeoverDone records that the takeover's outcome is definite (err nil:
// committed; err with an Apply rejection code: refused).
func (l *Loop) takeoverDone(err error) {
	if err != nil && fsm.ErrorCode(err) == "" {
		return // unknown outcome: it may still commit
	}
	l.mu.Lock()
	l.takeover.pending = false
	l.mu.Unlock()
}

// failsafeHoldoff returns the member whose failsafe heartbeat this member
// accepted and how long that member may still trust it ("", 0: none): no
// promotion and no start as primary before then.
func (l *Loop) failsafeHoldoff() (string, time.Duration) {
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failsafeFrom == "" || l.failsafeFrom == l.cfg.Name {
		return "", 0
	}
	if left := l.failsafeAt.Add(l.failsafeTTL).Sub(now); left > 0 {
		return l.failsafeFrom, left
	}
	return "", 0
}

// beginTakeover is the other half of the atomic step: it refuses ("" =
// go ahead) while a failsafe heartbeat from the key holder accepted within
// the key's ttl is valid, and otherwise marks the takeover as begun, under
// the same lock FailsafeHeartbeat holds.
func (l *Loop) beginTakeover(o Observation) string {
	now := l.cfg.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev := o.State.Leader; prev != nil && l.failsafeFrom == prev.Member &&
		now.Sub(l.failsafeAt) < time.Duration(prev.TTL)*time.Second {
		l.holdoffEnds = l.failsafeAt.Add(time.Duration(prev.TTL) * time.Second)
		return fmt.Sprintf("a failsafe heartbeat from %s was accepted %v ago", prev.Member, now.Sub(l.failsafeAt))
	}
	if why := l.newMemberHoldoff(o, now); why != "" {
		if prev := o.State.Leader; !l.ownRecordSince.IsZero() {
			l.holdoffEnds = l.ownRecordSince.Add(time.Duration(prev.TTL) * time.Second)
		}
		return why
	}
	l.acquiringAt = now
	l.takeover = takeover{pending: true, expect: o.State.LeaderIndex}
	return ""
}

// untilHoldoffEnds is how long until the hold-off that last refused a
// takeover ends (<= 0: none pending).
func (l *Loop) untilHoldoffEnds() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holdoffEnds.IsZero() {
		return 0
	}
	return l.holdoffEnds.Sub(l.cfg.Clock.Now())
}

// newMemberHoldoff refuses a takeover from a holder within the key's ttl
// after this member first saw its own record ("" = go ahead; under Loop.mu).
// A holder cut off from Raft before the record committed does not know this
// member and cannot ask it: heartbeats it sent before the record committed
// give it trust for less than a ttl after that, and any later one is refused
// by every member whose read-index sees the record (api.acceptFailsafe).
// Whatever failsafe_mode says now: the holder may have extended its trust
// under an earlier value.
func (l *Loop) newMemberHoldoff(o Observation, now time.Time) string {
	prev := o.State.Leader
	if prev == nil || prev.Member == o.Self {
		return ""
	}
	ttl := time.Duration(prev.TTL) * time.Second
	if l.ownRecordSince.IsZero() {
		return "this member's record is not in the state yet"
	}
	if seen := now.Sub(l.ownRecordSince); seen < ttl {
		return fmt.Sprintf("this member's record was first seen %v ago, less than the key's ttl: %s may not have asked it for failsafe heartbeats", seen, prev.Member)
	}
	return ""
}

// ownRecordSince returns when self's record was first seen in the state:
// since if it was seen before and still is, now on its first sight, zero
// while it is absent (a record removed and added again counts anew).
func ownRecordSince(since time.Time, st fsm.State, self string, now time.Time) time.Time {
	if _, ok := st.Members[self]; !ok {
		return time.Time{}
	}
	if since.IsZero() {
		return now
	}
	return since
}

// failsafeLeader returns the member whose heartbeat arrived within ttl.
func (l *Loop) failsafeLeader(now time.Time, ttl time.Duration) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failsafeFrom != "" && now.Sub(l.failsafeAt) < ttl {
		return l.failsafeFrom
	}
	return ""
}

// failsafeRenew is tried when a Raft renewal failed: with every other
// member accepting the heartbeat, the lease is extended from the moment the
// heartbeats were sent.
func (l *Loop) failsafeRenew(ctx context.Context, o Observation) bool {
	if !o.Config.FailsafeMode || l.cfg.Peers == nil || o.State.Leader == nil || o.State.Leader.Member != o.Self {
		return false
	}
	// Ask every member named in o's state or in the freshest local state:
	// o may be a snapshot from before a member joined (review item 10).
	var others []fsm.Member
	asked := map[string]bool{o.Self: true}
	for _, st := range []fsm.State{l.cluster.State(), o.State} {
		for _, name := range st.MemberNames() {
			if !asked[name] {
				asked[name] = true
				others = append(others, st.Members[name])
			}
		}
	}
	if len(others) == 0 {
		l.setFailsafeActive(false, "no other member to ask")
		return false
	}
	gen, sent, sentBoot := l.lease.Gen(), l.cfg.Clock.Now(), l.cfg.Boottime()
	fctx, cancel := context.WithTimeout(ctx, time.Duration(o.Config.RetryTimeout)*time.Second)
	defer cancel()
	if err := l.cfg.Peers.Failsafe(fctx, o.State.Members[o.Self], others); err != nil {
		l.setFailsafeActive(false, "not every member accepted the heartbeat: "+err.Error())
		return false
	}
	// o may be a snapshot taken before renewMu was acquired, older than the
	// last committed renewal: count with the lowest ttl the members may
	// hold off for (Lease.FailsafeTTL), never o's key ttl alone.
	epoch := o.State.Leader.Epoch
	ttl := l.lease.FailsafeTTL(epoch, time.Duration(o.State.Leader.TTL)*time.Second)
	l.renewed(gen, epoch, sent, sentBoot, ttl)
	l.setFailsafeActive(true, "Raft unavailable; every member accepted the heartbeat") // logging.go
	return true
}
