package ha

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// takeoverScenario: a hand-made cluster whose agents just formed Raft. n1
// runs the primary, n2 and n3 stream from it on their owners' configuration;
// nobody has seeded the initialize key. The observation is n2's.
func takeoverScenario() Observation {
	o := scenario()
	o.State = fsm.State{Members: map[string]fsm.Member{
		"n1": {Name: "n1", Host: "127.0.0.1", Port: 5432, Role: fsm.RolePrimary, State: "running", Timeline: 1, SystemID: "7000"},
		"n2": {Name: "n2", Host: "127.0.0.1", Port: 5433, Role: fsm.RoleReplica, State: "streaming", Timeline: 1, SystemID: "7000"},
		"n3": {Name: "n3", Host: "127.0.0.1", Port: 5434, Role: fsm.RoleReplica, State: "streaming", Timeline: 1, SystemID: "7000"},
	}}
	o.PG.Following, o.PG.Unmanaged = "", true
	return o
}

// seeded: n1 seeded the initialize key with its running primary.
func seeded(o *Observation) { o.State.Initialize = &fsm.Initialize{Member: "n1", SystemID: "7000"} }

func asPrimary(o *Observation, name string) {
	o.Self = name
	o.PG.InRecovery, o.PG.Streaming = false, false
}

func TestDecide_Takeover(t *testing.T) {
	cases := []struct {
		name   string
		modify func(o *Observation)
		want   []ActionKind
		reason string // a part of the reason, when it matters
	}{
		{"RunningPrimary_SeedsTheCluster", func(o *Observation) { asPrimary(o, "n1") }, []ActionKind{ActAdoptData}, "taking over the running primary"},
		{"RunningReplica_NeverSeeds", func(o *Observation) {}, []ActionKind{ActWait}, "never seeds"},
		{"StoppedReplica_NeverSeeds", func(o *Observation) { o.PG.Running = false }, []ActionKind{ActWait}, "never seeds"},
		{"StoppedPrimary_JustStarted_WaitsAFullTTL", func(o *Observation) {
			asPrimary(o, "n1")
			o.PG.Running = false
			setMember(o, "n1", func(m *fsm.Member) { m.State = "stopped" })
			o.KeyChangedAt = o.Now.Add(-time.Second)
		}, []ActionKind{ActWait}, "waiting a full ttl"},
		{"RunningPrimary_AnotherRunningPrimaryReported_RefusesToSeed", func(o *Observation) {
			asPrimary(o, "n1")
			setMember(o, "n2", func(m *fsm.Member) { m.Role, m.State = fsm.RolePrimary, "running" })
		}, []ActionKind{ActRefuse}, "both run a writable primary of system identifier 7000"},
		{"RunningPrimary_OtherPrimaryOfAnotherSystem_Seeds", func(o *Observation) {
			asPrimary(o, "n1")
			setMember(o, "n2", func(m *fsm.Member) { m.Role, m.State, m.SystemID = fsm.RolePrimary, "running", "9999" })
		}, []ActionKind{ActAdoptData}, ""},
		{"Seeded_SeedingPrimary_TakesTheKeyWithoutRestart", func(o *Observation) {
			seeded(o)
			asPrimary(o, "n1")
		}, []ActionKind{ActTakeover}, "without restarting"},
		{"Seeded_SeedingPrimaryStopped_TakesTheKeyToStartInPlace", func(o *Observation) {
			seeded(o)
			asPrimary(o, "n1")
			o.PG.Running = false
		}, []ActionKind{ActAcquire}, "start it in place"},
		{"Seeded_SeedingPrimary_SecondPrimaryReported_Refuses", func(o *Observation) {
			seeded(o)
			asPrimary(o, "n1")
			setMember(o, "n3", func(m *fsm.Member) { m.Role, m.State = fsm.RolePrimary, "running" })
		}, []ActionKind{ActRefuse}, "n3"},
		{"Seeded_SeedingPrimary_SilentMemberLastReportedAPrimary_Waits", func(o *Observation) {
			seeded(o)
			asPrimary(o, "n1")
			setMember(o, "n3", func(m *fsm.Member) { m.Role, m.State = fsm.RolePrimary, "running" })
			o.LiveMembers = map[string]bool{"n1": true, "n2": true}
		}, []ActionKind{ActWait}, "n3 last reported a running primary"},
		{"Seeded_SeedingPrimary_AVoterHasNotReported_Waits", func(o *Observation) {
			seeded(o)
			asPrimary(o, "n1")
			for _, n := range []string{"n1", "n2", "n3"} {
				setMember(o, n, func(m *fsm.Member) { m.RaftAddr = n + ":5010" })
			}
			o.AwaitedServers = []string{"n1:5010", "n2:5010", "n3:5010", "n4:5010"}
		}, []ActionKind{ActWait}, "n4:5010"},
		{"Seeded_SeedingPrimary_EveryVoterReported_TakesTheKey", func(o *Observation) {
			seeded(o)
			asPrimary(o, "n1")
			for _, n := range []string{"n1", "n2", "n3"} {
				setMember(o, n, func(m *fsm.Member) { m.RaftAddr = n + ":5010" })
			}
			o.AwaitedServers = []string{"n1:5010", "n2:5010", "n3:5010"}
		}, []ActionKind{ActTakeover}, ""},
		{"ConfigurationOutsideTheDataDirectory_Refused", func(o *Observation) {
			asPrimary(o, "n1")
			o.PG.ForeignConfig = "/etc/postgresql/15/main/postgresql.conf"
		}, []ActionKind{ActRefuse}, "/etc/postgresql/15/main/postgresql.conf"},
		{"Seeded_Replica_WaitsForTheSeedingPrimary", func(o *Observation) { seeded(o) }, []ActionKind{ActWait}, "waiting for n1"},
		{"Seeded_Replica_SeedingPrimarySilent_StillNeverTakesTheKey", func(o *Observation) {
			seeded(o)
			o.LiveMembers = map[string]bool{"n2": true, "n3": true}
			o.Lease = LeaseView{Expired: true}
		}, []ActionKind{ActWait}, "waiting for n1"},
		{"Seeded_Replica_ManualFailoverRequested_NeverTakesTheKey", func(o *Observation) {
			seeded(o)
			o.State.Pending = &fsm.Pending{Kind: "failover", Candidate: "n2"}
			o.LiveMembers = map[string]bool{"n2": true, "n3": true}
		}, []ActionKind{ActWait}, "waiting for n1"},
		{"Seeded_SecondPrimary_ReportsFirst", func(o *Observation) {
			seeded(o)
			asPrimary(o, "n2")
		}, []ActionKind{ActWait}, "reporting it before refusing"},
		{"Seeded_SecondPrimary_ReportedThenRefuses", func(o *Observation) {
			seeded(o)
			asPrimary(o, "n2")
			setMember(o, "n2", func(m *fsm.Member) { m.Role, m.State = fsm.RolePrimary, "running" })
		}, []ActionKind{ActRefuse}, "nothing was changed"},
		{"LeaderTookOver_UnmanagedSecondPrimary_RefusedNotDemoted", func(o *Observation) {
			seeded(o)
			o.State.Leader, o.State.LeaderIndex = &fsm.Leader{Member: "n1", Epoch: 20, TTL: 3}, 20
			asPrimary(o, "n2")
		}, []ActionKind{ActRefuse}, "both run a writable primary"},
		{"LeaderTookOver_ManagedFormerPrimary_KeepsTheUsualRules", func(o *Observation) {
			seeded(o)
			o.State.Leader, o.State.LeaderIndex = &fsm.Leader{Member: "n1", Epoch: 20, TTL: 3}, 20
			asPrimary(o, "n2")
			o.PG.Unmanaged = false
		}, []ActionKind{ActFence, ActMoveAside}, "forked apart"}, // rule 4, as before
		{"LeaderTookOver_Replica_WaitsForItsSlot", func(o *Observation) {
			seeded(o)
			o.State.Leader, o.State.LeaderIndex = &fsm.Leader{Member: "n1", Epoch: 20, TTL: 3}, 20
			setMember(o, "n1", func(m *fsm.Member) { m.Slots = []string{"n3"} })
		}, []ActionKind{ActWait}, "replication slot"},
		{"LeaderTookOver_Replica_SlotExists_Follows", func(o *Observation) {
			seeded(o)
			o.State.Leader, o.State.LeaderIndex = &fsm.Leader{Member: "n1", Epoch: 20, TTL: 3}, 20
			setMember(o, "n1", func(m *fsm.Member) { m.Slots = []string{"n2", "n3"} })
		}, []ActionKind{ActFollow}, ""},
		{"LeaderTookOver_StoppedReplica_WaitsForItsSlot", func(o *Observation) {
			seeded(o)
			o.State.Leader, o.State.LeaderIndex = &fsm.Leader{Member: "n1", Epoch: 20, TTL: 3}, 20
			setMember(o, "n1", func(m *fsm.Member) { m.Slots = []string{"n3"} })
			o.PG.Running = false
		}, []ActionKind{ActWait}, "replication slot before starting it"},
		{"LeaderTookOver_StoppedReplica_SlotExists_Starts", func(o *Observation) {
			seeded(o)
			o.State.Leader, o.State.LeaderIndex = &fsm.Leader{Member: "n1", Epoch: 20, TTL: 3}, 20
			setMember(o, "n1", func(m *fsm.Member) { m.Slots = []string{"n2", "n3"} })
			o.PG.Running = false
		}, []ActionKind{ActStartReplica}, ""},
		{"LeaderTookOver_HolderNotAdoptedYet_AdoptsByReload", func(o *Observation) {
			seeded(o)
			o.State.Leader, o.State.LeaderIndex = &fsm.Leader{Member: "n1", Epoch: 20, TTL: 3}, 20
			asPrimary(o, "n1")
			o.Lease = LeaseView{Held: true, Valid: true}
		}, []ActionKind{ActRenew, ActSyncSlots, ActAdopt}, "no restart"},
		{"LeaderTookOver_Replica_NoSlots_FollowsAtOnce", func(o *Observation) {
			seeded(o)
			o.State.Leader, o.State.LeaderIndex = &fsm.Leader{Member: "n1", Epoch: 20, TTL: 3}, 20
			o.Config.UseSlots = false
		}, []ActionKind{ActFollow}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := takeoverScenario()
			tc.modify(&o)
			before := o.State.Clone()
			p := Decide(o)
			if got := p.Kinds(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan %v (%s), want %v", got, p.Reason, tc.want)
			}
			if !strings.Contains(p.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", p.Reason, tc.reason)
			}
			if !reflect.DeepEqual(before, o.State.Clone()) {
				t.Error("Decide mutated its input")
			}
		})
	}
}

func TestTakeoverNote_OnlyWhileTakingOver(t *testing.T) {
	o := takeoverScenario()
	if got := takeoverNote(o, Decide(o)); !strings.Contains(got, "never seeds") {
		t.Fatalf("note before seeding %q", got)
	}
	o = scenario() // a managed cluster with a leader
	if got := takeoverNote(o, Decide(o)); got != "" {
		t.Fatalf("note in a managed cluster %q", got)
	}
}

// adoptingPG is a fakePG that also implements Adopter.
type adoptingPG struct{ *fakePG }

func (p adoptingPG) Adopt(context.Context) error { p.record("adopt"); return nil }

// armCheckingCluster records whether the watchdog was armed when the
// AcquireLeader proposal left.
type armCheckingCluster struct {
	*fakeCluster
	wd          *fakeWatchdog
	armedAtSend []bool
}

func (c *armCheckingCluster) Propose(ctx context.Context, cmd fsm.Command) (uint64, error) {
	if _, ok := cmd.(fsm.AcquireLeader); ok {
		c.wd.mu.Lock()
		c.armedAtSend = append(c.armedAtSend, c.wd.armed)
		c.wd.mu.Unlock()
	}
	return c.fakeCluster.Propose(ctx, cmd)
}

// The running primary is writable before any lease exists: the watchdog
// must guard the lease from the moment the acquire can commit, the key is
// taken without a start, stop or promotion, and the configuration is
// applied by Adopt (a reload).
func TestLoop_Takeover_ArmsTheWatchdogBeforeTakingTheKey_NoRestart(t *testing.T) {
	fc, clock := newFakeCluster(), &fakeClock{now: t0}
	wd := &fakeWatchdog{}
	c := &armCheckingCluster{fakeCluster: fc, wd: wd}
	ctx := context.Background()
	if _, err := c.Propose(ctx, fsm.SetConfig{Config: map[string]any{"loop_wait": 1, "ttl": 3, "retry_timeout": 1}}); err != nil {
		t.Fatal(err)
	}
	pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, Timeline: 1, Unmanaged: true}}
	l := New(Config{Name: "n1", Clock: clock, Watchdog: wd, Boottime: fakeBoottime(clock)}, c, adoptingPG{pg})
	for i := 0; i < 3; i++ {
		if _, err := l.turn(ctx); err != nil {
			t.Fatal(err)
		}
		clock.advance(time.Second)
	}
	st := c.State()
	if st.SystemID() != "7001" || st.LeaderName() != "n1" {
		t.Fatalf("system id %q leader %q", st.SystemID(), st.LeaderName())
	}
	if len(c.armedAtSend) != 1 || !c.armedAtSend[0] {
		t.Fatalf("watchdog armed when AcquireLeader was sent: %v", c.armedAtSend)
	}
	for _, call := range []string{"start", "stop", "promote", "demote", "fence", "bootstrap"} {
		if pg.called(call) {
			t.Fatalf("the running primary was touched: %v", pg.calls)
		}
	}
	if !pg.called("adopt") {
		t.Fatalf("configuration not applied: %v", pg.calls)
	}
}

// A takeover proposal with an unknown outcome may still commit: the
// watchdog stays armed (the others would count the lease from it).
func TestLoop_Takeover_UnknownOutcome_KeepsTheWatchdogArmed(t *testing.T) {
	c, clock := newFakeCluster(), &fakeClock{now: t0}
	wd := &fakeWatchdog{}
	ctx := context.Background()
	for _, cmd := range []fsm.Command{fsm.SetConfig{Config: map[string]any{"ttl": 3}},
		fsm.ClaimInitialize{Member: "n1"}, fsm.SetInitialize{Member: "n1", SystemID: "7001"}} {
		if _, err := c.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, Timeline: 1, Unmanaged: true}}
	l := New(Config{Name: "n1", Clock: clock, Watchdog: wd, Boottime: fakeBoottime(clock)}, c, pg)
	c.failN = 1
	o := l.observe(ctx)
	if err := l.adoptRunningPrimary(ctx, o); err == nil {
		t.Fatal("failed proposal reported as success")
	}
	if !wd.armed || wd.last() != t0.Add(3*time.Second-750*time.Millisecond) {
		t.Fatalf("watchdog armed %v until %v", wd.armed, wd.last())
	}
}

// An agent stopped before its server was taken over (its postgresql.conf
// still the user's) leaves PostgreSQL running as it found it; one whose
// AcquireLeader may still commit stops it as any member does.
func TestLoop_Shutdown_MidTakeover_LeavesTheUsersServerRunning(t *testing.T) {
	for _, tc := range []struct {
		name      string
		unmanaged bool
		pending   bool
		wantStop  bool
	}{
		{"NotTakenOver", true, false, false},
		{"OwnAcquireMayStillCommit", true, true, true},
		{"ManagedServer", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster()
			pg := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Running: true, Timeline: 1, Unmanaged: tc.unmanaged}}
			l := New(Config{Name: "n1", Clock: &fakeClock{now: t0}, Watchdog: &fakeWatchdog{}}, c, pg)
			l.takeover = takeover{pending: tc.pending}
			if err := l.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := pg.called("stop"); got != tc.wantStop {
				t.Fatalf("stopped %v, want %v (calls %v)", got, tc.wantStop, pg.calls)
			}
		})
	}
}
