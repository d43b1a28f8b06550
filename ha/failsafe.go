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
// start read-only.

// Peers reaches the other members' REST APIs.
type Peers interface {
	// Failsafe sends the leader's heartbeat to every member in to; it
	// returns nil only if all of them accepted.
	Failsafe(ctx context.Context, self fsm.Member, to []fsm.Member) error
}

// ErrHoldsKey refuses a failsafe heartbeat on the member that holds the key.
var ErrHoldsKey = errors.New("this member holds the leader key")

// FailsafeHeartbeat records a heartbeat from leader (POST /failsafe).
func (l *Loop) FailsafeHeartbeat(leader string) error {
	if leader == l.cfg.Name {
		return fmt.Errorf("%w: a heartbeat from itself", ErrHoldsKey)
	}
	st := l.cluster.State()
	if st.Leader != nil && st.Leader.Member == l.cfg.Name {
		return ErrHoldsKey
	}
	now := l.cfg.Clock.Now()
	ttl := time.Duration(fsm.DefaultTTLSeconds) * time.Second
	if st.Leader != nil {
		ttl = time.Duration(st.Leader.TTL) * time.Second
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.acquiringAt.IsZero() && now.Sub(l.acquiringAt) < ttl {
		return errors.New("this member is taking over the leader key")
	}
	l.failsafeFrom, l.failsafeAt = leader, now
	return nil
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
	if !o.Config.FailsafeMode || l.cfg.Peers == nil || o.State.Leader == nil {
		return false
	}
	var others []fsm.Member
	for _, name := range o.State.MemberNames() {
		if name != o.Self {
			others = append(others, o.State.Members[name])
		}
	}
	sent := l.cfg.Clock.Now()
	fctx, cancel := context.WithTimeout(ctx, time.Duration(o.Config.RetryTimeout)*time.Second)
	defer cancel()
	if err := l.cfg.Peers.Failsafe(fctx, o.State.Members[o.Self], others); err != nil {
		l.log.Warn("failsafe: not every member accepted the heartbeat", "error", err)
		l.setFailsafeActive(false)
		return false
	}
	l.renewed(o.State.Leader.Epoch, sent, time.Duration(o.Config.TTL)*time.Second)
	if !l.failsafeActiveNow() {
		l.log.Warn("Raft unavailable: keeping the primary role in failsafe mode (every member accepted the heartbeat)")
	}
	l.setFailsafeActive(true)
	return true
}

func (l *Loop) setFailsafeActive(on bool) {
	l.mu.Lock()
	l.failsafeActive = on
	l.mu.Unlock()
}

func (l *Loop) failsafeActiveNow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failsafeActive
}
