package ha

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/fsm"
)

// logLines collects the JSON lines of one hclog logger.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logLines) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns "member level message" for every line at info or above
// since the last call, and forgets them.
func (b *logLines) take(t *testing.T) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["@level"] == "debug" || m["@level"] == "trace" {
			continue
		}
		member, _ := m["member"].(string)
		if member == "" {
			t.Errorf("line without a member field: %s", line)
		}
		out = append(out, fmt.Sprintf("%s %s %s", member, m["@level"], m["@message"]))
	}
	b.buf.Reset()
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func wantLines(t *testing.T, phase string, got []string, want ...string) {
	t.Helper()
	if g, w := strings.Join(sorted(got), "\n"), strings.Join(sorted(want), "\n"); g != w {
		t.Errorf("%s: log lines\n%s\nwant\n%s", phase, g, w)
	}
}

// A scripted life of a two-member cluster: bootstrap, a replica joining,
// a steady state, the leader losing its lease, a failover and the old
// leader rejoining. Every role change, lease event and decision that
// changes something is one line at info or above (warn/error when
// abnormal), and the steady state logs nothing at info.
func TestLoop_Logs_EachDecisionRoleChangeAndLeaseEventOnce(t *testing.T) {
	out := &logLines{}
	logger := hclog.New(&hclog.LoggerOptions{JSONFormat: true, Output: out, Level: hclog.Debug})
	ev := &recordEvents{}
	n1, c, pg1, clock := newLeaderWith(t, nil, Config{Logger: logger, Events: ev, Member: fsm.Member{Host: "h1", Port: 5432}})
	wantLines(t, "bootstrap", out.take(t),
		"n1 info decision", // cluster not initialized: bootstrapping
		"n1 info initialized a new cluster",
		"n1 info acquired the leader key",
	)

	pg2 := &fakePG{st: PGStatus{DataDir: DataDirValid, SystemID: "7001", Timeline: 1, InRecovery: true}}
	n2 := New(Config{Name: "n2", Clock: clock, Boottime: fakeBoottime(clock), Logger: logger, Member: fsm.Member{Host: "h2", Port: 5432}}, c, pg2)
	mustTurn(t, n1, n2)
	wantLines(t, "replica joins", out.take(t),
		"n1 info decision", // no action: I am the leader with the lease
		"n2 info decision", // starting as a replica of n1
		"n2 info started as a replica",
	)

	for i := 0; i < 10; i++ {
		clock.advance(time.Second)
		mustTurn(t, n1, n2)
	}
	wantLines(t, "steady state, 10 turns", out.take(t),
		"n1 info decision", // once: the leader keeps a slot for n2 now (sync-slots[n2])
		"n2 info decision", // once: the replica now streams from n1
	)

	// n1 loses Raft: its renewals fail until its trust runs out.
	c.setDown(true)
	clock.advance(time.Second)
	mustTurn(t, n1)
	clock.advance(time.Second)
	mustTurn(t, n1)
	clock.advance(2 * time.Second)
	mustTurn(t, n1) // past sent + ttl - FenceMargin: fenced
	mustTurn(t, n1) // still no quorum, PostgreSQL stopped: starts read-only
	wantLines(t, "lease lost", out.take(t),
		"n1 warn lease renewal failing", // the renew step's failure itself is not logged again
		"n1 info decision",              // leader without a trusted lease: renewing, fencing if that fails
		"n1 error fencing PostgreSQL",
		"n1 info decision", // leader with PostgreSQL stopped: starting it
		"n1 warn leader key not renewed: starting PostgreSQL read-only",
		"n1 error action failed",
	)

	c.setDown(false)
	clock.advance(4 * time.Second) // n1's key expired for n2
	mustTurn(t, n2)
	mustTurn(t, n2)
	wantLines(t, "failover", out.take(t),
		"n2 info decision", // leader n1 lease expired: taking over (acquire promotes)
		"n2 info acquired the leader key",
		"n2 info promoted",
		"n2 info decision", // no action: I am the leader with the lease
	)

	mustTurn(t, n1)
	mustTurn(t, n1)
	wantLines(t, "rejoin", out.take(t),
		"n1 error leader key lost", // seen in the state: n2 holds it
		"n1 info decision",         // following the new leader n2
		"n1 info following a new leader",
		"n1 info steps succeed again",
		"n1 info decision", // no action: streaming from leader n2
	)
	for i := 0; i < 5; i++ {
		clock.advance(time.Second)
		mustTurn(t, n1, n2)
	}
	wantLines(t, "steady state after the failover", out.take(t))

	// Someone starts n1's PostgreSQL writable by hand: demoted, once.
	pg1.mu.Lock()
	pg1.st.InRecovery, pg1.st.Following = false, ""
	pg1.mu.Unlock()
	for i := 0; i < 3; i++ {
		clock.advance(time.Second)
		mustTurn(t, n1, n2)
	}
	wantLines(t, "writable by hand", out.take(t),
		"n1 info decision", // n2 holds the leader key: demoting the local primary
		"n1 info demoted",
		"n1 info decision", // no action: streaming from leader n2
	)
	if pg1.called("promote") || !pg2.called("promote") {
		t.Errorf("promotions: n1 %v, n2 %v", pg1.calls, pg2.calls)
	}
	if ev.fences != 1 {
		t.Errorf("fences counted %d, want 1", ev.fences)
	}
}

func mustTurn(t *testing.T, loops ...*Loop) {
	t.Helper()
	for _, l := range loops {
		if _, err := l.turn(context.Background()); err != nil {
			t.Fatalf("%s: turn: %v", l.cfg.Name, err)
		}
	}
}

func TestConditionKey_MasksNumbersNotNames(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"no leader; not a candidate: lag 123 bytes exceeds maximum_lag_on_failover 100", "no leader; not a candidate: lag 99999 bytes exceeds maximum_lag_on_failover 100"},
		{"waiting for WAL up to 0/3000060 (at 0/2000000)", "waiting for WAL up to 0/30000F8 (at 0/2FFFFA0)"},
	} {
		if conditionKey(tc.a) != conditionKey(tc.b) {
			t.Errorf("%q and %q are different conditions", tc.a, tc.b)
		}
	}
	if conditionKey("streaming from leader node1") == conditionKey("streaming from leader node2") {
		t.Error("member names lost their digits")
	}
}

func TestLoop_Logs_AFailingStepLogsOnceThenWhenItRecovers(t *testing.T) {
	out := &logLines{}
	l := New(Config{Name: "n1", Logger: hclog.New(&hclog.LoggerOptions{JSONFormat: true, Output: out, Level: hclog.Debug})}, newFakeCluster(), &fakePG{})
	p := plan("following the new leader n2", act(ActFollow))
	for i := 0; i < 5; i++ {
		l.logOutcome(p, fmt.Errorf("follow: pg_ctl: exit status %d", i)) // differs only in a number
	}
	l.logOutcome(p, nil)
	l.logOutcome(p, nil)
	wantLines(t, "failing step", out.take(t), "n1 error action failed", "n1 info steps succeed again")
}

// A switchover hands the key over: the old leader logs the hand-over and
// its new role, never "leader key lost".
func TestLoop_Logs_SwitchoverIsNoLostKey(t *testing.T) {
	out := &logLines{}
	l, c, _ := newSwitchoverLeader(t, nil)
	l.log = hclog.New(&hclog.LoggerOptions{JSONFormat: true, Output: out, Level: hclog.Debug}).Named("ha")
	mustTurn(t, l)
	c.Propose(context.Background(), fsm.AcquireLeader{Member: "n2", ExpectIndex: c.State().LeaderIndex, TTL: 3})
	mustTurn(t, l)
	mustTurn(t, l)
	wantLines(t, "switchover", out.take(t),
		"n1 info decision", // switchover to n2: stopping PostgreSQL cleanly and handing the leader key over
		"n1 info switchover: stopping PostgreSQL cleanly",
		"n1 info handed the leader key over", // and started as n2's standby in the same step
		"n1 info decision",                   // no action: streaming from leader n2
	)
}

// Failsafe mode: entered and left once each however many renewals it
// carries; a refusal is logged once, not at every attempt.
func TestLoop_Logs_FailsafeEnteredLeftAndRefusedOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peers Peers
		want  []string
	}{
		// A renewal failsafe carries is no failed renewal.
		{"every member answers", fakePeers{}, []string{"n1 warn failsafe mode entered", "n1 warn failsafe mode left"}},
		{"a member refuses", fakePeers{err: errors.New("n2: HTTP 500")}, []string{
			"n1 warn lease renewal failing", "n1 warn failsafe mode refused", "n1 info decision", "n1 error fencing PostgreSQL",
			"n1 info decision", "n1 warn leader key not renewed: starting PostgreSQL read-only", "n1 error action failed",
			// Raft back: the key is still n1's, its PostgreSQL read-only: promoted.
			"n1 info lease renewed after failures", "n1 info decision", "n1 info promoted", "n1 info steps succeed again", "n1 info decision"}},
	} {
		out := &logLines{}
		l, c, _, clock := newLeaderWith(t, map[string]any{"failsafe_mode": true},
			Config{Peers: tc.peers, Logger: hclog.New(&hclog.LoggerOptions{JSONFormat: true, Output: out, Level: hclog.Debug})})
		c.Propose(context.Background(), fsm.UpsertMember{Member: fsm.Member{Name: "n2"}})
		mustTurn(t, l)
		out.take(t)
		c.setDown(true)
		for i := 0; i < 6; i++ {
			clock.advance(time.Second)
			l.turn(context.Background())
		}
		c.setDown(false)
		clock.advance(time.Second)
		mustTurn(t, l)
		mustTurn(t, l)
		wantLines(t, tc.name, out.take(t), tc.want...)
	}
}
