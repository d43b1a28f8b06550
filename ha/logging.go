package ha

import (
	"errors"
	"regexp"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// The loop's log tells the whole story once (README "Log lines to alert
// on"): each decision that changes the plan's reason, each role change and
// each lease event is one line with a constant message and fixed keys
// (member, reason, leader, epoch, ttl, timeline); a steady state logs
// nothing per loop_wait, and a condition that persists (a failing step, a
// failing renewal) logs when it starts and when it ends. Nothing here feeds
// a decision.

// failRepeatEvery is how often a step that keeps failing the same way is
// logged again (with the count of failures since the last line).
const failRepeatEvery = 5 * time.Minute

// numbers matches a number that is not part of a name (a lag in bytes, an
// LSN, a count of seconds): decision lines whose reasons differ only there
// are one condition. "node1" keeps its digit: a letter precedes it.
var numbers = regexp.MustCompile(`(^|[^A-Za-z0-9_.-])[0-9][0-9A-Fa-f/.]*`)

// conditionKey is reason with its numbers masked.
func conditionKey(reason string) string {
	return numbers.ReplaceAllString(reason, "${1}#")
}

// stepError is a failed action of a plan ("renew: no quorum").
type stepError struct {
	Kind ActionKind
	Err  error
}

func (e *stepError) Error() string { return e.Kind.String() + ": " + e.Err.Error() }
func (e *stepError) Unwrap() error { return e.Err }

// logState is what was logged last (owned by the loop goroutine).
type logState struct {
	reason   string // the last plan's reason (ActRefuse returns it)
	decision string // conditionKey of the last plan logged at info
	// failing: the last turn's step failed; failKey and failAt say how it
	// was logged last (conditionKey of the error, when), failN how many
	// turns failed in a row.
	failing bool
	failKey string
	failAt  time.Time
	failN   int
}

// logDecision logs p at info when its condition (the plan: its steps, their
// targets and standby names, and its reason) differs from the last one
// logged, else at debug.
func (l *Loop) logDecision(p Plan) {
	l.logs.reason = p.Reason
	key := conditionKey(p.String())
	if key == l.logs.decision {
		l.log.Debug("decision", "member", l.cfg.Name, "reason", p.Reason, "plan", p.String())
		return
	}
	l.logs.decision = key
	l.log.Info("decision", "member", l.cfg.Name, "reason", p.Reason, "plan", p.String())
}

// logOutcome logs a turn's failed step: at error when it starts failing or
// fails differently, then at debug, again every failRepeatEvery; and once
// at info when the plan's steps succeed again.
func (l *Loop) logOutcome(p Plan, err error) {
	now := time.Now()
	if err == nil {
		if l.logs.failing {
			l.log.Info("steps succeed again", "member", l.cfg.Name, "plan", p.String(), "failures", l.logs.failN)
		}
		l.logs.failing, l.logs.failKey, l.logs.failN = false, "", 0
		return
	}
	key := conditionKey(err.Error()) // the same failure under a new plan is not news
	l.logs.failN++
	var se *stepError
	renewal := errors.As(err, &se) && se.Kind == ActRenew // noteRenewal logs it: "lease renewal failing"
	if renewal || l.logs.failing && key == l.logs.failKey && now.Sub(l.logs.failAt) < failRepeatEvery {
		l.log.Debug("action failed", "member", l.cfg.Name, "plan", p.String(), "error", err)
		l.logs.failing = true
		return
	}
	l.log.Error("action failed", "member", l.cfg.Name, "plan", p.String(), "error", err, "failures", l.logs.failN)
	l.logs.failing, l.logs.failKey, l.logs.failAt = true, key, now
}

// logStep logs the role change a successful action made. Promotion, the
// key taken or handed over, a move aside and a fence log where they happen
// (with what only they know: the new timeline, the epoch, the path).
func (l *Loop) logStep(o Observation, a Action, reason string) {
	name := l.cfg.Name
	switch a.Kind {
	case ActDemote:
		l.log.Info("demoted", "member", name, "leader", a.Target.Name, "timeline", o.PG.Timeline, "reason", reason)
	case ActFollow:
		l.log.Info("following a new leader", "member", name, "leader", a.Target.Name, "reason", reason)
	case ActStartReplica:
		l.log.Info("started as a replica", "member", name, "leader", a.Target.Name, "reason", reason)
	case ActRewind, ActStuckRewind:
		l.log.Info("rewound", "member", name, "leader", a.Target.Name, "timeline", a.Target.Timeline, "reason", reason)
	case ActClone:
		l.log.Info("cloned the data directory", "member", name, "source", a.Target.Name, "reason", reason)
	case ActRecoverPrimary:
		l.log.Info("started as primary in place", "member", name, "epoch", leaderEpoch(o), "reason", reason)
	case ActRecoverStandby:
		l.log.Info("started the leader's standby data to promote it", "member", name, "epoch", leaderEpoch(o), "reason", reason)
	case ActRelease:
		l.log.Info("gave the leader key back", "member", name, "epoch", leaderEpoch(o), "reason", reason)
	case ActRestart:
		l.log.Info("restarted in place", "member", name, "reason", reason)
	case ActReinit:
		l.log.Info("reinitialized", "member", name, "reason", reason)
	}
}

func leaderEpoch(o Observation) uint64 {
	if o.State.Leader == nil {
		return 0
	}
	return o.State.Leader.Epoch
}

// renewLog is the renewal side of the story (under Loop.renewMu): a
// failing renewal logs once when it starts failing and once when a renewal
// commits again; a key found taken logs once per tenure.
type renewLog struct {
	fails    int
	failedAt time.Time
}

// keyWatch notices a leader key this node held and no longer holds
// without giving it back (under Loop.mu): the renewer learns it from a
// refused renewal, the loop from the state; whichever sees it first logs.
type keyWatch struct {
	held      uint64 // tenure the last observed state named this node for
	logged    uint64 // tenure whose loss was logged
	givenBack uint64 // tenure this node released or handed over
}

// watchKey compares the observed state with the tenure held at the last
// observation (loop goroutine).
func (l *Loop) watchKey(st fsm.State) {
	var held uint64
	if st.Leader != nil && st.Leader.Member == l.cfg.Name {
		held = st.Leader.Epoch
	}
	l.mu.Lock()
	prev := l.keys.held
	l.keys.held = held
	l.mu.Unlock()
	if prev != 0 && held != prev {
		l.keyLost(prev, st.LeaderName(), nil)
	}
}

// keyLost logs once that the key of tenure epoch is no longer this node's
// (holder: who holds it now, if known), unless this node gave it back.
func (l *Loop) keyLost(epoch uint64, holder string, err error) {
	l.mu.Lock()
	skip := l.keys.logged == epoch || l.keys.givenBack == epoch
	l.keys.logged = epoch
	l.mu.Unlock()
	if skip {
		return
	}
	kv := []any{"member", l.cfg.Name, "epoch", epoch}
	if holder != "" {
		kv = append(kv, "holder", holder)
	}
	if err != nil {
		kv = append(kv, "error", err)
	}
	l.log.Error("leader key lost", kv...)
}

// keyGivenBack records that this node releases or hands over tenure epoch.
func (l *Loop) keyGivenBack(epoch uint64) {
	l.mu.Lock()
	l.keys.givenBack = epoch
	l.mu.Unlock()
}

// noteRenewal logs the outcome of one renewLease call (under renewMu).
func (l *Loop) noteRenewal(epoch uint64, ttl time.Duration, err error) {
	r := &l.renewLog
	switch {
	case err == nil:
		if r.fails > 0 {
			l.log.Info("lease renewed after failures", "member", l.cfg.Name, "epoch", epoch, "ttl", int(ttl/time.Second),
				"failures", r.fails, "failing_for", l.cfg.Clock.Now().Sub(r.failedAt).Round(time.Millisecond))
		}
		r.fails = 0
	case errors.Is(err, errNotHolder), errors.Is(err, errNotTrusted):
	case errors.Is(err, fsm.ErrNotLeaderHolder):
		l.keyLost(epoch, "", err)
		r.fails = 0
	default:
		if r.fails == 0 {
			r.failedAt = l.cfg.Clock.Now()
			l.log.Warn("lease renewal failing", "member", l.cfg.Name, "epoch", epoch, "ttl", int(ttl/time.Second), "error", err)
		}
		r.fails++
	}
}

// setFailsafeActive records whether this leader keeps its role through
// failsafe mode and logs the change (why: what ended or began it).
// A reason why failsafe did not hold is logged once (at warn) until Raft
// commits a renewal again, not at every attempt.
func (l *Loop) setFailsafeActive(on bool, why string) {
	l.mu.Lock()
	was := l.failsafeActive
	l.failsafeActive = on
	key := conditionKey(why)
	repeated := key == l.failsafeWhy
	l.failsafeWhy = key
	if why == failsafeRaftBack {
		l.failsafeWhy = ""
	}
	l.mu.Unlock()
	switch {
	case on && !was:
		l.log.Warn("failsafe mode entered", "member", l.cfg.Name, "reason", why)
	case !on && was:
		l.log.Warn("failsafe mode left", "member", l.cfg.Name, "reason", why)
	case on, why == failsafeRaftBack, repeated:
	default:
		l.log.Warn("failsafe mode refused", "member", l.cfg.Name, "reason", why)
	}
}

// failsafeRaftBack is why failsafe ends when Raft commits a renewal.
const failsafeRaftBack = "a renewal committed through Raft"
