package ha

import (
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
			o.PG.Replicas[0].SyncState = "sync"
			o.PG.Replicas[0].FlushLSN = 1000
		}, ActSetSync, []string{"n2"}},
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

// Walking the steps one turn at a time from an empty set to a swap of the
// standby never records a member that has not confirmed, and never lists
// in PostgreSQL a standby the state dropped.
func TestSyncStep_SwapKeepsTheInvariantAtEveryTurn(t *testing.T) {
	o := syncScenario()
	o.State.Sync.Members = []string{"n2"}
	o.PG.SyncStandbys = []string{"n2"}
	o.PG.Replicas[0].SyncState = "sync"
	delete(o.LiveMembers, "n2") // n2 dies: n3 must take its place
	o.PG.Replicas = o.PG.Replicas[1:]
	for turn := 0; turn < 10; turn++ {
		a, _ := syncStep(o)
		if a == nil {
			break
		}
		switch a.Kind {
		case ActSetSync:
			for _, n := range a.Names {
				if !contains(o.PG.SyncStandbys, n) {
					t.Fatalf("turn %d: recorded %s before PostgreSQL waits for it", turn, n)
				}
			}
			o.State.Sync.Members = a.Names
		case ActSetSyncStandbys:
			for _, n := range o.State.Sync.Members {
				if !contains(a.Names, n) {
					t.Fatalf("turn %d: dropped %s from PostgreSQL while the state still records it", turn, n)
				}
			}
			o.PG.SyncStandbys = a.Names
			for i := range o.PG.Replicas {
				if contains(a.Names, o.PG.Replicas[i].Name) {
					o.PG.Replicas[i].SyncState = "sync"
					o.PG.Replicas[i].FlushLSN = o.PG.WALPosition
				}
			}
		}
	}
	if !reflect.DeepEqual(o.State.Sync.Members, []string{"n3"}) || !reflect.DeepEqual(o.PG.SyncStandbys, []string{"n3"}) {
		t.Fatalf("ended with state %v and PostgreSQL %v, want n3 in both", o.State.Sync.Members, o.PG.SyncStandbys)
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
