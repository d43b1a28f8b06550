package ha

import (
	"context"
	"reflect"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

// syncScenario is leader n1 in synchronous mode with n2 and n3 streaming.
func syncScenario() Observation {
	o := scenario()
	o.Self = "n1"
	o.Lease = LeaseView{Held: true, Valid: true}
	o.Config.SynchronousMode = true
	o.Config.UseSlots = false
	o.PG = PGStatus{DataDir: DataDirValid, SystemID: "7000", Running: true, Timeline: 1, WALPosition: 1000,
		Replicas: []Replica{{Name: "n2", State: "streaming", SyncState: "async"}, {Name: "n3", State: "streaming", SyncState: "async"}}}
	o.State.Sync = fsm.Sync{Leader: "n1"}
	return o
}

func TestSyncStep(t *testing.T) {
	cases := []struct {
		name   string
		modify func(o *Observation)
		kind   ActionKind
		names  []string
	}{
		{"NewTenure_RecordsEmptySetFirst", func(o *Observation) {
			o.State.Sync = fsm.Sync{Leader: "n0", Members: []string{"n1"}}
		}, ActSetSync, nil},
		{"NoStandbyConfigured_AddsOneToPostgresFirst", func(o *Observation) {}, ActSetSyncStandbys, []string{"n2"}},
		{"ConfiguredButNotConfirmed_Waits", func(o *Observation) {
			o.PG.SyncStandbys = []string{"n2"}
		}, ActWait, nil},
		{"ConfirmedSync_IsRecorded", func(o *Observation) {
			o.PG.SyncStandbys = []string{"n2"}
			o.SyncAddedAt = map[string]uint64{"n2": 1000}
			o.PG.Replicas[0].SyncState = "sync"
			o.PG.Replicas[0].FlushLSN = 1000
		}, ActSetSync, []string{"n2"}},
		{"SyncButAddedAtUnknown_NotRecordedYet", func(o *Observation) {
			// Not yet seen in effect (or the agent restarted): no position
			// to compare with, so not recorded, however far it flushed.
			o.PG.SyncStandbys = []string{"n2"}
			o.PG.Replicas[0].SyncState = "sync"
			o.PG.Replicas[0].FlushLSN = 5000
		}, ActWait, nil},
		{"SyncButBehindWhereItWasAdded_NotRecordedYet", func(o *Observation) {
			o.PG.SyncStandbys = []string{"n2"}
			o.PG.WALPosition = 2000
			o.SyncAddedAt = map[string]uint64{"n2": 1500}
			o.PG.Replicas[0].SyncState = "sync"
			o.PG.Replicas[0].FlushLSN = 1400
		}, ActWait, nil},
		{"SyncPastWhereItWasAdded_Recorded", func(o *Observation) {
			o.PG.SyncStandbys = []string{"n2"}
			o.PG.WALPosition = 2000
			o.SyncAddedAt = map[string]uint64{"n2": 1500}
			o.PG.Replicas[0].SyncState = "sync"
			o.PG.Replicas[0].FlushLSN = 1500
		}, ActSetSync, []string{"n2"}},
		{"RecordedStandbyGone_DroppedFromStateBeforePostgres", func(o *Observation) {
			o.State.Sync.Members = []string{"n2"}
			o.PG.SyncStandbys = []string{"n2"}
			delete(o.LiveMembers, "n2")
		}, ActSetSync, []string{}},
		{"DroppedFromState_ThenFromPostgres", func(o *Observation) {
			o.PG.SyncStandbys = []string{"n2"}
			delete(o.LiveMembers, "n2")
			o.PG.Replicas = o.PG.Replicas[1:]
		}, ActSetSyncStandbys, []string{}},
		{"NoSyncTag_NeverChosen", func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.Tags = map[string]any{"nosync": true} })
		}, ActSetSyncStandbys, []string{"n3"}},
		{"TwoStandbysWanted_AddsBoth", func(o *Observation) {
			o.Config.SynchronousNodeCount = 2
		}, ActSetSyncStandbys, []string{"n2", "n3"}},
		{"StrictWithoutStandby_WaitsForAny", func(o *Observation) {
			o.Config.SynchronousModeStrict = true
			delete(o.LiveMembers, "n2")
			delete(o.LiveMembers, "n3")
		}, ActSetSyncStandbys, nil},
		{"RecordedStandbyHealthy_OtherReplicaReturns_Kept", func(o *Observation) {
			// F25: n3 took over while n2 was away; n2 (first by name) is back.
			o.State.Sync.Members = []string{"n3"}
			o.PG.SyncStandbys = []string{"n3"}
			o.PG.Replicas[1].SyncState = "sync"
		}, ActWait, nil},
		{"StandbyBeingAdded_OtherReplicaReturns_KeptInPostgres", func(o *Observation) {
			// n3 is listed and not yet recorded (still catching up) when n2
			// comes back: n3 stays, n2 does not displace it.
			o.PG.SyncStandbys = []string{"n3"}
			o.SyncAddedAt = map[string]uint64{"n3": 1000}
			o.PG.Replicas[1].SyncState = "sync"
			o.PG.Replicas[1].FlushLSN = 900
		}, ActWait, nil},
		{"SteadyState_NothingToDo", func(o *Observation) {
			o.State.Sync.Members = []string{"n2"}
			o.PG.SyncStandbys = []string{"n2"}
			o.PG.Replicas[0].SyncState = "sync"
		}, ActWait, nil},
		{"ModeOff_ClearsStateFirst", func(o *Observation) {
			o.Config.SynchronousMode = false
			o.State.Sync.Members = []string{"n2"}
			o.PG.SyncStandbys = []string{"n2"}
		}, ActSetSync, nil},
		{"ModeOff_ThenClearsPostgres", func(o *Observation) {
			o.Config.SynchronousMode = false
			o.PG.SyncStandbys = []string{"n2"}
		}, ActSetSyncStandbys, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := syncScenario()
			tc.modify(&o)
			a, why := syncStep(o)
			if tc.kind == ActWait {
				if a != nil {
					t.Fatalf("got %v %v (%s), want nothing", a.Kind, a.Names, why)
				}
				return
			}
			if a == nil {
				t.Fatalf("got nothing, want %v %v", tc.kind, tc.names)
			}
			if a.Kind != tc.kind || (tc.names != nil && !reflect.DeepEqual(a.Names, tc.names)) || (tc.names == nil && len(a.Names) != 0) {
				t.Fatalf("got %v %v (%s), want %v %v", a.Kind, a.Names, why, tc.kind, tc.names)
			}
		})
	}
}

// The recorded choice survives the return of any replica at any turn of a
// swap: once n3 is recorded or listed, n2 coming back changes nothing.
func TestSyncStep_ReturningReplica_NeverDisplacesTheCurrentOne(t *testing.T) {
	for _, o := range []Observation{
		func() Observation { // n3 recorded
			o := syncScenario()
			o.State.Sync.Members, o.PG.SyncStandbys = []string{"n3"}, []string{"n3"}
			return o
		}(),
		func() Observation { // n3 listed, not recorded
			o := syncScenario()
			o.PG.SyncStandbys = []string{"n3"}
			return o
		}(),
	} {
		for turn := 0; turn < 5; turn++ {
			if want := pickSync(o); !reflect.DeepEqual(want, []string{"n3"}) {
				t.Fatalf("turn %d: pickSync = %v with n3 current, want [n3]", turn, want)
			}
			a, why := syncStep(o)
			if a != nil && !contains(a.Names, "n3") {
				t.Fatalf("turn %d: %v %v (%s) drops n3", turn, a.Kind, a.Names, why)
			}
		}
	}
}

func TestSyncAdded_PositionIsReadAfterTheNameWasSeenInEffect(t *testing.T) {
	var tr syncAdded
	primary := func(wal uint64, names ...string) PGStatus {
		return PGStatus{Running: true, WALPosition: wal, SyncStandbys: names}
	}
	tr.observed(primary(100, "n2")) // the SHOW of this observation ran after its WAL read
	if _, ok := tr.positions()["n2"]; ok {
		t.Fatalf("position taken from the observation that first showed n2: %v", tr.positions())
	}
	tr.observed(primary(250, "n2"))
	if got := tr.positions()["n2"]; got != 250 {
		t.Fatalf("position %d, want 250 (read after the SHOW that listed n2)", got)
	}
	tr.observed(primary(400, "n2"))
	if got := tr.positions()["n2"]; got != 250 {
		t.Fatalf("position moved to %d, want it kept at 250", got)
	}
	tr.inEffect([]string{"n3"}) // SetSyncStandbys returned after its SHOW
	tr.observed(primary(500, "n2", "n3"))
	if got := tr.positions(); got["n3"] != 500 || got["n2"] != 250 {
		t.Fatalf("positions %v, want n2 250 and n3 500", got)
	}
	tr.observed(primary(600, "n3")) // n2 dropped: forgotten, re-adding starts over
	tr.observed(primary(700, "n2", "n3"))
	if got := tr.positions(); got["n3"] != 500 || len(got) != 1 {
		t.Fatalf("positions %v, want only n3 500", got)
	}
	tr.observed(PGStatus{}) // stopped: nothing is known after a restart
	if got := tr.positions(); len(got) != 0 {
		t.Fatalf("positions %v after a stop, want none", got)
	}
}

// simPG is a primary with two standbys whose WAL moves on while the loop
// works: writes arrive every tick, standbys flush at their own pace, and a
// reload takes effect only after some more commits were acknowledged under
// the old synchronous_standby_names. It tracks the highest acknowledged
// commit, so a test can check rule 2 against what a client was told.
type simPG struct {
	*fakePG
	wal      uint64
	flush    map[string]uint64
	up       map[string]bool // streaming to the primary
	inEffect []string        // synchronous_standby_names PostgreSQL uses
	acked    uint64          // highest commit acknowledged to a client
}

// tick: clients write 20 bytes; standbys flush up to 30 more; commits are
// acknowledged up to what every standby in effect flushed (all of them
// when none is listed).
func (p *simPG) tick() {
	p.wal += 20
	for n := range p.flush {
		if p.up[n] {
			p.flush[n] = min(p.wal, p.flush[n]+30)
		}
	}
	p.ack()
}

func (p *simPG) ack() {
	limit := p.wal
	for _, n := range p.inEffect {
		limit = min(limit, p.flush[n])
	}
	p.acked = max(p.acked, limit)
}

func (p *simPG) Observe(context.Context) PGStatus {
	st := PGStatus{DataDir: DataDirValid, SystemID: "7000", Running: true, Timeline: 1, WALPosition: p.wal,
		SyncStandbys: append([]string(nil), p.inEffect...)}
	for _, n := range []string{"n2", "n3"} {
		if !p.up[n] {
			continue
		}
		ss := "async"
		if contains(p.inEffect, n) {
			ss = "sync"
		}
		st.Replicas = append(st.Replicas, Replica{Name: n, State: "streaming", SyncState: ss, FlushLSN: p.flush[n]})
	}
	return st
}

// SetSyncStandbys: more commits are acknowledged under the old setting
// before the reload takes effect; it returns once the new one is in effect.
func (p *simPG) SetSyncStandbys(_ context.Context, names []string, _ bool) error {
	p.wal += 50
	p.ack()
	p.inEffect = append([]string(nil), names...)
	return nil
}

// Rule 2 through the real loop code (observe, syncStep, execute, Apply):
// the synchronous standby n2 dies and n3, which is behind, takes its place.
// n3 shows "sync" as soon as it is listed, yet it must not be recorded
// before it flushed past the position read once PostgreSQL waited for it;
// at every turn every recorded standby is one PostgreSQL waits for and
// holds every acknowledged commit (the walk of the former swap test, with
// a standby that no longer confirms at once).
func TestSync_SwapToALaggingStandby_RecordsItOnlyOnceItHoldsEveryAcknowledgedCommit(t *testing.T) {
	ctx := context.Background()
	cluster := newFakeCluster()
	for _, c := range []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"synchronous_mode": true}},
		fsm.UpsertMember{Member: fsm.Member{Name: "n2", State: "streaming"}},
		fsm.UpsertMember{Member: fsm.Member{Name: "n3", State: "streaming"}},
		fsm.AcquireLeader{Member: "n1", TTL: 3}, // epoch 4
		fsm.SwapSync{Leader: "n1", Epoch: 4, Members: []string{"n2"}},
	} {
		if _, err := cluster.Propose(ctx, c); err != nil {
			t.Fatalf("setup %T: %v", c, err)
		}
	}
	pg := &simPG{fakePG: &fakePG{}, wal: 1000, flush: map[string]uint64{"n2": 1000, "n3": 600},
		up: map[string]bool{"n2": true, "n3": true}, inEffect: []string{"n2"}, acked: 1000}
	l := New(Config{Name: "n1"}, cluster, pg)
	pg.up["n2"] = false // n2 dies; commits now wait for it and are not acknowledged

	sawSyncNotRecorded, recorded := false, false
	for turn := 0; turn < 60 && !recorded; turn++ {
		o := l.observe(ctx)
		o.LiveMembers = map[string]bool{"n3": true}
		a, why := syncStep(o)
		if a != nil {
			if err := l.run(ctx, o, *a); err != nil {
				t.Fatalf("turn %d: %v %v (%s): %v", turn, a.Kind, a.Names, why, err)
			}
		}
		st := cluster.State()
		for _, m := range st.Sync.Members {
			if !contains(pg.inEffect, m) {
				t.Fatalf("turn %d: %s recorded while PostgreSQL does not wait for it (%v)", turn, m, pg.inEffect)
			}
			if pg.flush[m] < pg.acked {
				t.Fatalf("turn %d: %s recorded with flush %d, but commits up to %d were acknowledged", turn, m, pg.flush[m], pg.acked)
			}
		}
		recorded = st.IsSync("n3")
		if contains(pg.inEffect, "n3") && !recorded {
			sawSyncNotRecorded = true
		}
		pg.tick()
	}
	if !recorded {
		t.Fatalf("n3 never recorded: state %v, PostgreSQL %v, flush %v, wal %d", cluster.State().Sync, pg.inEffect, pg.flush, pg.wal)
	}
	if !sawSyncNotRecorded {
		t.Fatalf("n3 was recorded the moment it was listed: the flushed-past rule was not exercised")
	}
}

func TestDecide_SyncModeWithoutRecordedStandby_NobodyIsPromoted(t *testing.T) {
	o := scenario()
	o.Lease = LeaseView{Expired: true}
	o.Config.SynchronousMode = true
	o.State.Sync = fsm.Sync{Leader: "n1"}
	if p := Decide(o); p.Actions[0].Kind != ActWait {
		t.Fatalf("plan %v (%s), want wait", p.Kinds(), p.Reason)
	}
}

// synchronous_mode switched on while no leader exists and no tenure ever
// recorded a synchronous set (Sync.Leader ""): no commit was ever
// acknowledged under synchronous bookkeeping, so rule 2 protects nothing
// and the FSM's AcquireLeader accepts any member (fsm/apply.go). Decide
// refused everyone, so the cluster stayed without a primary for good
// (fault suite seed 329: bootstrap in asynchronous mode, a hand-over, then
// synchronous_mode on while the key was free).
func TestDecide_SyncModeOnButNoSetEverRecorded_ElectionProceeds(t *testing.T) {
	o := scenario()
	o.Lease = LeaseView{Expired: true}
	o.Config.SynchronousMode = true
	o.State.Sync = fsm.Sync{}
	if p := Decide(o); len(p.Actions) == 0 || p.Actions[0].Kind != ActAcquire {
		t.Fatalf("plan %v (%s), want acquire", p.Kinds(), p.Reason)
	}
}
