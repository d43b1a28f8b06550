package ha

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

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
	switch r := cmd.(type) {
	case fsm.RenewLeader:
		if r.ExpectIndex != 0 {
			c.renewCAS++
		} else {
			c.renewPlain++
		}
	case fsm.RenewLeaderCAS:
		c.renewCAS++
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
	supports := func(level int) bool { return st.AllSupport(level) }
	if c, ok := syncCommand(supports, "n1", 4, 9, []string{"n2"}).(fsm.SwapSyncSealed); !ok || c.ExpectVersion != 9 || c.Epoch != 4 {
		t.Errorf("all upgraded: got %#v, want SwapSyncSealed expecting version 9", c)
	}
	st.Members["n2"] = fsm.Member{Name: "n2", Protocol: fsm.ProtocolTenureHistory}
	if c, ok := syncCommand(supports, "n1", 4, 9, []string{"n2"}).(fsm.SwapSync); !ok || c.ExpectVersion != 9 || c.Epoch != 4 {
		t.Errorf("an agent at level 3 listed: got %#v, want SwapSync expecting version 9", c)
	}
	st.Members["n3"] = fsm.Member{Name: "n3"} // an older agent, maybe silent
	if c, ok := syncCommand(supports, "n1", 4, 9, []string{"n2"}).(fsm.SetSync); !ok || c.Epoch != 4 || len(c.Members) != 1 {
		t.Errorf("an older agent listed: got %#v, want SetSync", c)
	}
}

func TestLevelOf_IsTheLowestLevelAnyAgentApplies(t *testing.T) {
	member := func(name, raft string, level int) fsm.Member {
		return fsm.Member{Name: name, RaftAddr: raft, Protocol: level}
	}
	state := func(ms ...fsm.Member) fsm.State {
		st := fsm.State{Members: map[string]fsm.Member{}}
		for _, m := range ms {
			st.Members[m.Name] = m
		}
		return st
	}
	all := []string{"a:1", "b:1", "c:1"}
	for _, c := range []struct {
		name    string
		st      fsm.State
		servers []string
		want    int
	}{
		{"no member yet", state(), nil, 0},
		{"an agent older than the field", state(member("n1", "a:1", 0), member("n2", "b:1", fsm.Protocol), member("n3", "c:1", fsm.Protocol)), all, 0},
		{"one agent at level 3", state(member("n1", "a:1", 3), member("n2", "b:1", fsm.Protocol), member("n3", "c:1", fsm.Protocol)), all, 3},
		{"every agent on this build", state(member("n1", "a:1", fsm.Protocol), member("n2", "b:1", fsm.Protocol), member("n3", "c:1", fsm.Protocol)), all, fsm.Protocol},
		{"a Raft server without a member record", state(member("n1", "a:1", fsm.Protocol), member("n2", "b:1", fsm.Protocol)), all, 0},
	} {
		if got := levelOf(c.st, c.servers); got != c.want {
			t.Errorf("%s: levelOf = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestNoteLevel_InfoDuringAnUpgradeOnly(t *testing.T) {
	out := &logLines{}
	l := &Loop{cfg: Config{Name: "n1"}, log: hclog.New(&hclog.LoggerOptions{JSONFormat: true, Output: out, Level: hclog.Debug})}
	at := func(levels ...int) Observation {
		st := fsm.State{Members: map[string]fsm.Member{}}
		for i, level := range levels {
			st.Members[fmt.Sprint("n", i+1)] = fsm.Member{Name: fmt.Sprint("n", i+1), Protocol: level}
		}
		return Observation{State: st}
	}
	l.noteLevel(at())
	l.noteLevel(at(fsm.Protocol, fsm.Protocol))
	wantLines(t, "a cluster all on this build", out.take(t))
	l.noteLevel(at(fsm.Protocol, 0))
	l.noteLevel(at(fsm.Protocol, 0))
	l.noteLevel(at(fsm.Protocol, fsm.Protocol))
	l.noteLevel(at(fsm.Protocol, fsm.Protocol))
	wantLines(t, "an older agent listed, then upgraded", out.take(t),
		"n1 info cluster protocol level", "n1 info cluster protocol level")
}
