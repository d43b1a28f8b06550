package ha

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// recordingCluster is a fakeCluster that notes the type of every proposal.
type recordingCluster struct {
	*fakeCluster
	mu    sync.Mutex
	types []fsm.CommandType
	// renewCAS counts RenewLeader proposals with and without ExpectIndex.
	renewCAS, renewPlain int
}

func (c *recordingCluster) Propose(ctx context.Context, cmd fsm.Command) (uint64, error) {
	c.mu.Lock()
	c.types = append(c.types, cmd.Type())
	if r, ok := cmd.(fsm.RenewLeader); ok {
		if r.ExpectIndex != 0 {
			c.renewCAS++
		} else {
			c.renewPlain++
		}
	}
	c.mu.Unlock()
	return c.fakeCluster.Propose(ctx, cmd)
}

func (c *recordingCluster) proposed(t fsm.CommandType) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.types {
		if x == t {
			return true
		}
	}
	return false
}

// Rolling upgrade: while an agent older than SwapSync and RemoveStaleMember
// is listed (even a silent one), a new primary proposes neither; it records
// the sync set with the older SetSync and removes nobody. An older agent
// would otherwise stop at the first of them.
func TestLoop_AnOlderAgentListed_ProposesOnlyCommandsItApplies(t *testing.T) {
	ctx := context.Background()
	c := &recordingCluster{fakeCluster: newFakeCluster()}
	for _, cmd := range []fsm.Command{
		fsm.SetConfig{Config: map[string]any{"synchronous_mode": true, "ttl": 10, "loop_wait": 2, "retry_timeout": 2, "member_slots_ttl": 0}},
		fsm.UpsertMember{Member: fsm.Member{Name: "n2", Role: fsm.RoleReplica, State: "streaming"}}, // Protocol 0: an older agent
	} {
		if _, err := c.Propose(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	pg, clock := &fakePG{st: PGStatus{DataDir: DataDirMissing}}, &fakeClock{now: t0}
	l := New(Config{Name: "n1", Clock: clock}, c, pg)
	// n2 stays silent past the grace period max(member_slots_ttl, 10 ttl) = 100 s.
	for turn := 0; turn < 80; turn++ {
		if _, err := l.turn(ctx); err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		clock.advance(2 * time.Second)
	}
	st := c.State()
	if st.LeaderName() != "n1" || st.Sync.Leader != "n1" {
		t.Fatalf("leader %q, sync %+v: the test did not reach a synchronous tenure", st.LeaderName(), st.Sync)
	}
	if !c.proposed(fsm.CmdSetSync) {
		t.Errorf("the new tenure's sync set was not recorded with SetSync (proposed %v)", c.types)
	}
	for _, bad := range []fsm.CommandType{fsm.CmdSwapSync, fsm.CmdRemoveStaleMember} {
		if c.proposed(bad) {
			t.Errorf("proposed command type %d with an older agent listed: it would stop at it", bad)
		}
	}
	if _, ok := st.Members["n2"]; !ok {
		t.Error("the older agent's member record was removed")
	}
	if c.renewCAS != 0 || c.renewPlain == 0 {
		t.Errorf("renewals with an older agent listed: %d with ExpectIndex, %d without; an older agent ignores the field", c.renewCAS, c.renewPlain)
	}
	if m := st.Members["n1"]; m.Protocol != fsm.Protocol {
		t.Errorf("the loop published protocol %d, want %d", m.Protocol, fsm.Protocol)
	}

	// n2 upgraded: from now on the compare-and-swap commands are used.
	n2 := st.Members["n2"]
	n2.Protocol = fsm.Protocol
	if _, err := c.Propose(ctx, fsm.UpsertMember{Member: n2}); err != nil {
		t.Fatal(err)
	}
	for turn := 0; turn < 80 && c.State().Members["n2"].Name != ""; turn++ {
		if _, err := l.turn(ctx); err != nil {
			t.Fatalf("turn %d: %v", turn, err)
		}
		clock.advance(2 * time.Second)
	}
	if !c.proposed(fsm.CmdRemoveStaleMember) {
		t.Errorf("all agents upgraded, silent n2 never removed with RemoveStaleMember (proposed %v)", c.types)
	}
	if c.renewCAS == 0 {
		t.Error("all agents upgraded, yet no renewal carried ExpectIndex")
	}
}

func TestSyncCommand_SwapSyncOnlyWhenEveryMemberAppliesIt(t *testing.T) {
	st := fsm.State{Members: map[string]fsm.Member{
		"n1": {Name: "n1", Protocol: fsm.Protocol},
		"n2": {Name: "n2", Protocol: fsm.Protocol},
	}, Sync: fsm.Sync{Version: 9}}
	if c, ok := syncCommand(st, "n1", 4, 9, []string{"n2"}).(fsm.SwapSync); !ok || c.ExpectVersion != 9 || c.Epoch != 4 {
		t.Errorf("all upgraded: got %#v, want SwapSync expecting version 9", c)
	}
	st.Members["n3"] = fsm.Member{Name: "n3"} // an older agent, maybe silent
	if c, ok := syncCommand(st, "n1", 4, 9, []string{"n2"}).(fsm.SetSync); !ok || c.Epoch != 4 || len(c.Members) != 1 {
		t.Errorf("an older agent listed: got %#v, want SetSync", c)
	}
}
