package ha

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// serversCluster is a recordingCluster with a Raft configuration.
type serversCluster struct {
	*recordingCluster
	servers []string
	err     error
}

func (c *serversCluster) RaftServerIDs() ([]string, error) { return c.servers, c.err }

// Item (a): a Raft voter whose agent never published a member record (an
// older agent, or one removed as stale whose peer still runs) applies the
// log too. While it is in the Raft configuration no gated command type is
// proposed and renewals carry no compare-and-swap it might ignore; once it
// publishes a record at the current level the CAS types are used.
func TestLoop_ARaftServerWithoutAMemberRecord_ClosesEveryProtocolGate(t *testing.T) {
	ctx := context.Background()
	c := &serversCluster{recordingCluster: &recordingCluster{fakeCluster: newFakeCluster()},
		servers: []string{"10.0.0.1:7000", "10.0.0.9:7000"}} // 10.0.0.9: no member record
	for _, cmd := range []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"synchronous_mode": true, "ttl": 10, "loop_wait": 2, "retry_timeout": 2, "member_slots_ttl": 0}},
		// n2: a silent member at the current level, stale after 100 s.
		fsm.UpsertMember{Member: fsm.Member{Name: "n2", Role: fsm.RoleReplica, State: "streaming", Protocol: fsm.Protocol, RaftAddr: "10.0.0.2:7000"}},
	} {
		if _, err := c.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	pg, clock := &fakePG{st: PGStatus{DataDir: DataDirMissing}}, &fakeClock{now: t0}
	l := New(Config{Name: "n1", Clock: clock, Member: fsm.Member{RaftAddr: "10.0.0.1:7000"}, Boottime: noBoot}, c, pg)
	for turn := 0; turn < 80; turn++ {
		if _, err := l.turn(ctx); err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		clock.advance(2 * time.Second)
	}
	st := c.State()
	if st.LeaderName() != "n1" || st.Sync.Leader != "n1" || st.Members["n1"].RaftAddr != "10.0.0.1:7000" {
		t.Fatalf("leader %q, sync %+v, n1 %+v: the test did not reach a synchronous tenure", st.LeaderName(), st.Sync, st.Members["n1"])
	}
	if !st.AllSupport(fsm.Protocol) {
		t.Fatal("setup: every listed member advertises the current level; the member list alone would open the gates")
	}
	for _, bad := range []fsm.CommandType{fsm.CmdSwapSync, fsm.CmdSwapSyncSealed, fsm.CmdRemoveStaleMember, fsm.CmdRenewLeaderCAS} {
		if c.proposed(bad) {
			t.Errorf("proposed command type %d while a Raft server has no member record: it may stop at it", bad)
		}
	}
	if c.renewCAS != 0 || c.renewPlain == 0 {
		t.Errorf("renewals: %d compare-and-swap, %d plain; a Raft server without a record may ignore ExpectIndex", c.renewCAS, c.renewPlain)
	}
	if !c.proposed(fsm.CmdSetSync) {
		t.Error("the sync set was not recorded with the older SetSync")
	}

	// The server's agent publishes a record at the current level.
	if _, err := c.Propose(ctx, fsm.UpsertMember{Member: fsm.Member{Name: "n9", RaftAddr: "10.0.0.9:7000", Protocol: fsm.Protocol}}); err != nil {
		t.Fatal(err)
	}
	for turn := 0; turn < 10; turn++ {
		if _, err := l.turn(ctx); err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		clock.advance(2 * time.Second)
	}
	if !c.proposed(fsm.CmdRenewLeaderCAS) || !c.proposed(fsm.CmdRemoveStaleMember) {
		t.Errorf("every server at the level, yet no RenewLeaderCAS or RemoveStaleMember (proposed %v)", c.types)
	}
}

// A Raft configuration that cannot be read closes the gates.
func TestObservation_Supports_FailsClosedOnAnUnknownConfiguration(t *testing.T) {
	c := &serversCluster{recordingCluster: &recordingCluster{fakeCluster: newFakeCluster()}, err: errors.New("raft shut down")}
	st := fsm.State{Members: map[string]fsm.Member{"n1": {Name: "n1", RaftAddr: "a:1", Protocol: fsm.Protocol}}}
	l := New(Config{Name: "n1"}, c, &fakePG{})
	if l.supports(st, fsm.ProtocolSwapSync) {
		t.Error("unreadable Raft configuration: gate open")
	}
	c.err, c.servers = nil, []string{"a:1"}
	if !l.supports(st, fsm.ProtocolCAS) {
		t.Error("every server and member at the level: gate closed")
	}
	o := Observation{State: st}
	if !o.Supports(fsm.ProtocolCAS) {
		t.Error("no Raft configuration in the observation (fakes): the member list alone must decide")
	}
	o.RaftServers = []string{"a:1", "b:1"}
	if o.Supports(fsm.ProtocolSwapSync) {
		t.Error("a Raft server without a record: gate open")
	}
}

// Item (b): the hole. Below level 1 the primary recorded n2 with SetSync and
// the outcome was unknown. It must keep PostgreSQL waiting for n2 until a
// sealing SwapSync commits (which needs every agent at ProtocolCAS); after
// the seal the late SetSync is refused, and n2 may go.
func TestSync_UnversionedSetSyncInDoubt_KeepsItsStandbyUntilTheTenureIsSealed(t *testing.T) {
	o := syncScenario()
	o.State.Sync.Version = 50
	o.PG.SyncStandbys = []string{"n2"}
	o.PG.Replicas = o.PG.Replicas[1:] // n2 stopped streaming: no longer wanted
	o.SyncLegacyDoubt = []string{"n2"}
	o.RaftServers = []string{"a", "b", "c"}
	for _, name := range []string{"n1", "n2", "n3"} {
		m := o.State.Members[name]
		m.RaftAddr = map[string]string{"n1": "a", "n2": "b", "n3": "c"}[name]
		m.Protocol = fsm.ProtocolTenureHistory // level 3: SwapSync, not sealed
		o.State.Members[name] = m
	}
	a, why := syncStep(o)
	if a == nil || a.Kind != ActWait {
		t.Fatalf("level 3: got %+v (%s), want a wait keeping n2 in synchronous_standby_names", a, why)
	}
	for _, name := range []string{"n1", "n2", "n3"} {
		m := o.State.Members[name]
		m.Protocol = fsm.ProtocolCAS
		o.State.Members[name] = m
	}
	a, why = syncStep(o)
	if a == nil || a.Kind != ActSetSync || len(a.Names) != 0 {
		t.Fatalf("level 4: got %+v (%s), want the sealing set-sync of the recorded set first", a, why)
	}
	if cmd := syncCommand(o.Supports, "n1", o.State.Leader.Epoch, 50, a.Names); cmd.Type() != fsm.CmdSwapSyncSealed {
		t.Fatalf("the fence is %T, want SwapSyncSealed", cmd)
	}
	o.SyncLegacyDoubt = nil // the seal committed
	a, _ = syncStep(o)
	if a == nil || a.Kind != ActSetSyncStandbys || contains(a.Names, "n2") {
		t.Fatalf("after the seal: got %+v, want n2 removed", a)
	}
	// Without the doubt nothing is held back.
	o.SyncLegacyDoubt = []string{"n3"}
	if a, _ := syncStep(o); a == nil || a.Kind != ActSetSyncStandbys {
		t.Fatalf("doubt on a standby not being removed: got %+v, want the removal", a)
	}
}

// The memory of the doubt: set by a SetSync with an unknown outcome, not by
// one that committed or was refused, kept per tenure, ended by a committed
// SwapSyncSealed of the tenure or by the state showing the seal.
func TestSyncFence_LegacyDoubt(t *testing.T) {
	var f syncFence
	st := fsm.State{Leader: &fsm.Leader{Member: "n1", Epoch: 7}}
	unknown := errors.New("propose: outcome unknown")
	f.legacy(fsm.SetSync{Leader: "n1", Epoch: 7, Members: []string{"n2"}}, nil)
	f.legacy(fsm.SetSync{Leader: "n1", Epoch: 7, Members: []string{"n3"}}, fsm.ErrNotLeaderHolder)
	if got := f.legacyFor(st, "n1"); got != nil {
		t.Fatalf("committed or refused SetSync left a doubt: %v", got)
	}
	f.legacy(fsm.SetSync{Leader: "n1", Epoch: 7, Members: []string{"n2"}}, unknown)
	f.legacy(fsm.SetSync{Leader: "n1", Epoch: 7, Members: []string{"n3"}}, unknown)
	if got := f.legacyFor(st, "n1"); len(got) != 2 {
		t.Fatalf("doubt = %v, want n2 and n3", got)
	}
	if got := f.legacyFor(fsm.State{Leader: &fsm.Leader{Member: "n1", Epoch: 9}}, "n1"); got != nil {
		t.Errorf("another tenure: doubt %v", got)
	}
	sealedState := st
	sealedState.Sync.SealedEpoch = 7
	if got := f.legacyFor(sealedState, "n1"); got != nil {
		t.Errorf("state sealed for the tenure: doubt %v", got)
	}
	f.legacy(fsm.SwapSyncSealed{Leader: "n1", Epoch: 7}, unknown)
	if f.legacyFor(st, "n1") == nil {
		t.Error("a sealing SwapSync with an unknown outcome ended the doubt")
	}
	f.legacy(fsm.SwapSyncSealed{Leader: "n1", Epoch: 7}, nil)
	if got := f.legacyFor(st, "n1"); got != nil {
		t.Errorf("sealed, doubt %v", got)
	}
}

// End to end on the state machine: the late SetSync of item (b) lands after
// the sealing fence and is refused, so the state never records n2 after
// PostgreSQL stopped waiting for it.
func TestSync_LateSetSyncAfterTheSeal_IsRefused(t *testing.T) {
	st := fsm.State{Members: map[string]fsm.Member{}}
	must := func(c fsm.Command, idx uint64) {
		t.Helper()
		if err := applyCmd(&st, c, idx); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	must(fsm.AcquireLeader{Member: "n1", TTL: 3}, 1)
	must(fsm.SetSync{Leader: "n1", Epoch: 1}, 2)
	late := fsm.SetSync{Leader: "n1", Epoch: 1, Members: []string{"n2"}} // outcome unknown, still in flight
	must(fsm.SwapSyncSealed{Leader: "n1", Epoch: 1, ExpectVersion: 0}, 3)
	// n2 leaves synchronous_standby_names; then the late entry arrives.
	if err := applyCmd(&st, late, 4); !errors.Is(err, fsm.ErrSyncChanged) || st.IsSync("n2") {
		t.Fatalf("late SetSync: err %v, sync %+v; want it refused", err, st.Sync)
	}
}

// Once a tenure is sealed its sync changes stay sealed, even when the gate
// closes (an older agent joined through a snapshot): a SetSync would be
// refused here and applied there.
func TestSyncSupports_SealedTenureKeepsSwapSyncSealed(t *testing.T) {
	closed := func(int) bool { return false }
	st := fsm.State{Sync: fsm.Sync{SealedEpoch: 7}}
	if c := syncCommand(syncSupports(st, 7, closed), "n1", 7, 9, nil); c.Type() != fsm.CmdSwapSyncSealed {
		t.Errorf("sealed tenure, gate closed: %T, want SwapSyncSealed", c)
	}
	if c := syncCommand(syncSupports(st, 8, closed), "n1", 8, 9, nil); c.Type() != fsm.CmdSetSync {
		t.Errorf("another tenure, gate closed: %T, want SetSync", c)
	}
}
