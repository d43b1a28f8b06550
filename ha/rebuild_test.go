package ha

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// rebuildScenario: every agent restarted after all Raft data was deleted.
// n1 holds the former primary's data, stopped; n2 and n3 stopped standbys.
// The observation is n1's, a full ttl after it first saw the empty state.
func rebuildScenario() Observation {
	o := scenario()
	o.Self = "n1"
	o.State = fsm.State{Members: map[string]fsm.Member{}}
	for i, n := range []string{"n1", "n2", "n3"} {
		o.State.Members[n] = fsm.Member{Name: n, Role: fsm.RoleReplica, State: "stopped", Timeline: 3, WALPosition: 1000 - uint64(i), SystemID: "7000", RaftAddr: n + ":5010"}
	}
	o.AwaitedServers = []string{"n1:5010", "n2:5010", "n3:5010"}
	o.PG = PGStatus{DataDir: DataDirValid, SystemID: "7000", Timeline: 3, WALPosition: 1000}
	o.KeyChangedAt = o.Now.Add(-time.Duration(o.Config.TTL) * time.Second)
	return o
}

func TestDecide_Rebuild(t *testing.T) {
	cases := []struct {
		name   string
		modify func(o *Observation)
		want   []ActionKind
		reason string
	}{
		{"FormerPrimary_EveryoneReported_ResumesInPlace", func(o *Observation) {}, []ActionKind{ActAdoptData}, "resuming the stopped primary"},
		{"FormerPrimary_LessThanATTL_Waits", func(o *Observation) { o.KeyChangedAt = o.Now.Add(-time.Second) }, []ActionKind{ActWait}, "full ttl"},
		{"FormerPrimary_VoterNotReported_Waits", func(o *Observation) { delete(o.State.Members, "n3") }, []ActionKind{ActWait}, "n3:5010"},
		{"OlderFork_ReplicaOnLaterTimeline_Waits", func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.Timeline = 4 })
		}, []ActionKind{ActWait}, "n2 reported a later timeline"},
		{"StoppedMemberWithLaterCheckpoint_Waits", func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.WALPosition = 5000 })
		}, []ActionKind{ActWait}, "n2 reported a later timeline or more WAL"},
		{"RunningStandbyPastTheShutdownCheckpoint_DoesNotBlock", func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.WALPosition, m.State = 1100, "running" })
		}, []ActionKind{ActAdoptData}, "resuming"},
		{"RunningPrimaryElsewhere_Waits", func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.Role, m.State = fsm.RolePrimary, "running" })
		}, []ActionKind{ActWait}, "n2 reported a running primary"},
		{"MemberWithoutData_AnotherHoldsData_DoesNotBootstrap", func(o *Observation) {
			o.Self, o.PG = "n3", PGStatus{DataDir: DataDirMissing}
		}, []ActionKind{ActWait}, "n1, n2 reported a data directory"},
		{"MemberWithoutData_VoterNotReported_DoesNotBootstrap", func(o *Observation) {
			o.Self, o.PG = "n3", PGStatus{DataDir: DataDirMissing}
			o.State.Members = map[string]fsm.Member{"n3": {Name: "n3", RaftAddr: "n3:5010"}}
		}, []ActionKind{ActWait}, "n1:5010, n2:5010 to report"},
		{"MemberWithoutData_AnotherCannotReadItsData_DoesNotBootstrap", func(o *Observation) {
			o.Self, o.PG = "n3", PGStatus{DataDir: DataDirMissing}
			for _, n := range []string{"n1", "n2", "n3"} {
				o.State.Members[n] = fsm.Member{Name: n, RaftAddr: n + ":5010"}
			}
			setMember(o, "n1", func(m *fsm.Member) { m.DataUnknown = true })
		}, []ActionKind{ActWait}, "n1 (its data directory could not be read)"},
		{"FormerPrimary_AnotherCannotReadItsData_Waits", func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.DataUnknown, m.SystemID, m.Timeline, m.WALPosition = true, "", 0, 0 })
		}, []ActionKind{ActWait}, "n2 (its data directory could not be read)"},
		{"MemberWithoutData_EveryVoterReportedNoData_Bootstraps", func(o *Observation) {
			o.Self, o.PG = "n3", PGStatus{DataDir: DataDirMissing}
			for _, n := range []string{"n1", "n2", "n3"} {
				o.State.Members[n] = fsm.Member{Name: n, RaftAddr: n + ":5010"}
			}
		}, []ActionKind{ActBootstrap}, "bootstrapping"},
		{"StoppedStandby_SynchronousMode_NeverSeeds", func(o *Observation) {
			o.Self = "n2"
			o.Config.SynchronousMode = true
			o.PG.InRecovery = true
			o.PG.WALPosition = 2000
		}, []ActionKind{ActWait}, "never seeds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := rebuildScenario()
			tc.modify(&o)
			p := Decide(o)
			if got := p.Kinds(); !reflect.DeepEqual(got, tc.want) || !strings.Contains(p.Reason, tc.reason) {
				t.Errorf("plan %v (%s), want %v with %q", got, p.Reason, tc.want, tc.reason)
			}
		})
	}
}

// A stopped former primary must not resume while the Raft voters are
// unknown: with the voters' read failing from the start (no list read
// before), "every voter has reported" held for an empty list, so it seeded
// before n2, a voter whose data holds a later timeline, had said anything
// (n2 would then be rewound onto the older history: rule 2).
func TestLoop_Rebuild_VotersNeverRead_StoppedPrimaryDoesNotResume(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster()
	if _, err := c.Propose(ctx, fsm.SetConfig{Config: map[string]any{"ttl": 10, "loop_wait": 2, "retry_timeout": 2}}); err != nil {
		t.Fatal(err)
	}
	pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7000", Timeline: 3, WALPosition: 1000}}
	clock := &fakeClock{now: t0}
	voters := func(context.Context) ([]string, error) { return nil, errors.New("raft configuration: timed out") }
	l := New(Config{Name: "n1", Clock: clock, Member: fsm.Member{RaftAddr: "n1:5010"}, Boottime: noBoot, AwaitedServers: voters}, c, pg)
	for turn := 0; turn < 30; turn++ {
		if _, err := l.turn(ctx); err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		clock.advance(2 * time.Second)
	}
	if init := c.State().Initialize; init != nil {
		t.Fatalf("seeded the cluster (%+v) without knowing the Raft voters", init)
	}
}

// A member without a data directory must not initialize a new cluster
// while the state was emptied (every node's Raft data lost, or `conclave
// remove`) and another member's data is the cluster's: before, it claimed
// the initialize key at its first turn (the former primary waits a full
// ttl before resuming), ran initdb or the custom bootstrap, and took the
// key. With a backup restore the new primary has the old system identifier
// and a later timeline, so the former primary was then rewound onto it,
// losing every commit the backup lacked (rules 2 and 3).
func TestLoop_Rebuild_MemberWithoutData_DoesNotInitializeOverExistingData(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members map[string]fsm.Member // the records published since the state was emptied
	}{
		{"FormerPrimaryReported", map[string]fsm.Member{
			"n1": {Name: "n1", Role: fsm.RoleReplica, State: "stopped", Timeline: 3, WALPosition: 1000, SystemID: "7000", RaftAddr: "n1:5010"},
			"n2": {Name: "n2", Role: fsm.RoleReplica, State: "stopped", Timeline: 3, WALPosition: 900, SystemID: "7000", RaftAddr: "n2:5010"},
		}},
		{"NobodyReportedYet", map[string]fsm.Member{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := newFakeCluster()
			if _, err := c.Propose(ctx, fsm.SetConfig{Config: map[string]any{"ttl": 10, "loop_wait": 2, "retry_timeout": 2}}); err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.members {
				if _, err := c.Propose(ctx, fsm.UpsertMember{Member: m}); err != nil {
					t.Fatal(err)
				}
			}
			pg := &fakePG{st: PGStatus{DataDir: DataDirMissing}}
			clock := &fakeClock{now: t0}
			voters := func(context.Context) ([]string, error) { return []string{"n1:5010", "n2:5010", "n3:5010"}, nil }
			l := New(Config{Name: "n3", Clock: clock, Member: fsm.Member{RaftAddr: "n3:5010"}, Boottime: noBoot, AwaitedServers: voters}, c, pg)
			for turn := 0; turn < 30; turn++ {
				if _, err := l.turn(ctx); err != nil {
					t.Fatalf("turn %d: %v", turn, err)
				}
				clock.advance(2 * time.Second)
			}
			if pg.called("bootstrap") {
				t.Fatalf("initialized a new cluster (initialize key %+v) while n1 and n2 hold, or may hold, the cluster's data", c.State().Initialize)
			}
			if init := c.State().Initialize; init != nil {
				t.Fatalf("claimed the initialize key (%+v) without data", init)
			}
		})
	}
}

// While nobody took the key yet, the first report of a voter is what the
// takeover, the resume and the bootstrap wait for: it wakes the loop, so a
// fresh cluster does not wait a loop_wait for its bootstrap.
func TestWakeFor_NoKeyYet_FirstReportsWake(t *testing.T) {
	base := fsm.State{Members: map[string]fsm.Member{"n1": {Name: "n1", RaftAddr: "n1:5010"}}}
	cases := []struct {
		name string
		edit func(s *fsm.State)
		want bool
	}{
		{"a voter's first report", func(s *fsm.State) { s.Members["n2"] = fsm.Member{Name: "n2", RaftAddr: "n2:5010"} }, true},
		{"a data directory reported", func(s *fsm.State) { m := s.Members["n1"]; m.SystemID = "7000"; s.Members["n1"] = m }, true},
		{"a report without news", func(s *fsm.State) { m := s.Members["n1"]; m.WALPosition++; s.Members["n1"] = m }, false},
		// A new member wakes the primary at any time (it makes the slot).
		{"a new member once a key was taken", func(s *fsm.State) {
			s.LeaderIndex = 5
			s.Members["n2"] = fsm.Member{Name: "n2", RaftAddr: "n2:5010"}
		}, true},
		{"a data directory reported once a key was taken", func(s *fsm.State) {
			s.LeaderIndex = 5
			m := s.Members["n1"]
			m.SystemID = "7000"
			s.Members["n1"] = m
		}, false},
	}
	for _, tc := range cases {
		cur := base.Clone()
		tc.edit(&cur)
		if got := wakeFor(base, cur); got != tc.want {
			t.Errorf("%s: wakeFor = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A member whose data directory cannot be read says so in its record: a
// record without a system identifier would count as "holds no data", and
// another member without data would bootstrap over the cluster's.
func TestLoop_DataDirectoryUnreadable_RecordSaysDataUnknown(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster()
	pg := &fakePG{st: PGStatus{DataDir: DataDirUnknown, Err: errors.New("open /var/lib/postgresql/15/main: permission denied")}}
	l := New(Config{Name: "n1", Clock: &fakeClock{now: t0}, Member: fsm.Member{RaftAddr: "n1:5010"}, Boottime: noBoot}, c, pg)
	if _, err := l.turn(ctx); err != nil {
		t.Fatal(err)
	}
	m := c.State().Members["n1"]
	if !m.DataUnknown || !strings.Contains(m.Problem, "permission denied") {
		t.Fatalf("record %+v: want data_unknown and the error as its problem", m)
	}
	if init := c.State().Initialize; init != nil {
		t.Fatalf("claimed the initialize key (%+v) without knowing its data", init)
	}
}

// bootstrapLeavesData is a PostgreSQL whose bootstrap fails after initdb
// (the server did not start), leaving the new cluster's data behind.
type bootstrapLeavesData struct{ *fakePG }

func (p bootstrapLeavesData) Bootstrap(context.Context) (string, error) {
	p.record("bootstrap")
	p.mu.Lock()
	p.st = PGStatus{DataDir: DataDirValid, SystemID: "7001", Timeline: 1}
	p.mu.Unlock()
	return "", errors.New("pg_ctl start: server did not start in time")
}

// abortWatch checks what the state shows when the claim is given back.
type abortWatch struct {
	*fakeCluster
	shownAtAbort *fsm.Member
	failRecords  bool // member records fail to commit (no quorum)
}

func (c *abortWatch) Propose(ctx context.Context, cmd fsm.Command) (uint64, error) {
	switch cmd.(type) {
	case fsm.AbortInitialize:
		m := c.State().Members["n1"]
		c.shownAtAbort = &m
	case fsm.UpsertMember:
		if c.failRecords {
			return 0, errors.New("propose: no raft leader")
		}
	}
	return c.fakeCluster.Propose(ctx, cmd)
}

// A failed bootstrap that left data gives its initialize claim back only
// once its record shows that data: before, another member without data
// could claim and initialize a second cluster in between.
func TestLoop_FailedBootstrapLeavingData_ReportsItBeforeGivingTheClaimBack(t *testing.T) {
	ctx := context.Background()
	c := &abortWatch{fakeCluster: newFakeCluster()}
	pg := bootstrapLeavesData{&fakePG{st: PGStatus{DataDir: DataDirMissing}}}
	l := New(Config{Name: "n1", Clock: &fakeClock{now: t0}, Member: fsm.Member{RaftAddr: "n1:5010"}, Boottime: noBoot}, c, pg)
	_, _ = l.turn(ctx) // the bootstrap fails
	if !pg.called("bootstrap") {
		t.Fatal("setup: no bootstrap was tried")
	}
	if c.shownAtAbort == nil {
		t.Fatal("the claim was not given back")
	}
	if c.shownAtAbort.SystemID != "7001" {
		t.Fatalf("when the claim was given back the record showed %+v; want the data left behind (system identifier 7001)", *c.shownAtAbort)
	}
}

// When the record showing the data cannot be committed, the claim is kept:
// given back, another member would see no data here and initialize.
func TestLoop_FailedBootstrapLeavingData_RecordNotCommitted_KeepsTheClaim(t *testing.T) {
	ctx := context.Background()
	c := &abortWatch{fakeCluster: newFakeCluster(), failRecords: true}
	pg := bootstrapLeavesData{&fakePG{st: PGStatus{DataDir: DataDirMissing}}}
	l := New(Config{Name: "n1", Clock: &fakeClock{now: t0}, Member: fsm.Member{RaftAddr: "n1:5010"}, Boottime: noBoot}, c, pg)
	_, _ = l.turn(ctx) // the bootstrap fails
	if !pg.called("bootstrap") {
		t.Fatal("setup: no bootstrap was tried")
	}
	if c.shownAtAbort != nil {
		t.Fatal("the claim was given back although the record showing the data left behind did not commit")
	}
	if init := c.State().Initialize; init == nil || init.Member != "n1" {
		t.Fatalf("initialize %+v, want n1's claim kept", init)
	}
}
