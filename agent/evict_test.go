package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/raftstore"
)

// fakeEvictStore answers with a fixed fresh state and records the calls
// that change something, in order.
type fakeEvictStore struct {
	fresh     fsm.State
	freshErr  error
	servers   []string
	proposed  error  // the answer to Propose
	checkErr  error  // the answer to CheckRemove
	removeErr error  // the answer to Remove
	leader    string // the Raft leader's address
	alive     string // the address that answers a hello
	wakesAt   int    // alive answers only from this hello on (0: from the first)
	hellos    int
	calls     []string
}

func (f *fakeEvictStore) LinearizableState(context.Context) (fsm.State, error) {
	return f.fresh, f.freshErr
}

func (f *fakeEvictStore) RaftServerIDs() ([]string, error) { return f.servers, nil }

func (f *fakeEvictStore) CheckRemove(_ context.Context, id string) error {
	f.calls = append(f.calls, "check "+id)
	return f.checkErr
}

func (f *fakeEvictStore) Remove(_ context.Context, id string) error {
	f.calls = append(f.calls, "remove-server "+id)
	return f.removeErr
}

func (f *fakeEvictStore) Leader() string { return f.leader }

func (f *fakeEvictStore) AnswersHello(_ context.Context, addr string) bool {
	f.hellos++
	return addr == f.alive && f.hellos >= f.wakesAt
}

func (f *fakeEvictStore) Propose(_ context.Context, c fsm.Command) (uint64, error) {
	switch c := c.(type) {
	case fsm.RemoveStaleMember:
		f.calls = append(f.calls, fmt.Sprintf("remove-stale-member %s@%d", c.Name, c.ExpectIndex))
	case fsm.RemoveMember:
		f.calls = append(f.calls, "remove-member "+c.Name)
	default:
		f.calls = append(f.calls, fmt.Sprintf("propose %T", c))
	}
	return 1, f.proposed
}

// evictState has a primary n1, a replica n2 that reported at index 70 and
// a replica n3 that reported at index 40, all at protocol level level.
func evictState(level int) fsm.State {
	member := func(name, addr string, role string, idx uint64) fsm.Member {
		return fsm.Member{Name: name, RaftAddr: addr, Role: role, UpdatedIndex: idx, Protocol: level}
	}
	return fsm.State{
		Leader: &fsm.Leader{Member: "n1"},
		Members: map[string]fsm.Member{
			"n1": member("n1", "h1:1", fsm.RolePrimary, 90),
			"n2": member("n2", "h2:1", fsm.RoleReplica, 70),
			"n3": member("n3", "h3:1", fsm.RoleReplica, 40),
		},
	}
}

// silentSince answers silence measured here: n3's report at 40 is a minute
// old, any other report was not observed here.
func silentSince(name string, index uint64) (time.Duration, bool) {
	if name == "n3" && index == 40 {
		return time.Minute, true
	}
	return 0, false
}

func newEviction(store *fakeEvictStore) eviction {
	return eviction{store: store, silence: silentSince, ttl: 30 * time.Second, log: hclog.NewNullLogger()}
}

// An eviction removes the member record first, by a compare-and-swap on the
// report read fresh from the leader, and the Raft server after: a member
// that reported meanwhile keeps both (issue 11).
func TestEvict_RemovesTheRecordByCompareAndSwapBeforeTheRaftServer(t *testing.T) {
	store := &fakeEvictStore{fresh: evictState(fsm.Protocol), servers: []string{"h1:1", "h2:1", "h3:1"}}
	if err := newEviction(store).run(context.Background(), "n3"); err != nil {
		t.Fatal(err)
	}
	want := []string{"check h3:1", "remove-stale-member n3@40", "remove-server h3:1"}
	if strings.Join(store.calls, ", ") != strings.Join(want, ", ") {
		t.Errorf("calls %q, want %q", store.calls, want)
	}
}

// While an agent older than RemoveStaleMember applies the log (a Raft
// server without a record at the level counts), the eviction keeps the
// older order and command, still decided on the fresh read.
func TestEvict_BelowTheProtocolGate_KeepsTheOlderOrder(t *testing.T) {
	for name, store := range map[string]*fakeEvictStore{
		"old member":          {fresh: evictState(0), servers: []string{"h1:1", "h2:1", "h3:1"}},
		"server of no record": {fresh: evictState(fsm.Protocol), servers: []string{"h1:1", "h2:1", "h3:1", "h4:1"}},
	} {
		if err := newEviction(store).run(context.Background(), "n3"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := []string{"remove-server h3:1", "remove-member n3"}
		if strings.Join(store.calls, ", ") != strings.Join(want, ", ") {
			t.Errorf("%s: calls %q, want %q", name, store.calls, want)
		}
	}
}

// Each refusal answers 409 (ErrMembershipConflict) or, without a fresh
// read, an error the API answers 503 with, and changes nothing.
func TestEvict_Refusals_ChangeNothing(t *testing.T) {
	withSync := evictState(fsm.Protocol)
	withSync.Sync = fsm.Sync{Leader: "n1", Members: []string{"n3"}}
	// A lagging node's own copy showed n3's report at 40; the leader has
	// one at 95, which this node has not observed yet.
	reported := evictState(fsm.Protocol)
	m := reported.Members["n3"]
	m.UpdatedIndex = 95
	reported.Members["n3"] = m
	noLeader := errors.New("no raft leader")
	for _, c := range []struct {
		name   string
		store  *fakeEvictStore
		member string
		want   string
	}{
		{"leader key", &fakeEvictStore{fresh: evictState(fsm.Protocol)}, "n1", "holds the leader key"},
		{"synchronous standby", &fakeEvictStore{fresh: withSync}, "n3", "recorded synchronous standby"},
		{"reports within ttl", &fakeEvictStore{fresh: evictState(fsm.Protocol)}, "n2", "still reports"},
		{"reported per the fresh read", &fakeEvictStore{fresh: reported}, "n3", "still reports"},
		{"no fresh read", &fakeEvictStore{freshErr: noLeader}, "n3", "no up-to-date read"},
	} {
		err := newEviction(c.store).run(context.Background(), c.member)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		conflict := errors.Is(err, api.ErrMembershipConflict)
		if c.store.freshErr != nil && (conflict || !errors.Is(err, noLeader)) {
			t.Errorf("%s: %v, want the read's error (503), not a conflict", c.name, err)
		} else if c.store.freshErr == nil && !conflict {
			t.Errorf("%s: %v, want a conflict (409)", c.name, err)
		}
		if len(c.store.calls) != 0 {
			t.Errorf("%s: calls %q, want none", c.name, c.store.calls)
		}
	}
}

// A member that reports between the read and the removal is kept: the
// compare-and-swap refuses (409) and the Raft server stays.
func TestEvict_MemberReportedMeanwhile_KeepsItsRaftServer(t *testing.T) {
	store := &fakeEvictStore{fresh: evictState(fsm.Protocol), servers: []string{"h1:1", "h2:1", "h3:1"},
		proposed: fmt.Errorf("%w: %w", raftstore.ErrRejected, fsm.ErrMemberChanged)}
	err := newEviction(store).run(context.Background(), "n3")
	if !errors.Is(err, api.ErrMembershipConflict) || !strings.Contains(err.Error(), "reported while") {
		t.Errorf("eviction of a member that reported meanwhile: %v, want a conflict", err)
	}
	for _, c := range store.calls {
		if strings.HasPrefix(c, "remove-server") {
			t.Errorf("calls %q: the Raft server was removed", store.calls)
		}
	}
}

// A removal the voters that remain could not commit is refused (409)
// before the member record goes: the quorum check (witnessleave) still
// comes first.
func TestEvict_QuorumCheckRefuses_BeforeTheRecordGoes(t *testing.T) {
	store := &fakeEvictStore{fresh: evictState(fsm.Protocol), servers: []string{"h1:1", "h2:1", "h3:1"},
		checkErr: fmt.Errorf("%w: n2 does not answer", raftstore.ErrQuorumLoss)}
	err := newEviction(store).run(context.Background(), "n3")
	if !errors.Is(err, api.ErrMembershipConflict) {
		t.Errorf("eviction refused by the quorum check: %v, want a conflict", err)
	}
	if want := "check h3:1"; strings.Join(store.calls, ", ") != want {
		t.Errorf("calls %q, want only %q", store.calls, want)
	}
}

// When the Raft server cannot be removed after the record went, the error
// names the command that finishes the eviction.
func TestEvict_RaftServerNotRemoved_NamesTheCommandThatFinishes(t *testing.T) {
	store := &fakeEvictStore{fresh: evictState(fsm.Protocol), servers: []string{"h1:1", "h2:1", "h3:1"},
		removeErr: errors.New("leadership lost while committing log")}
	err := newEviction(store).run(context.Background(), "n3")
	if err == nil || !strings.Contains(err.Error(), "finish with conclave leave h3:1 --evict") {
		t.Errorf("eviction whose Raft removal failed: %v, want the command that finishes it", err)
	}
}

// orphanState is evictState without n3's record: its Raft server h3:1
// stays, as a half-failed eviction leaves it.
func orphanState() fsm.State {
	st := evictState(fsm.Protocol)
	delete(st.Members, "n3")
	return st
}

// A Raft server that no member record names is evicted by its address:
// the quorum check, then the removal, and no FSM command.
func TestEvictServer_WithoutMemberRecord_RemovesTheRaftServer(t *testing.T) {
	store := &fakeEvictStore{fresh: orphanState(), servers: []string{"h1:1", "h2:1", "h3:1"}, leader: "h1:1"}
	if err := newEviction(store).run(context.Background(), "h3:1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"check h3:1", "remove-server h3:1"}
	if strings.Join(store.calls, ", ") != strings.Join(want, ", ") {
		t.Errorf("calls %q, want %q", store.calls, want)
	}
}

// Each refusal of an eviction by address changes nothing: a server a
// record names (evict by name), no such server (400), this node's own
// server, the Raft leader's, a server that answers a hello, and a removal
// the voters that remain could not commit (after its check only).
func TestEvictServer_Refusals_ChangeNothing(t *testing.T) {
	servers := []string{"h1:1", "h2:1", "h3:1", "h4:1"}
	quorumLoss := fmt.Errorf("%w: h2:1 does not answer", raftstore.ErrQuorumLoss)
	for _, c := range []struct {
		name, addr string
		store      *fakeEvictStore
		self       string
		invalid    bool // 400 rather than 409
		want       string
		calls      string
	}{
		{"record names it", "h2:1", &fakeEvictStore{}, "", false, "belongs to member n2: evict it by name (conclave leave n2 --evict)", ""},
		{"no such server", "h9:1", &fakeEvictStore{}, "", true, "no member h9:1, nor a Raft server", ""},
		{"own server", "h3:1", &fakeEvictStore{}, "h3:1", false, "this node's own Raft server", ""},
		{"raft leader", "h3:1", &fakeEvictStore{leader: "h3:1"}, "", false, "is the Raft leader", ""},
		{"answers a hello", "h3:1", &fakeEvictStore{alive: "h3:1"}, "", false, "answers: it is alive: run conclave leave on it, or stop it first", ""},
		{"quorum check", "h3:1", &fakeEvictStore{checkErr: quorumLoss}, "", false, "does not answer", "check h3:1"},
	} {
		c.store.fresh, c.store.servers = orphanState(), servers
		e := newEviction(c.store)
		e.self = c.self
		err := e.run(context.Background(), c.addr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if c.invalid != errors.Is(err, api.ErrMembershipInvalid) || c.invalid == errors.Is(err, api.ErrMembershipConflict) {
			t.Errorf("%s: %v, want invalid (400) %v, else a conflict (409)", c.name, err, c.invalid)
		}
		if got := strings.Join(c.store.calls, ", "); got != c.calls {
			t.Errorf("%s: calls %q, want %q", c.name, got, c.calls)
		}
	}
}

// An eviction by address watches the server for a while, not one probe: a
// node that misses a hello (stalled by I/O, paused for a moment) and
// answers the next one is kept.
func TestEvictServer_AnswerAfterAMissedHello_IsRefused(t *testing.T) {
	st := evictState(fsm.Protocol)
	store := &fakeEvictStore{fresh: st, servers: []string{"h1:1", "h2:1", "h3:1", "h9:1"}, alive: "h9:1", wakesAt: 3}
	e := newEviction(store)
	e.watch = 2 * time.Second
	err := e.run(context.Background(), "h9:1")
	if !errors.Is(err, api.ErrMembershipConflict) || !strings.Contains(err.Error(), "it is alive") {
		t.Fatalf("evict h9:1, which answered its third hello: %v, want refused as alive", err)
	}
	if store.hellos != 3 {
		t.Errorf("%d hellos, want the watch to stop at the first answer (3)", store.hellos)
	}
	for _, c := range store.calls {
		if strings.HasPrefix(c, "remove-server") {
			t.Fatalf("removed the server although it answered: %v", store.calls)
		}
	}
}
