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
	fresh    fsm.State
	freshErr error
	servers  []string
	proposed error // the answer to Propose
	checkErr error // the answer to CheckRemove
	calls    []string
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
	return nil
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
