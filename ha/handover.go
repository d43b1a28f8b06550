package ha

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// pendingFailed remembers the request (by its RequestedAt) this holder
// failed to carry out, so the next turn cancels it rather than stopping
// PostgreSQL again and again (under Loop.mu).
type pendingFailed struct{ requestedAt time.Time }

func (f *pendingFailed) fail(p *fsm.Pending) {
	if p != nil {
		f.requestedAt = p.RequestedAt
	}
}

func (f pendingFailed) failed(p *fsm.Pending) bool {
	return p != nil && !p.HandedOver() && !f.requestedAt.IsZero() && p.RequestedAt.Equal(f.requestedAt)
}

// pendingDue remembers, for the pending request, when this node as the
// key holder running its primary first found it due (its own clock), and
// which members it saw without a streaming row in pg_stat_replication since
// (under Loop.mu).
type pendingDue struct {
	requestedAt, since time.Time
	unconnected        map[string]bool
}

// observe returns when p first became due while this node could carry it
// out (zero when none is, or not yet) and the members seen unconnected
// since; canAct: this node holds the key and its PostgreSQL runs as
// primary. A failed read (pgs.Err) lists no rows, which is not "seen
// unconnected", but the wait starts all the same: the turn woken by a new
// request is the one a loaded primary can fail to answer, and an unstarted
// wait would cancel the request at once.
func (d *pendingDue) observe(p *fsm.Pending, st fsm.State, self string, pgs PGStatus, canAct bool, now time.Time) (time.Time, map[string]bool) {
	if p == nil || p.HandedOver() || !p.Due(now.UnixNano()) {
		*d = pendingDue{}
		return time.Time{}, nil
	}
	if !d.requestedAt.Equal(p.RequestedAt) {
		*d = pendingDue{requestedAt: p.RequestedAt}
	}
	if !canAct {
		return d.since, maps.Clone(d.unconnected)
	}
	if d.since.IsZero() {
		d.since, d.unconnected = now, map[string]bool{}
	}
	if pgs.Err != nil {
		return d.since, maps.Clone(d.unconnected)
	}
	for name := range st.Members {
		if name != self && !streamingFrom(Observation{PG: pgs}, name) {
			d.unconnected[name] = true
		}
	}
	return d.since, maps.Clone(d.unconnected)
}

// changedAt is when this node first saw the leader key at index (zero if
// the key has moved on since, or was never observed).
func (l *Lease) changedAt(index uint64) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen || l.lastIndex != index {
		return time.Time{}
	}
	return l.observedAt
}

// wakeFor reports whether the change from prev to cur concerns the HA loop
// at once: the key taken, released or handed over (not a mere renewal),
// a switchover or failover requested or cleared, the dynamic configuration
// changed (pause, resume), the leader's own record changed its role,
// state, timeline or address (a new primary is running: follow it now), a
// member appeared or went away (the primary creates or drops its slot at
// once: a joining node reports before its copy starts, and its WAL receiver
// finds the slot when the copy ends however short it is), or, while nobody
// took the key yet, a member reported another system identifier.
// Member reports of replicas and renewals do not wake anybody, so the wake
// rate stays that of real events.
func wakeFor(prev, cur fsm.State) bool {
	if prev.LeaderName() != cur.LeaderName() || (prev.Leader != nil && cur.Leader != nil && prev.Leader.Epoch != cur.Leader.Epoch) {
		return true
	}
	if !reflect.DeepEqual(prev.Pending, cur.Pending) || prev.ConfigIndex != cur.ConfigIndex {
		return true
	}
	if len(prev.Members) != len(cur.Members) {
		return true
	}
	for n, m := range cur.Members {
		old, ok := prev.Members[n]
		if !ok {
			return true
		}
		// Nobody took the key yet: the takeover, the resume and the
		// bootstrap wait for every Raft server's first report (takeover.go,
		// rebuild.go), so a newly reported data directory is worth a turn
		// now rather than a loop_wait later.
		if cur.LeaderIndex == 0 && old.SystemID != m.SystemID {
			return true
		}
	}
	name := cur.LeaderName()
	if name == "" {
		return false
	}
	a, b := prev.Members[name], cur.Members[name]
	return a.Role != b.Role || a.State != b.State || a.Timeline != b.Timeline || a.Host != b.Host || a.Port != b.Port
}

// handOver carries out a planned switchover on the key holder: clean stop,
// HandOver with the shutdown checkpoint's LSN, then start as a standby of
// the candidate. Any failure before the HandOver committed leaves this node
// the holder with PostgreSQL stopped: the next turn restarts it in place
// (recover-primary: a compare-and-swap renewal first, so a HandOver whose
// outcome was unknown can never commit after it) and cancels the request.
func (l *Loop) handOver(ctx context.Context, o Observation, target fsm.Member) error {
	p := o.State.Pending
	fail := func(err error) error {
		l.mu.Lock()
		l.pendingFailed.fail(p)
		l.mu.Unlock()
		return err
	}
	stopper, ok := l.pg.(HandOverStopper)
	if !ok {
		return fail(errors.New("hand-over: this PostgreSQL adapter cannot stop for a hand-over"))
	}
	if !l.trusted() {
		return fail(errors.New("hand-over: lease not trusted"))
	}
	if err := l.withdrawEndpoint(ctx); err != nil {
		return fail(fmt.Errorf("hand-over: %w", err))
	}
	l.log.Info("switchover: stopping PostgreSQL cleanly", "member", o.Self, "candidate", target.Name, "kind", p.Kind)
	// From here PostgreSQL refuses connections: /primary answers 503 and
	// the floating IP goes (PrimaryUntil) now, not once the HandOver
	// committed, so the candidate never adds the address while this node
	// still holds it (rule 6; the next publish shows the real state).
	l.mu.Lock()
	l.snap.State, l.snap.PG.Running = memberStopping, false
	l.mu.Unlock()
	lsn, err := stopper.StopForHandOver(ctx)
	if err != nil {
		return fail(fmt.Errorf("hand-over: clean shutdown: %w", err))
	}
	idx, err := l.proposeHandOver(ctx, o, target.Name, lsn, p.Kind)
	if err != nil {
		return fail(fmt.Errorf("hand-over to %s: %w", target.Name, err))
	}
	l.dropLease()
	l.log.Info("handed the leader key over", "member", o.Self, "candidate", target.Name, "epoch", o.State.Leader.Epoch, "lsn", formatLSN(lsn), "index", idx)
	// Read-only from here; a primary shut down cleanly before the candidate
	// promotes follows its new timeline without pg_rewind.
	if err := l.pg.Start(ctx, &target); err != nil {
		return fmt.Errorf("starting as a standby of %s after the hand-over: %w", target.Name, err)
	}
	return nil
}

// proposeHandOver proposes HandOver as a compare-and-swap on the key's
// index, under renewMu so no renewal of this node is in flight meanwhile.
func (l *Loop) proposeHandOver(ctx context.Context, o Observation, candidate string, lsn uint64, kind string) (uint64, error) {
	l.renewMu.Lock()
	defer l.renewMu.Unlock()
	st := l.cluster.State()
	if st.Leader == nil || o.State.Leader == nil || st.Leader.Member != l.cfg.Name || st.Leader.Epoch != o.State.Leader.Epoch {
		return 0, errNotHolder
	}
	// Decide read the gate before the clean shutdown, which can take many
	// seconds: a Raft server that joined meanwhile with an older agent
	// would stop at command 19 (and at every restart until upgraded).
	if !l.supports(st, fsm.ProtocolHandOver) {
		return 0, fmt.Errorf("a Raft server or member does not apply the hand-over (protocol level %d) any more", fsm.ProtocolHandOver)
	}
	for tries := 0; ; tries++ {
		expect := l.renewExpectIndex(st)
		l.keyGivenBack(st.Leader.Epoch)
		idx, err := l.propose(ctx, o, fsm.HandOver{Member: l.cfg.Name, Epoch: st.Leader.Epoch, ExpectIndex: expect,
			Candidate: candidate, CheckpointLSN: lsn, Kind: kind})
		if errors.Is(err, fsm.ErrLeaderChanged) && tries < 3 && l.renewExpectIndex(st) != expect {
			continue // a renewal of ours committed meanwhile: on the newer index
		}
		return idx, err
	}
}
