package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), rafttest.Scaled(10*time.Second))
	t.Cleanup(cancel)
	return ctx
}

func upsert(name string) fsm.Command {
	return fsm.UpsertMember{Member: fsm.Member{Name: name}}
}

func voters(t *testing.T, s *raftstore.Store) []string {
	t.Helper()
	servers, err := s.Servers(testCtx(t))
	if err != nil {
		t.Fatalf("servers: %v", err)
	}
	var out []string
	for _, srv := range servers {
		if srv.Voter {
			out = append(out, srv.ID)
		}
	}
	slices.Sort(out)
	return out
}

func hasMember(s *raftstore.Store, name string) error {
	if _, ok := s.State().Members[name]; !ok {
		return fmt.Errorf("%s has no member %q", s.Addr(), name)
	}
	return nil
}

func TestCluster_ThreeNodesWithIdenticalPartnerLists_FormOneCluster(t *testing.T) {
	c := rafttest.New(t, 3)
	leader := c.Leader(t)
	want := c.Addrs()
	slices.Sort(want)
	for i := range 3 {
		s := c.Store(i)
		// A node that saw a partner already formed joins instead of
		// bootstrapping; it is formed once the leader's entries arrive.
		rafttest.WaitFor(t, 5*time.Second, func() error {
			if !s.Formed() {
				return fmt.Errorf("node %d not formed", i)
			}
			return nil
		})
		rafttest.WaitFor(t, 5*time.Second, func() error {
			if got := voters(t, s); !slices.Equal(got, want) {
				return fmt.Errorf("node %d voters %v, want %v", i, got, want)
			}
			return nil
		})
	}
	st := leader.Stats()
	if st.State != "Leader" || st.Voters != 3 || st.NumPeers != 2 || st.Leader != leader.Addr() {
		t.Errorf("leader stats %+v", st)
	}
}

func TestFormation_SingleNodeWithoutPartners_BootstrapsAlone(t *testing.T) {
	ln := rafttest.Listener(t, "127.0.0.1:0")
	s := rafttest.OpenStore(t, rafttest.Config(t, "solo", ln, nil), fsm.New())
	rafttest.WaitFor(t, 5*time.Second, func() error {
		if !s.IsLeader() {
			return errors.New("not leader yet")
		}
		return nil
	})
	if _, err := s.Propose(testCtx(t), upsert("solo")); err != nil {
		t.Fatalf("propose: %v", err)
	}
	if err := hasMember(s, "solo"); err != nil {
		t.Fatal(err)
	}
}

func TestPropose_FromFollower_IsForwardedAndAppliedOnAllNodes(t *testing.T) {
	c := rafttest.New(t, 3)
	f := c.Follower(t)
	idx, err := f.Propose(testCtx(t), upsert("pg-a"))
	if err != nil {
		t.Fatalf("propose via follower: %v", err)
	}
	if idx == 0 {
		t.Fatal("index 0")
	}
	c.WaitApplied(t, idx)
	for i := range 3 {
		if err := hasMember(c.Store(i), "pg-a"); err != nil {
			t.Error(err)
		}
	}
}

func TestPropose_CASRejection_IsFSMSentinelOnLeaderAndViaFollower(t *testing.T) {
	c := rafttest.New(t, 3)
	bad := fsm.AcquireLeader{Member: "pg-a", ExpectIndex: 999, TTL: 3}
	for name, s := range map[string]*raftstore.Store{"leader": c.Leader(t), "follower": c.Follower(t)} {
		_, err := s.Propose(testCtx(t), bad)
		if !errors.Is(err, fsm.ErrLeaderChanged) || !errors.Is(err, raftstore.ErrRejected) {
			t.Errorf("%s: err = %v, want fsm.ErrLeaderChanged and raftstore.ErrRejected", name, err)
		}
		if errors.Is(err, raftstore.ErrUnknownOutcome) || errors.Is(err, raftstore.ErrNotLeader) {
			t.Errorf("%s: rejection also reads as a raft failure: %v", name, err)
		}
	}
	// The right ExpectIndex is accepted, through a follower too.
	st := c.Leader(t).State()
	idx, err := c.Follower(t).Propose(testCtx(t), fsm.AcquireLeader{Member: "pg-a", ExpectIndex: st.LeaderIndex, TTL: 3})
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	c.WaitApplied(t, idx)
}

func TestRestart_AllNodesFromExistingState_KeepStateWithoutBootstrap(t *testing.T) {
	c := rafttest.New(t, 3)
	var last uint64
	for _, name := range []string{"a", "b", "c"} {
		// An election on a loaded machine can leave an outcome unknown;
		// the upsert is idempotent.
		rafttest.WaitFor(t, 10*time.Second, func() error {
			idx, err := c.Follower(t).Propose(testCtx(t), upsert(name))
			last = idx
			return err
		})
	}
	c.WaitApplied(t, last)
	before := c.Store(0).State()

	for i := range 3 {
		c.Stop(i)
	}
	for i := range 3 {
		c.Restart(i)
	}
	for i := range 3 {
		s := c.Store(i)
		if !raftstore.HadState(s) || raftstore.Bootstrapped(s) {
			t.Errorf("node %d: hadState=%v bootstrapped=%v, want true/false", i, raftstore.HadState(s), raftstore.Bootstrapped(s))
		}
	}
	c.Leader(t)
	c.WaitApplied(t, last)
	for i := range 3 {
		after := c.Store(i).State()
		if !slices.Equal(after.MemberNames(), before.MemberNames()) {
			t.Errorf("node %d members %v, want %v", i, after.MemberNames(), before.MemberNames())
		}
	}
	if got := voters(t, c.Leader(t)); len(got) != 3 {
		t.Errorf("voters after restart %v", got)
	}
	idx, err := c.Follower(t).Propose(testCtx(t), upsert("d"))
	if err != nil {
		t.Fatalf("propose after restart: %v", err)
	}
	c.WaitApplied(t, idx)
}

func notFormed(stores ...*raftstore.Store) func() error {
	return func() error {
		for _, s := range stores {
			if s.Formed() {
				return fmt.Errorf("%s formed", s.Addr())
			}
		}
		return nil
	}
}

func TestFormation_DifferentPartnerSets_DoNotBootstrap(t *testing.T) {
	lx, ly := rafttest.Listener(t, "127.0.0.1:0"), rafttest.Listener(t, "127.0.0.1:0")
	x, y := lx.Addr().String(), ly.Addr().String()
	sx := rafttest.OpenStore(t, rafttest.Config(t, "x", lx, []string{x, y, rafttest.DeadAddr(t)}), fsm.New())
	sy := rafttest.OpenStore(t, rafttest.Config(t, "y", ly, []string{x, y, rafttest.DeadAddr(t)}), fsm.New())
	// Each sees a majority of its own set (2 of 3), but the sets differ.
	rafttest.HoldsFor(t, time.Second, notFormed(sx, sy))

	// Without a cluster a proposal waits for a leader until ctx is done.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := sx.Propose(ctx, upsert("nowhere"))
	if !errors.Is(err, raftstore.ErrTimeout) || !errors.Is(err, raftstore.ErrNoLeader) {
		t.Errorf("propose without a cluster: %v, want raftstore.ErrTimeout and raftstore.ErrNoLeader", err)
	}
}

func TestFormation_WaitsForMajority_ThenBootstraps(t *testing.T) {
	lx, ly := rafttest.Listener(t, "127.0.0.1:0"), rafttest.Listener(t, "127.0.0.1:0")
	lz := rafttest.Listener(t, "127.0.0.1:0")
	set := []string{lx.Addr().String(), ly.Addr().String(), lz.Addr().String()}
	lz.Close() // z stays down
	sx := rafttest.OpenStore(t, rafttest.Config(t, "x", lx, set), fsm.New())
	rafttest.HoldsFor(t, 500*time.Millisecond, notFormed(sx)) // 1 of 3: no majority
	sy := rafttest.OpenStore(t, rafttest.Config(t, "y", ly, set), fsm.New())
	rafttest.WaitFor(t, 10*time.Second, func() error {
		if !sx.IsLeader() && !sy.IsLeader() {
			return errors.New("no leader")
		}
		return nil
	})
	if _, err := sx.Propose(testCtx(t), upsert("m")); err != nil {
		t.Fatalf("propose: %v", err)
	}
}

// FORMATION.md, "A node that lost its Raft state": two of three nodes lost
// their Raft state while the third is down. The third may hold entries only
// it and the lost pair had, and its old log could later overwrite a new
// cluster, so the pair must not bootstrap until it answers, even though
// they are a majority. The node without the flag learns it from hello.
func TestFormation_NodeThatLostItsState_WaitsForEveryServer(t *testing.T) {
	lx, ly, lz := rafttest.Listener(t, "127.0.0.1:0"), rafttest.Listener(t, "127.0.0.1:0"), rafttest.Listener(t, "127.0.0.1:0")
	set := []string{lx.Addr().String(), ly.Addr().String(), lz.Addr().String()}
	cx := rafttest.Config(t, "x", lx, set)
	cx.WasMember = true
	sx := rafttest.OpenStore(t, cx, fsm.New())
	sy := rafttest.OpenStore(t, rafttest.Config(t, "y", ly, set), fsm.New())
	// z's port is open but nobody answers there yet: two of three answer.
	rafttest.HoldsFor(t, 2*time.Second, notFormed(sx, sy))

	sz := rafttest.OpenStore(t, rafttest.Config(t, "z", lz, set), fsm.New())
	rafttest.WaitFor(t, 10*time.Second, func() error {
		for _, s := range []*raftstore.Store{sx, sy, sz} {
			if !s.Formed() {
				return fmt.Errorf("%s not formed", s.Addr())
			}
		}
		return nil
	})
	if _, err := sy.Propose(testCtx(t), upsert("m")); err != nil {
		t.Fatalf("propose: %v", err)
	}
}

// A partner that said it lost its state and then stops answering still
// counts: three fresh nodes of five are a majority, but a former member was
// heard, and the two silent servers may hold the old state.
func TestFormation_FormerMemberHeardOnce_StillCounts(t *testing.T) {
	var lns []net.Listener
	var set []string
	for range 5 {
		ln := rafttest.Listener(t, "127.0.0.1:0")
		lns, set = append(lns, ln), append(set, ln.Addr().String())
	}
	cy := rafttest.Config(t, "y", lns[0], set)
	cy.WasMember = true
	sy := rafttest.OpenStore(t, cy, fsm.New())
	var fresh []*raftstore.Store
	for i, name := range []string{"x", "z", "w"} {
		fresh = append(fresh, rafttest.OpenStore(t, rafttest.Config(t, name, lns[i+1], set), fsm.New()))
	}
	// lns[4] stays silent.
	rafttest.HoldsFor(t, time.Second, notFormed(append([]*raftstore.Store{sy}, fresh...)...))
	if err := sy.Close(); err != nil {
		t.Fatal(err)
	}
	rafttest.HoldsFor(t, 2*time.Second, notFormed(fresh...))
}

// Without a node that lost its state (a takeover of a hand-made cluster, a
// new cluster) a majority still forms: the flag, not the rule, changed.
func TestFormation_NoNodeLostItsState_MajorityStillBootstraps(t *testing.T) {
	lx, ly, lz := rafttest.Listener(t, "127.0.0.1:0"), rafttest.Listener(t, "127.0.0.1:0"), rafttest.Listener(t, "127.0.0.1:0")
	set := []string{lx.Addr().String(), ly.Addr().String(), lz.Addr().String()}
	sx := rafttest.OpenStore(t, rafttest.Config(t, "x", lx, set), fsm.New())
	sy := rafttest.OpenStore(t, rafttest.Config(t, "y", ly, set), fsm.New())
	rafttest.WaitFor(t, 10*time.Second, func() error {
		if !sx.Formed() || !sy.Formed() {
			return errors.New("not formed")
		}
		return nil
	})
}

func TestFormation_SecretMismatch_DoesNotBootstrap(t *testing.T) {
	lx, ly := rafttest.Listener(t, "127.0.0.1:0"), rafttest.Listener(t, "127.0.0.1:0")
	set := []string{lx.Addr().String(), ly.Addr().String()}
	cx, cy := rafttest.Config(t, "x", lx, set), rafttest.Config(t, "y", ly, set)
	cx.Secret, cy.Secret = "one", "two"
	sx, sy := rafttest.OpenStore(t, cx, fsm.New()), rafttest.OpenStore(t, cy, fsm.New())
	rafttest.HoldsFor(t, 500*time.Millisecond, notFormed(sx, sy))
}

func TestJoin_NodeOfAnotherScope_IsRefused(t *testing.T) {
	c := rafttest.New(t, 3)
	i := c.AddNode(t, func(cfg *raftstore.Config) { cfg.Scope = "other" })
	rafttest.HoldsFor(t, time.Second, notFormed(c.Store(i)))
	if err := c.Store(i).JoinRejected(); !errors.Is(err, raftstore.ErrRejected) {
		t.Errorf("JoinRejected of the other-scope node: %v, want raftstore.ErrRejected", err)
	}
	if got := voters(t, c.Leader(t)); len(got) != 3 {
		t.Errorf("voters %v, want 3", got)
	}
	_, err := c.Follower(t).Join(testCtx(t), raftstore.JoinRequest{ID: c.Addr(i), Addr: c.Addr(i), Scope: "other"})
	if !errors.Is(err, raftstore.ErrRejected) {
		t.Errorf("direct join of another scope: %v, want raftstore.ErrRejected", err)
	}
}

func TestJoin_FourthFreshNode_JoinsAsVoter_UnlessValidateJoinRefuses(t *testing.T) {
	c := rafttest.New(t, 3)
	c.SetValidateJoin(func(req raftstore.JoinRequest, _ fsm.State) error {
		return fmt.Errorf("%w: node %s", fsm.ErrSystemIDMismatch, req.Name)
	})
	i := c.AddNode(t, nil)
	rafttest.HoldsFor(t, time.Second, notFormed(c.Store(i)))
	if err := c.Store(i).JoinRejected(); !errors.Is(err, raftstore.ErrRejected) || !errors.Is(err, fsm.ErrSystemIDMismatch) {
		t.Errorf("JoinRejected of the refused node: %v, want raftstore.ErrRejected and fsm.ErrSystemIDMismatch", err)
	}
	if got := voters(t, c.Leader(t)); len(got) != 3 {
		t.Fatalf("voters %v after refused join, want 3", got)
	}
	_, err := c.Follower(t).Join(testCtx(t), raftstore.JoinRequest{ID: c.Addr(i), Addr: c.Addr(i), Scope: rafttest.Scope, Name: "x"})
	if !errors.Is(err, raftstore.ErrRejected) || !errors.Is(err, fsm.ErrSystemIDMismatch) {
		t.Errorf("refused join via follower: %v, want raftstore.ErrRejected and fsm.ErrSystemIDMismatch", err)
	}

	// Accept from now on: the new node keeps retrying and gets in.
	c.SetValidateJoin(nil)
	rafttest.WaitFor(t, 10*time.Second, func() error { return c.CheckVoters(4) })
	rafttest.WaitFor(t, 10*time.Second, func() error {
		if !c.Store(i).Formed() {
			return errors.New("new node not formed")
		}
		return nil
	})
	idx, err := c.Store(i).Propose(testCtx(t), upsert("from-new"))
	if err != nil {
		t.Fatalf("propose from the new node: %v", err)
	}
	c.WaitApplied(t, idx)

	if err := c.Store(i).JoinRejected(); err != nil {
		t.Errorf("JoinRejected after joining: %v", err)
	}

	// Join is idempotent.
	if _, err := c.Store(0).Join(testCtx(t), raftstore.JoinRequest{ID: c.Addr(i), Addr: c.Addr(i), Scope: rafttest.Scope}); err != nil {
		t.Fatalf("join again: %v", err)
	}
	if got := voters(t, c.Leader(t)); len(got) != 4 {
		t.Errorf("voters %v after repeated join, want 4", got)
	}
}

func TestJoin_SameAddressNewID_ReplacesTheOldEntry(t *testing.T) {
	c := rafttest.New(t, 3)
	dead := rafttest.DeadAddr(t)
	ctx := testCtx(t)
	if _, err := c.Follower(t).Join(ctx, raftstore.JoinRequest{ID: "old", Addr: dead, Scope: rafttest.Scope}); err != nil {
		t.Fatalf("join old: %v", err)
	}
	if _, err := c.Follower(t).Join(ctx, raftstore.JoinRequest{ID: dead, Addr: dead, Scope: rafttest.Scope}); err != nil {
		t.Fatalf("join new: %v", err)
	}
	servers, err := c.Leader(t).Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, srv := range servers {
		ids = append(ids, srv.ID)
		if srv.ID == dead && srv.Voter {
			t.Errorf("%s is a voter at once; a joining server must start as a non-voter", dead)
		}
	}
	if slices.Contains(ids, "old") || !slices.Contains(ids, dead) || len(ids) != 4 {
		t.Errorf("servers %v, want the 3 nodes and %s", ids, dead)
	}
	if err := c.Follower(t).Remove(ctx, dead); err != nil {
		t.Fatalf("remove: %v", err)
	}
}

func TestRemoveAndLeave_ShrinkToOneVoter_AndRefuseRemovingTheLast(t *testing.T) {
	c := rafttest.New(t, 3)
	ctx := testCtx(t)
	leader := c.Leader(t)
	var f1, f2 *raftstore.Store
	for i := range 3 {
		if s := c.Store(i); s != leader {
			if f1 == nil {
				f1 = s
			} else {
				f2 = s
			}
		}
	}
	// Remove a follower, asked on the other follower.
	if err := f2.Remove(ctx, f1.Addr()); err != nil {
		t.Fatalf("remove: %v", err)
	}
	rafttest.WaitFor(t, 5*time.Second, func() error { return c.CheckVoters(2) })
	if err := f2.Remove(ctx, f1.Addr()); err != nil {
		t.Errorf("remove again (idempotent): %v", err)
	}
	// The leader leaves: leadership moves to f2 first.
	if err := leader.Leave(ctx); err != nil {
		t.Fatalf("leader leave: %v", err)
	}
	rafttest.WaitFor(t, 5*time.Second, func() error {
		if !f2.IsLeader() {
			return errors.New("f2 not leader")
		}
		return c.CheckVoters(1)
	})
	if err := f2.Leave(ctx); !errors.Is(err, raftstore.ErrRejected) {
		t.Errorf("last voter leave: %v, want raftstore.ErrRejected", err)
	}
	if err := f2.Remove(ctx, f2.Addr()); !errors.Is(err, raftstore.ErrRejected) {
		t.Errorf("remove last voter: %v, want raftstore.ErrRejected", err)
	}
	idx, err := f2.Propose(ctx, upsert("alone"))
	if err != nil {
		t.Fatalf("propose on the one-voter cluster: %v", err)
	}
	if err := raftstore.WaitFSM(f2, ctx, idx); err != nil {
		t.Fatal(err)
	}
}

func TestLinearizableState_OnFollower_SeesWriteJustMadeOnLeader(t *testing.T) {
	c := rafttest.New(t, 3)
	ctx := testCtx(t)
	leader, f := c.Leader(t), c.Follower(t)
	for i := range 20 {
		name := fmt.Sprintf("m%d", i)
		if _, err := leader.Propose(ctx, upsert(name)); err != nil {
			t.Fatalf("propose: %v", err)
		}
		st, err := f.LinearizableState(ctx)
		if err != nil {
			t.Fatalf("linearizable read: %v", err)
		}
		if _, ok := st.Members[name]; !ok {
			t.Fatalf("follower's linearizable state lacks %s (index %d)", name, st.Index)
		}
	}
	st, err := leader.LinearizableState(ctx)
	if err != nil || len(st.Members) != 20 {
		t.Fatalf("leader linearizable read: %d members, %v", len(st.Members), err)
	}
}

func TestPort_GarbageBytes_DoNotCrashAndRaftStillWorks(t *testing.T) {
	c := rafttest.New(t, 3)
	addr := c.Addr(0)
	big := make([]byte, raftstore.MaxRPCBody+1024)
	for i := range big {
		big[i] = '['
	}
	payloads := [][]byte{
		{},                   // connect and close
		{raftstore.RPCMagic}, // magic then close
		append([]byte{raftstore.RPCMagic}, "not json at all"...),
		append([]byte{raftstore.RPCMagic}, big...), // oversized body
		append([]byte{raftstore.RPCMagic}, `{"op":"nope"}`...),
		append([]byte{0}, "garbage after an append-entries type byte"...),
		append([]byte{3}, 0xff, 0xfe, 0xfd), // timeout-now with a broken body
		{0xff, 0x00, 0x13, 0x37},            // unknown type byte
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	}
	for i, p := range payloads {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write(p); err != nil && i != 3 {
			t.Logf("payload %d: write: %v", i, err)
		}
		conn.Close()
	}
	// A silent connection does not hold up others.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	idx, err := c.Follower(t).Propose(testCtx(t), upsert("after-garbage"))
	if err != nil {
		t.Fatalf("propose after garbage: %v", err)
	}
	c.WaitApplied(t, idx)
	if _, err := c.Store(0).LinearizableState(testCtx(t)); err != nil {
		t.Fatalf("read after garbage: %v", err)
	}
	// Close does not wait for the silent connection's peek deadline.
	start := time.Now()
	c.Stop(0)
	if d := time.Since(start); d > raftstore.PeekTimeout/2 {
		t.Errorf("close took %v with a silent connection open", d)
	}
}

func TestRPC_WrongSecret_IsRejected(t *testing.T) {
	c := rafttest.NewWithOptions(t, 1, rafttest.Options{Edit: func(_ int, cfg *raftstore.Config) { cfg.Secret = "right" }})
	info, _, _, err := raftstore.Hello(testCtx(t), c.Addr(0), "wrong", nil)
	if !errors.Is(err, raftstore.ErrRejected) || info {
		t.Errorf("hello with a wrong secret: %v, hello info %v", err, info)
	}
	info, scope, hasState, err := raftstore.Hello(testCtx(t), c.Addr(0), "right", nil)
	if err != nil || !info || !hasState || scope != rafttest.Scope {
		t.Errorf("hello: info %v scope %q has state %v: %v", info, scope, hasState, err)
	}
}
