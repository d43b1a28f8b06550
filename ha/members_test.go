package ha

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// holderScenario is n1 leading with a trusted lease; n3 has been silent for
// the given time, n2 reports normally.
func holderScenario(n3Silent time.Duration) Observation {
	o := scenario()
	o.Self = "n1"
	o.PG.InRecovery, o.PG.Following, o.PG.Streaming = false, "", false
	o.Lease = LeaseView{Held: true, Valid: true}
	o.Config.MemberSlotsTTL = 60 * time.Second // ttl 3: grace = max(60 s, 30 s) = 60 s
	o.MemberSilence = map[string]time.Duration{"n1": 0, "n2": 500 * time.Millisecond, "n3": n3Silent}
	if n3Silent >= 3*time.Second {
		delete(o.LiveMembers, "n3")
	}
	setMember(&o, "n3", func(m *fsm.Member) { m.UpdatedIndex = 77 })
	for _, n := range []string{"n1", "n2", "n3"} {
		setMember(&o, n, func(m *fsm.Member) { m.Protocol = fsm.Protocol })
	}
	return o
}

func findAction(p Plan, kind ActionKind) *Action {
	for i := range p.Actions {
		if p.Actions[i].Kind == kind {
			return &p.Actions[i]
		}
	}
	return nil
}

func TestDecide_GoneMember_SlotKeptForMemberSlotsTTLThenDropped(t *testing.T) {
	for _, tc := range []struct {
		name     string
		silent   time.Duration
		slotsTTL time.Duration
		want     []string
	}{
		{"Reporting_KeepsSlot", 1 * time.Second, time.Minute, []string{"n2", "n3"}},
		{"SilentWithinMemberSlotsTTL_KeepsSlot", 59 * time.Second, time.Minute, []string{"n2", "n3"}},
		{"SilentPastMemberSlotsTTL_DropsSlot", 61 * time.Second, time.Minute, []string{"n2"}},
		{"MemberSlotsTTLZero_LiveMemberKeepsSlot", 2 * time.Second, 0, []string{"n2", "n3"}},
		{"MemberSlotsTTLZero_DropsOnceGone", 3 * time.Second, 0, []string{"n2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := holderScenario(tc.silent)
			o.Config.MemberSlotsTTL = tc.slotsTTL
			a := findAction(Decide(o), ActSyncSlots)
			if a == nil || !reflect.DeepEqual(a.Names, tc.want) {
				t.Fatalf("sync-slots %+v, want slots for %v", a, tc.want)
			}
		})
	}
}

func TestDecide_GoneMember_LeavesTheListAfterTheGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name   string
		silent time.Duration
		edit   func(o *Observation)
		remove bool
	}{
		{"WithinGrace_Kept", 59 * time.Second, nil, false},
		{"PastGrace_RemovedAgainstItsLastReport", 61 * time.Second, nil, true},
		{"GraceIsAtLeastTenTTL", 29 * time.Second, func(o *Observation) { o.Config.MemberSlotsTTL = 0 }, false},
		{"GraceIsAtLeastTenTTL_ThenRemoved", 31 * time.Second, func(o *Observation) { o.Config.MemberSlotsTTL = 0 }, true},
		{"RecordedSyncStandby_Kept", 10 * time.Minute, func(o *Observation) {
			o.Config.SynchronousMode = true
			o.State.Sync = fsm.Sync{Leader: "n1", Members: []string{"n3"}}
			o.PG.SyncStandbys = []string{"n3"}
		}, false},
		{"NotObservedYet_Kept", 10 * time.Minute, func(o *Observation) { delete(o.MemberSilence, "n3") }, false},
		{"NotTheHolder_NeverRemoves", 10 * time.Minute, func(o *Observation) {
			o.Self = "n2"
			o.Lease = LeaseView{}
			o.PG.InRecovery, o.PG.Following, o.PG.Streaming = true, "n1", true
		}, false},
		{"HolderWithoutTrustedLease_NeverRemoves", 10 * time.Minute, func(o *Observation) { o.Lease.Valid = false }, false},
		{"Paused_NeverRemoves", 10 * time.Minute, func(o *Observation) { o.Config.Pause = true }, false},
		// An older agent would stop at RemoveStaleMember (fsm/protocol.go),
		// even the silent one itself: its Raft peer may still run.
		{"AnOlderAgentListed_NeverRemoves", 10 * time.Minute, func(o *Observation) {
			setMember(o, "n2", func(m *fsm.Member) { m.Protocol = 0 })
		}, false},
		{"TheSilentMemberIsAnOlderAgent_NeverRemoved", 10 * time.Minute, func(o *Observation) {
			setMember(o, "n3", func(m *fsm.Member) { m.Protocol = 0 })
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := holderScenario(tc.silent)
			if tc.edit != nil {
				tc.edit(&o)
			}
			p := Decide(o)
			a := findAction(p, ActRemoveStaleMember)
			switch {
			case tc.remove && (a == nil || a.Target.Name != "n3" || a.ExpectIndex != 77):
				t.Fatalf("plan %v: want remove-stale-member n3 expecting index 77, got %+v", p, a)
			case !tc.remove && a != nil:
				t.Fatalf("plan %v removes %s", p, a.Target.Name)
			}
		})
	}
}

// The silence that drives all of this is measured on the observing node's
// clock from the moment a member's record last changed, not from the
// reporter's wall-clock timestamp.
func TestLease_MemberSilence_CountsFromTheLastChangeSeenHere(t *testing.T) {
	clock := &fakeClock{now: t0}
	l := NewLease(750 * time.Millisecond)
	st := fsm.State{Members: map[string]fsm.Member{
		"n2": {Name: "n2", UpdatedIndex: 5, UpdatedAt: t0.Add(-time.Hour)}, // a skewed wall clock changes nothing
		"n3": {Name: "n3", UpdatedIndex: 6},
	}}
	l.Observe(st, clock.Now())
	clock.advance(4 * time.Second)
	st.Members["n2"] = fsm.Member{Name: "n2", UpdatedIndex: 9} // n2 reported again, n3 did not
	l.Observe(st, clock.Now())
	clock.advance(time.Second)
	got := l.silence(clock.Now())
	if got["n2"] != time.Second || got["n3"] != 5*time.Second {
		t.Fatalf("silence %v, want n2 1s and n3 5s", got)
	}
}

// Through the loop's executor and the real Apply: a member that reported
// again after the decision is not removed, and that is not an error.
func TestLoop_RemoveStaleMember_KeepsAMemberThatCameBack(t *testing.T) {
	ctx := context.Background()
	cluster := newFakeCluster()
	for _, c := range []fsm.Command{
		fsm.UpsertMember{Member: fsm.Member{Name: "n3", State: "streaming"}}, // index 1
		fsm.AcquireLeader{Member: "n1", TTL: 3},
	} {
		if _, err := cluster.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	l := New(Config{Name: "n1"}, cluster, &fakePG{})
	o := l.observe(ctx)
	rm := Action{Kind: ActRemoveStaleMember, Target: fsm.Member{Name: "n3"}, ExpectIndex: 1}
	if _, err := cluster.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "n3", State: "streaming"}}); err != nil {
		t.Fatal(err)
	}
	if err := l.run(ctx, o, rm); err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, ok := cluster.State().Members["n3"]; !ok {
		t.Fatalf("n3 reported again and was removed anyway")
	}
	rm.ExpectIndex = cluster.State().Members["n3"].UpdatedIndex
	if err := l.run(ctx, o, rm); err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, ok := cluster.State().Members["n3"]; ok {
		t.Fatalf("n3 silent since the decision was not removed")
	}
}

// After a restart every member's silence starts at zero; a member counts
// as confirmed (for display) only once its record changes, or when it is
// listed after the start. Elections do not use it.
func TestLoop_UnconfirmedMembers_UntilTheirRecordChangesAfterStart(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster()
	for _, n := range []string{"n1", "n2", "n3"} {
		if _, err := c.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	l := New(Config{Name: "n1", Clock: &fakeClock{now: t0}}, c, &fakePG{st: PGStatus{DataDir: DataDirMissing}})
	o := l.observe(ctx)
	if got := l.UnconfirmedMembers(); !reflect.DeepEqual(got, map[string]bool{"n1": true, "n2": true, "n3": true}) {
		t.Fatalf("after start: unconfirmed %v, want n1, n2 and n3", got)
	}
	if !o.LiveMembers["n2"] || !o.LiveMembers["n3"] {
		t.Errorf("live members %v: elections must still count n2, n3 as live", o.LiveMembers)
	}
	for _, m := range []fsm.Member{{Name: "n1"}, {Name: "n2"}, {Name: "n4"}} {
		if _, err := c.Propose(ctx, fsm.UpsertMember{Member: m}); err != nil {
			t.Fatal(err)
		}
	}
	l.observe(ctx)
	if got := l.UnconfirmedMembers(); !reflect.DeepEqual(got, map[string]bool{"n3": true}) {
		t.Errorf("after n1, n2 reported and n4 joined: unconfirmed %v, want only n3", got)
	}
}

// Rule 6 for the answering node's own record: after a restart (here a Raft
// data wipe: the record came back with the leader's log) it says what the
// agent published before it stopped, "streaming", while PostgreSQL is down.
// It is shown as unconfirmed from the moment the loop exists (the API
// answers before the first turn) until this agent's own first publish.
func TestLoop_UnconfirmedMembers_OwnRecordFromBeforeTheRestartUntilItPublishes(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster()
	for _, n := range []string{"n1", "n3"} {
		m := fsm.Member{Name: n, Role: fsm.RoleReplica, State: "streaming"}
		if n == "n1" {
			m.Role, m.State = fsm.RolePrimary, "running"
		}
		if _, err := c.Propose(ctx, fsm.UpsertMember{Member: m}); err != nil {
			t.Fatal(err)
		}
	}
	stopped := PGStatus{DataDir: DataDirValid, InRecovery: true}
	l := New(Config{Name: "n3", Clock: &fakeClock{now: t0}}, c, &fakePG{st: stopped})
	want := map[string]bool{"n1": true, "n3": true}
	if got := l.UnconfirmedMembers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("before the first turn: unconfirmed %v, want %v", got, want)
	}
	l.observe(ctx) // the first turn's observation, before its publish
	if got := l.UnconfirmedMembers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("before its first publish: unconfirmed %v, want %v", got, want)
	}
	if _, err := l.turn(ctx); err != nil {
		t.Fatal(err)
	}
	l.observe(ctx)
	if m := c.State().Members["n3"]; m.State == "streaming" {
		t.Fatalf("n3 published %q with PostgreSQL stopped", m.State)
	}
	if got := l.UnconfirmedMembers(); got["n3"] {
		t.Errorf("after its own publish: unconfirmed %v, want n3 confirmed", got)
	}
}

// A witness runs no Loop; its MemberWatch gives /cluster and the metrics
// the same rule 6 view: records from before the start unconfirmed until
// they change, silence on this node's clock from the last change seen.
func TestMemberWatch_RecordsFromBeforeTheStartUnconfirmedUntilTheyChange(t *testing.T) {
	clock := &fakeClock{now: t0}
	st := fsm.State{Members: map[string]fsm.Member{
		"n1": {Name: "n1", State: "running", UpdatedIndex: 5},
		"n2": {Name: "n2", State: "streaming", UpdatedIndex: 6}, // dead for hours, perhaps
	}}
	w := NewMemberWatch(st, clock.Now())
	if got := w.Unconfirmed(); !reflect.DeepEqual(got, map[string]bool{"n1": true, "n2": true}) {
		t.Fatalf("at start: unconfirmed %v, want n1 and n2", got)
	}
	clock.advance(2 * time.Second)
	st.Members["n1"] = fsm.Member{Name: "n1", State: "running", UpdatedIndex: 9}
	w.Observe(st, clock.Now())
	clock.advance(2 * time.Second)
	if got := w.Unconfirmed(); !reflect.DeepEqual(got, map[string]bool{"n2": true}) {
		t.Errorf("after n1 reported: unconfirmed %v, want only n2", got)
	}
	if got := w.Silence(clock.Now()); got["n1"] != 2*time.Second || got["n2"] != 4*time.Second {
		t.Errorf("silence %v, want n1 2s and n2 4s", got)
	}
}

// An eviction reads the state fresh from the leader and asks how long the
// member's report in it has been silent here: a report this node's watch
// has not noted yet is not one it measured (so the member counts as
// reporting), and one it noted is measured from when it did.
func TestReportSilence_OnlyForTheReportObservedHere(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := NewLease(0)
	l.Observe(fsm.State{Members: map[string]fsm.Member{"n3": {Name: "n3", UpdatedIndex: 40}}}, t0)
	now := t0.Add(time.Minute)
	if s, ok := l.reportSilence("n3", 40, now); !ok || s != time.Minute {
		t.Errorf("silence of the observed report: %v %v, want 1m true", s, ok)
	}
	if _, ok := l.reportSilence("n3", 95, now); ok {
		t.Error("a report not observed here has a silence")
	}
	if _, ok := l.reportSilence("n4", 1, now); ok {
		t.Error("a member not observed here has a silence")
	}
}
