package ha

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// stuckReplicaLoop runs n2's loop as a standby of n1, whose key n1 keeps
// renewing; n2's PostgreSQL runs in recovery and does not stream.
func stuckReplicaLoop(t *testing.T, problem StreamProblem) (*Loop, *fakeCluster, *fakePG, *fakeClock, func()) {
	t.Helper()
	c, clock := newFakeCluster(), &fakeClock{now: t0}
	ctx := context.Background()
	must := func(_ uint64, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Propose(ctx, fsm.SetConfig{Config: map[string]any{"loop_wait": 1, "ttl": 3, "retry_timeout": 1, "postgresql": map[string]any{"use_pg_rewind": true}}}))
	must(c.Propose(ctx, fsm.ClaimInitialize{Member: "n1"}))
	must(c.Propose(ctx, fsm.SetInitialize{Member: "n1", SystemID: "7001"}))
	must(c.Propose(ctx, fsm.AcquireLeader{Member: "n1", ExpectIndex: c.State().LeaderIndex, TTL: 3}))
	must(c.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "n1", Host: "127.0.0.1", Port: 5432, Role: fsm.RolePrimary, State: "running", Timeline: 2}}))
	epoch := c.State().Leader.Epoch
	renew := func() { must(c.Propose(ctx, fsm.RenewLeader{Member: "n1", Epoch: epoch, TTL: 3})) }
	pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, InRecovery: true, Timeline: 2,
		Following: "n1", StreamProblem: problem, StreamDetail: "requested WAL segment 000000020000000000000003 has already been removed"}}
	l := New(Config{Name: "n2", Clock: clock}, c, pg)
	return l, c, pg, clock, renew
}

// turnFor runs one loop turn per second of fake time for d.
func turnFor(t *testing.T, l *Loop, clock *fakeClock, renew func(), d time.Duration) {
	t.Helper()
	for end := clock.Now().Add(d); clock.Now().Before(end); clock.advance(time.Second) {
		renew()
		if _, err := l.turn(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoop_StandbyWhoseWALWasRemoved_IsMovedAsideAfterFiveTurnsAndSaysWhy(t *testing.T) {
	l, c, pg, clock, renew := stuckReplicaLoop(t, StreamWALRemoved)
	turnFor(t, l, clock, renew, 4*time.Second)
	if pg.called("move-aside") || pg.called("rewind") {
		t.Fatalf("repaired before five loop turns: %v", pg.calls)
	}
	if p := c.State().Members["n2"].Problem; !strings.Contains(p, "has already been removed") {
		t.Errorf("published problem %q; want the log line", p)
	}
	turnFor(t, l, clock, renew, 3*time.Second)
	if !pg.called("move-aside") || pg.called("rewind") {
		t.Fatalf("calls %v; want move-aside and no rewind (the primary removed the WAL)", pg.calls)
	}
}

func TestLoop_StandbyOnAnUnknownTimeline_IsRewoundOnceThenMovedAside(t *testing.T) {
	l, _, pg, clock, renew := stuckReplicaLoop(t, StreamTimeline)
	turnFor(t, l, clock, renew, 7*time.Second)
	if !pg.called("rewind") || pg.called("move-aside") {
		t.Fatalf("calls %v; want one rewind first", pg.calls)
	}
	// The fake rewind changed nothing: still not streaming, so the next
	// repair in this tenure moves the directory aside.
	turnFor(t, l, clock, renew, 7*time.Second)
	rewinds := 0
	for _, call := range pg.calls {
		if call == "rewind" {
			rewinds++
		}
	}
	if rewinds != 1 || !pg.called("move-aside") {
		t.Fatalf("calls %v; want exactly one rewind, then move-aside", pg.calls)
	}
}

func TestLoop_StandbyStreamingAgain_ClearsItsProblem(t *testing.T) {
	l, c, pg, clock, renew := stuckReplicaLoop(t, StreamWALRemoved)
	turnFor(t, l, clock, renew, 2*time.Second)
	pg.mu.Lock()
	pg.st.Streaming, pg.st.StreamProblem, pg.st.StreamDetail = true, StreamOK, ""
	pg.mu.Unlock()
	turnFor(t, l, clock, renew, 10*time.Second)
	if pg.called("move-aside") || pg.called("rewind") {
		t.Fatalf("a streaming standby was repaired: %v", pg.calls)
	}
	if p := c.State().Members["n2"].Problem; p != "" {
		t.Errorf("published problem %q after streaming again; want none", p)
	}
}

// unreachablePG's pg_rewind never reaches its source.
type unreachablePG struct{ *fakePG }

func (p unreachablePG) Rewind(context.Context, fsm.Member) error {
	p.record("rewind")
	return fmt.Errorf("rewind /data: %w", ErrRewindSourceUnreachable)
}

// A former primary sees a leader whose member record is stale (its host is
// down): pg_rewind cannot connect. That is no failed rewind, so the data
// directory is not moved aside; the rewind is tried again.
func TestLoop_RewindSourceUnreachable_RetriesInsteadOfMovingAside(t *testing.T) {
	_, c, pg, clock, renew := stuckReplicaLoop(t, StreamOK)
	pg.st.Running, pg.st.InRecovery, pg.st.Timeline = false, false, 1
	l := New(Config{Name: "n2", Clock: clock}, c, unreachablePG{pg})
	for i := 0; i < 3; i++ {
		renew()
		l.turn(context.Background())
		clock.advance(time.Second)
	}
	rewinds := 0
	for _, call := range pg.calls {
		if call == "rewind" {
			rewinds++
		}
	}
	if rewinds != 3 || pg.called("move-aside") {
		t.Fatalf("calls %v; want three rewind attempts and no move-aside", pg.calls)
	}
}

// setDynamic replaces the dynamic configuration of stuckReplicaLoop's
// cluster, with pause as given.
func setDynamic(t *testing.T, c *fakeCluster, pause bool) {
	t.Helper()
	if _, err := c.Propose(context.Background(), fsm.SetConfig{Config: map[string]any{"loop_wait": 1, "ttl": 3, "retry_timeout": 1, "pause": pause, "postgresql": map[string]any{"use_pg_rewind": true}}}); err != nil {
		t.Fatal(err)
	}
}

// Rule 5: time spent paused is not time the repair waited; the first turns
// after a resume must not move the directory aside on paused time.
func TestLoop_StuckStandby_PausedTimeDoesNotCountTowardsTheRepair(t *testing.T) {
	l, c, pg, clock, renew := stuckReplicaLoop(t, StreamWALRemoved)
	setDynamic(t, c, true)
	turnFor(t, l, clock, renew, 30*time.Second)
	if pg.called("move-aside") {
		t.Fatal("moved aside while paused")
	}
	setDynamic(t, c, false)
	turnFor(t, l, clock, renew, 4*time.Second)
	if pg.called("move-aside") {
		t.Fatalf("moved aside within four turns of the resume (the paused time counted): %v", pg.calls)
	}
	turnFor(t, l, clock, renew, 3*time.Second)
	if !pg.called("move-aside") {
		t.Fatalf("not repaired after five unpaused turns: %v", pg.calls)
	}
}

// A new leader is a new upstream: time spent not streaming from n1 (and
// n1's log lines) says nothing about n3.
func TestLoop_StuckStandby_NewLeaderStartsANewWindow(t *testing.T) {
	l, c, pg, clock, renew := stuckReplicaLoop(t, StreamWALRemoved)
	ctx := context.Background()
	turnFor(t, l, clock, renew, 4*time.Second)
	if _, err := c.Propose(ctx, fsm.ReleaseLeader{Member: "n1", Epoch: c.State().Leader.Epoch}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Propose(ctx, fsm.AcquireLeader{Member: "n3", ExpectIndex: c.State().LeaderIndex, TTL: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "n3", Host: "127.0.0.1", Port: 5434, Role: fsm.RolePrimary, State: "running", Timeline: 2}}); err != nil {
		t.Fatal(err)
	}
	pg.mu.Lock()
	pg.st.Following = "n3"
	pg.mu.Unlock()
	ep := c.State().Leader.Epoch
	renew3 := func() {
		if _, err := c.Propose(ctx, fsm.RenewLeader{Member: "n3", Epoch: ep, TTL: 3}); err != nil {
			t.Fatal(err)
		}
	}
	turnFor(t, l, clock, renew3, 4*time.Second)
	if pg.called("move-aside") {
		t.Fatalf("moved aside within four turns under the new leader n3 (time from n1's tenure counted): %v", pg.calls)
	}
	turnFor(t, l, clock, renew3, 3*time.Second)
	if !pg.called("move-aside") {
		t.Fatalf("not repaired after five turns under n3: %v", pg.calls)
	}
}

// A standby restoring from the WAL archive logs "has already been removed"
// on every walreceiver retry while its replay advances: that is progress,
// not a stuck standby.
func TestLoop_StuckStandby_ReplayingFromTheArchive_IsNotMovedAside(t *testing.T) {
	l, _, pg, clock, renew := stuckReplicaLoop(t, StreamWALRemoved)
	for i := 0; i < 10; i++ {
		pg.mu.Lock()
		pg.st.ReplayedLSN += 16 << 20 // one segment a second restored from the archive
		pg.mu.Unlock()
		turnFor(t, l, clock, renew, time.Second)
	}
	if pg.called("move-aside") {
		t.Fatalf("a standby whose replay advanced was moved aside: %v", pg.calls)
	}
	// Replay stops: a whole window without progress repairs it.
	turnFor(t, l, clock, renew, 4*time.Second)
	if pg.called("move-aside") {
		t.Fatalf("moved aside within four turns of the last progress: %v", pg.calls)
	}
	turnFor(t, l, clock, renew, 3*time.Second)
	if !pg.called("move-aside") {
		t.Fatalf("not repaired after five turns without progress: %v", pg.calls)
	}
}

// flakySourcePG's first pg_rewind loses its source (at connect or mid-run);
// later ones reach it. Rewind stops PostgreSQL, as the adapter's does.
type flakySourcePG struct {
	*fakePG
	failures int
}

func (p *flakySourcePG) Rewind(context.Context, fsm.Member) error {
	p.record("rewind")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.Running = false
	if p.failures > 0 {
		p.failures--
		return fmt.Errorf("rewind /data: server closed the connection unexpectedly: %w", ErrRewindSourceUnreachable)
	}
	return nil
}

func (p *flakySourcePG) Start(ctx context.Context, follow *fsm.Member) error {
	p.record("start")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.Running = true
	return nil
}

// A rewind whose source was lost did not get to a result: it must not use
// up the stuck repair's one rewind, and the (possibly partly rewritten)
// directory is rewound again before PostgreSQL starts.
func TestLoop_StuckRewind_LostSource_IsRewoundAgainBeforeStartingAndNotCounted(t *testing.T) {
	_, c, pg, clock, renew := stuckReplicaLoop(t, StreamTimeline)
	fpg := &flakySourcePG{fakePG: pg, failures: 1}
	l := New(Config{Name: "n2", Clock: clock}, c, fpg)
	turnFor(t, l, clock, renew, 6*time.Second)
	if !pg.called("rewind") {
		t.Fatalf("calls %v; want a rewind", pg.calls)
	}
	turnFor(t, l, clock, renew, time.Second)
	var afterFirst []string
	for i, call := range pg.calls {
		if call == "rewind" {
			afterFirst = pg.calls[i+1:]
			break
		}
	}
	if len(afterFirst) == 0 || afterFirst[0] != "rewind" {
		t.Fatalf("calls %v; want the next call after the lost rewind to be another rewind (not a start)", pg.calls)
	}
	if pg.called("move-aside") {
		t.Fatalf("calls %v; the lost rewind used up the one rewind", pg.calls)
	}
}

// A clone that did not cure the standby is not repeated in the same leader
// tenure: the node says so and waits for the operator.
func TestLoop_StuckStandby_IsMovedAsideAtMostOncePerLeaderTenure(t *testing.T) {
	l, c, pg, clock, renew := stuckReplicaLoop(t, StreamWALRemoved)
	turnFor(t, l, clock, renew, 30*time.Second)
	moves := 0
	for _, call := range pg.calls {
		if call == "move-aside" {
			moves++
		}
	}
	if moves != 1 {
		t.Fatalf("moved aside %d times in one leader tenure, want 1: %v", moves, pg.calls)
	}
	if p := c.State().Members["n2"].Problem; !strings.Contains(p, "reinitialize") {
		t.Errorf("published problem %q; want it to say the operator must reinitialize", p)
	}
}

// failingRewindPG's pg_rewind fails (not for a lost source) after stopping
// PostgreSQL, as the adapter's does.
type failingRewindPG struct{ *flakySourcePG }

func (p failingRewindPG) Rewind(context.Context, fsm.Member) error {
	p.record("rewind")
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.Running = false
	return errors.New("rewind /data: pg_rewind: exit status 1")
}

// A failed pg_rewind may have rewritten part of the directory: it is moved
// aside, never started as it is.
func TestLoop_StuckRewind_Failed_IsMovedAsideNotStarted(t *testing.T) {
	_, c, pg, clock, renew := stuckReplicaLoop(t, StreamTimeline)
	l := New(Config{Name: "n2", Clock: clock}, c, failingRewindPG{&flakySourcePG{fakePG: pg}})
	turnFor(t, l, clock, renew, 8*time.Second)
	// (The fake's directory stays after move-aside; a real one is gone and
	// gets cloned. Only the order up to the move matters here.)
	want := []string{"rewind", "move-aside"}
	if len(pg.calls) < 2 || !reflect.DeepEqual(pg.calls[:2], want) {
		t.Fatalf("calls %v; want rewind, then move-aside before any start", pg.calls)
	}
}
