package ha

import (
	"context"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// A clone (pg_basebackup, or a replica method such as a backup restore)
// can take far longer than a ttl. The loop publishes nothing while a step
// runs, so the copying member looked silent: `leave --evict` took it for
// gone after a ttl and the primary removed its record and slot after the
// member grace. So while the clone step runs this member reports itself as
// Patroni does, state "creating replica" (role uninitialized: the data
// directory is being replaced), at once and then every loop_wait.
//
// The state is no candidate, no synchronous standby and no clone source:
// those checks want "running" or "streaming". Ordering: the refresher only
// re-proposes the record it published first (UpdatedAt moved), and the
// step stops it and waits for its last proposal to return before the plan
// goes on, so the turn's own publish, with what PostgreSQL is after the
// clone, is proposed after every refresh.

// memberCreatingReplica is the member state while the data directory is
// copied (Patroni's name for it).
const memberCreatingReplica = "creating replica"

// cloneReportPoll is how often the refresher looks at the clock (l.cfg.Clock,
// so tests move it); it reports once a report period has passed on it.
const cloneReportPoll = 50 * time.Millisecond

// cloneReportEvery is the report period: loop_wait, at least a second.
func cloneReportEvery(c fsm.DynamicConfig) time.Duration {
	return max(time.Duration(c.LoopWait)*time.Second, time.Second)
}

// reportWhileCloning publishes this member as creating a replica when a is
// a clone and keeps the record fresh until the returned stop is called;
// stop returns once no refresh is in flight. For any other step both are
// no-ops.
//
// Publishing before the copy also lets the primary create this member's
// slot while the copy runs (its arrival wakes the primary, wakeFor), so the
// replica streams at its first attempt: without, its WAL receiver found no
// slot and waited wal_retrieve_retry_interval, 5 s, to try again.
func (l *Loop) reportWhileCloning(ctx context.Context, o Observation, p Plan, a Action) (stop func()) {
	if a.Kind != ActClone {
		return func() {}
	}
	m, _ := l.publishAs(ctx, o, PGStatus{DataDir: DataDirMissing}, p, fsm.RoleUninitialized, memberCreatingReplica) // refreshed below
	quit, done := make(chan struct{}), make(chan struct{})
	published := l.cfg.Clock.Now() // read here: a period counts from the publish, not from when the goroutine runs
	go func() {
		defer close(done)
		l.refreshWhileCloning(ctx, o, m, published, quit)
	}()
	return func() {
		close(quit)
		<-done
	}
}

// refreshWhileCloning re-proposes m, with UpdatedAt moved, every report
// period after last until quit is closed or ctx is done.
func (l *Loop) refreshWhileCloning(ctx context.Context, o Observation, m fsm.Member, last time.Time, quit <-chan struct{}) {
	every := cloneReportEvery(o.Config)
	poll := time.NewTicker(cloneReportPoll)
	defer poll.Stop()
	for {
		select {
		case <-quit:
			return
		case <-ctx.Done():
			return
		case <-poll.C:
		}
		if now := l.cfg.Clock.Now(); now.Sub(last) >= every {
			last = now
			m.UpdatedAt = time.Now().UTC()
			l.proposeRecord(ctx, o, m)
			l.mu.Lock()
			l.snap.AliveAt = time.Now()
			l.mu.Unlock()
		}
	}
}
