package ha

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// slowClonePG is a fakePG whose Clone runs until release is closed, as a
// long pg_basebackup does, and then leaves a valid data directory.
type slowClonePG struct {
	*fakePG
	started chan struct{}
	release chan struct{}
}

func newSlowClonePG(st PGStatus) slowClonePG {
	return slowClonePG{fakePG: &fakePG{st: st}, started: make(chan struct{}), release: make(chan struct{})}
}

func (p slowClonePG) Clone(context.Context, fsm.Member) error {
	p.record("clone")
	close(p.started)
	<-p.release
	p.mu.Lock()
	p.st = PGStatus{DataDir: DataDirValid, SystemID: "7001", Timeline: 1, InRecovery: true}
	p.mu.Unlock()
	return nil
}

// clusterLedByN1 is an initialized cluster (loop_wait 10, ttl 30) whose
// leader n1 runs as primary.
func clusterLedByN1(t *testing.T) *fakeCluster {
	t.Helper()
	c := newFakeCluster()
	for _, cmd := range []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"loop_wait": 10, "ttl": 30, "retry_timeout": 10}},
		fsm.ClaimInitialize{Member: "n1"},
		fsm.SetInitialize{Member: "n1", SystemID: "7001"},
		fsm.AcquireLeader{Member: "n1", TTL: 30},
		fsm.UpsertMember{Member: fsm.Member{Name: "n1", Role: fsm.RolePrimary, State: "running", Host: "h1", Port: 5432, SystemID: "7001", Timeline: 1}},
	} {
		if _, err := c.Propose(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// nextReport waits until member name's record is newer than index.
func nextReport(t *testing.T, c *fakeCluster, name string, index uint64) fsm.Member {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		changed := c.Changed()
		if m := c.State().Members[name]; m.UpdatedIndex > index {
			return m
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s published nothing after index %d", name, index)
		}
	}
}

// A clone that takes several loop_waits (a new member's, and a
// reinitialize's) keeps the member's record fresh as "creating replica":
// as measured by another node (the eviction's and the grace's measure) it
// is never silent for a ttl. Once the clone returns, the turn's own
// publish follows, and nothing of the clone's reports comes after it.
func TestLoop_LongClone_ReportsCreatingReplicaEveryLoopWait_NeverSilentForATTL(t *testing.T) {
	streaming := PGStatus{DataDir: DataDirValid, SystemID: "7001", Timeline: 1, Running: true, InRecovery: true, Streaming: true, Following: "n1"}
	for _, tc := range []struct {
		name      string
		pg        PGStatus
		reinit    bool
		wantCalls string
	}{
		{"new member", PGStatus{DataDir: DataDirMissing}, false, "clone start"},
		{"reinitialize", streaming, true, "move-aside clone start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c, clock := clusterLedByN1(t), &fakeClock{now: t0}
			pg := newSlowClonePG(tc.pg)
			var release sync.Once
			t.Cleanup(func() { release.Do(func() { close(pg.release) }) })
			l := New(Config{Name: "n2", Clock: clock, Boottime: fakeBoottime(clock), Member: fsm.Member{Host: "h2", Port: 5432}}, c, pg)
			var reinit <-chan error
			if tc.reinit {
				reinit = request(t, l, func() error { return l.Reinitialize(ctx) })
			}
			turned := make(chan error, 1)
			go func() { _, err := l.turn(ctx); turned <- err }()
			select {
			case <-pg.started:
			case <-time.After(5 * time.Second):
				t.Fatal("the clone did not start")
			}

			m := c.State().Members["n2"]
			if m.State != memberCreatingReplica || m.Role != fsm.RoleUninitialized || m.WALPosition != 0 || m.SystemID != "" {
				t.Fatalf("record as the copy starts: %+v, want role uninitialized, state %q, no WAL position or system ID",
					m, memberCreatingReplica)
			}
			if s := l.Snapshot(); s.State != memberCreatingReplica {
				t.Errorf("snapshot state %q during the copy, want %q", s.State, memberCreatingReplica)
			}
			// The primary's view of n2's silence: each report noted as applied.
			aliveAtStart := l.Snapshot().AliveAt
			watch := NewMemberWatch(c.State(), clock.Now())
			ttl, loopWait := 30*time.Second, 10*time.Second
			for copied := loopWait; copied <= 2*ttl; copied += loopWait {
				clock.advance(loopWait)
				m = nextReport(t, c, "n2", m.UpdatedIndex)
				if m.State != memberCreatingReplica {
					t.Fatalf("after %s of copying: state %q, want %q", copied, m.State, memberCreatingReplica)
				}
				if s := watch.Silence(clock.Now())["n2"]; s >= ttl {
					t.Fatalf("after %s of copying n2 was silent for %s (ttl %s): it could be evicted", copied, s, ttl)
				}
				watch.Observe(c.State(), clock.Now())
			}
			// Every refresh but the last has returned: /liveness sees them.
			if !l.Snapshot().AliveAt.After(aliveAtStart) {
				t.Errorf("AliveAt stayed at %s through the copy: /liveness would call the agent hung", aliveAtStart)
			}

			release.Do(func() { close(pg.release) })
			if err := <-turned; err != nil {
				t.Fatalf("turn: %v", err)
			}
			if reinit != nil {
				if err := <-reinit; err != nil {
					t.Fatalf("reinitialize: %v", err)
				}
			}
			if got := strings.Join(pg.log(), " "); got != tc.wantCalls {
				t.Errorf("calls %q, want %q", got, tc.wantCalls)
			}
			st := c.State()
			m = st.Members["n2"]
			if m.Role != fsm.RoleReplica || m.State != "running" {
				t.Errorf("record after the clone: role %q state %q, want the replica's own report", m.Role, m.State)
			}
			if m.UpdatedIndex != st.Index {
				t.Errorf("n2's record is at index %d, the last entry at %d: something was proposed after the turn's publish",
					m.UpdatedIndex, st.Index)
			}
		})
	}
}
