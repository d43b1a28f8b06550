//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Rule 4 when two tenures promote to the same timeline number (issue 6 item
// 6). In asynchronous mode node A promotes from timeline 1 to 2, takes
// writes and dies before anyone follows it; another node then promotes from
// 1 to 2 as well. pg_rewind compares only the numbers ("no rewind
// required"), so without a check A would stream the new primary's WAL on top
// of rows nobody else has. A third node whose PostgreSQL is frozen (SIGSTOP)
// while A leads makes the sequence reproducible: it cannot follow A, yet its
// agent keeps the Raft quorum.
func TestDiverged_TwoPromotionsToTheSameTimelineNumber_FormerPrimaryIsClonedAgain(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	c.startAll()
	first := waitConverged(c, 90*time.Second)
	first.exec(t, "CREATE TABLE dv(id int PRIMARY KEY)")
	first.exec(t, "INSERT INTO dv SELECT generate_series(1, 10)")
	waitRowsEqual(t, c.nodes, first, 30*time.Second)
	var others []*node
	for _, n := range c.nodes {
		if n != first {
			others = append(others, n)
		}
	}
	a, frozen := others[0], others[1]

	thaw := freezePostgres(t, frozen)
	crashNode(t, first)
	waitMemberOn(t, a, a.name, "leader", 2, 60*time.Second)
	a.exec(t, "INSERT INTO dv SELECT generate_series(1000, 1100)")
	a.exec(t, "CHECKPOINT")
	crashNode(t, a)
	t.Logf("%s promoted to timeline 2, wrote ids 1000-1100 and crashed before anyone followed it", a.name)

	first.start()
	thaw()
	var second *node
	waitFor(t, 120*time.Second, "a second promotion to timeline 2 among "+first.name+" and "+frozen.name, func() error {
		for _, n := range []*node{first, frozen} {
			if role, state, tl, err := frozen.member(n.name); err == nil && role == "leader" && state == "running" && tl == 2 {
				second = n
				return nil
			}
		}
		return errors.New("no leader running on timeline 2 yet")
	})
	second.exec(t, "INSERT INTO dv SELECT generate_series(2000, 2010)")
	t.Logf("%s promoted to timeline 2 as well and wrote ids 2000-2010", second.name)

	a.start()
	leader := waitConverged(c, 180*time.Second)
	if leader == a {
		t.Fatalf("%s, whose timeline 2 nobody else has, leads again", a.name)
	}
	assertReplica(t, a)
	rows := waitRowsEqual(t, c.nodes, leader, 30*time.Second)
	if strings.Contains(","+rows+",", ",1000,") {
		t.Errorf("ids written only on %s's own timeline 2 are on the primary: %s", a.name, rows)
	}
	if !strings.Contains(rows, ",2010") {
		t.Errorf("the primary lost the rows written after the second promotion: %s", rows)
	}
	moved, _ := filepath.Glob(a.dataDir() + ".diverged-*")
	if len(moved) == 0 {
		t.Errorf("%s's diverged data directory was not kept aside", a.name)
	}
	if !a.logs.contains("pg_rewind cannot see that") {
		t.Errorf("%s's log does not say why it was cloned again", a.name)
	}
}

// Issue 6 item 10: a rewound former primary whose WAL from the fork point
// was recycled on the new primary (wal_keep_size 0, no slots) never streams
// on its own; the agent diagnoses it from the PostgreSQL log, shows why in
// /cluster, and clones it again.
func TestDiverged_RewoundFormerPrimaryWhoseWALWasRecycled_IsClonedAgainAndStreams(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{extra: func(*node) string { return "  pg_ctl_timeout: 15\n" }})
	for _, n := range c.nodes {
		rewriteConfig(t, n, "        wal_keep_size: 128MB\n", "        wal_keep_size: 0\n")
		rewriteConfig(t, n, "      use_pg_rewind: true\n", "      use_pg_rewind: true\n      use_slots: false\n")
	}
	c.startAll()
	old := waitConverged(c, 90*time.Second)
	old.exec(t, "CREATE TABLE dv(id int PRIMARY KEY, pad text)")
	old.exec(t, "INSERT INTO dv SELECT g, repeat('x', 200) FROM generate_series(1, 1000) g")
	// pg_rewind reads the old primary's own WAL back to its last checkpoint
	// before the fork; with wal_keep_size 0 that checkpoint must be recent
	// or pg_rewind fails (and the directory is cloned again for that reason).
	old.exec(t, "CHECKPOINT")
	waitRowsEqual(t, c.nodes, old, 30*time.Second)
	var others []*node
	for _, n := range c.nodes {
		if n != old {
			others = append(others, n)
		}
	}

	crashNode(t, old)
	newLeader := waitLeaderAmong(t, c, others, old, 60*time.Second)
	waitMemberOn(t, newLeader, newLeader.name, "leader", 2, 30*time.Second)
	forkSegment, err := newLeader.queryString("SELECT pg_walfile_name(pg_current_wal_lsn())")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		newLeader.exec(t, fmt.Sprintf("INSERT INTO dv SELECT g, repeat('y', 200) FROM generate_series(%d, %d) g", 10000+i*1000, 10999+i*1000))
		newLeader.exec(t, "SELECT pg_switch_wal()")
		newLeader.exec(t, "CHECKPOINT")
	}
	if left, err := newLeader.queryString("SELECT count(*)::text FROM pg_ls_waldir() WHERE name = '" + forkSegment + "'"); err != nil || left != "0" {
		t.Fatalf("%s still has WAL segment %s (count %q, %v): the fork point was not recycled", newLeader.name, forkSegment, left, err)
	}
	t.Logf("%s recycled %s, the segment its timeline 2 began in", newLeader.name, forkSegment)

	problems := watchProblems(t, newLeader, old.name)
	old.start()
	leader := waitConverged(c, 240*time.Second)
	seen := problems()
	if leader == old {
		t.Fatalf("the crashed node %s leads again", old.name)
	}
	assertReplica(t, old)
	waitRowsEqual(t, c.nodes, leader, 30*time.Second)
	if !old.logs.contains("not streaming from") {
		t.Errorf("%s's agent never diagnosed a standby that does not stream (the scenario may not have happened)", old.name)
	}
	if len(seen) == 0 {
		t.Errorf("/cluster never said why %s was not streaming", old.name)
	} else {
		t.Logf("/cluster showed for %s: %q", old.name, seen)
	}
	if moved, _ := filepath.Glob(old.dataDir() + ".diverged-*"); len(moved) == 0 {
		t.Errorf("%s's old data directory was not kept aside", old.name)
	}
}

// freezePostgres stops (SIGSTOP) a node's postmaster and all its children,
// so the standby neither streams nor follows anyone while its agent keeps
// running; the returned function continues them (also run at cleanup).
func freezePostgres(t testing.TB, n *node) (thaw func()) {
	t.Helper()
	pm := n.postmasterPID()
	if pm == 0 {
		t.Fatalf("%s: no postmaster to freeze", n.name)
	}
	pids := append([]int{pm}, childrenOf(pm)...)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	t.Logf("froze %s's PostgreSQL (pids %v)", n.name, pids)
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGCONT)
			}
		})
	}
	t.Cleanup(thaw)
	return thaw
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndex(s, ")")+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// waitMemberOn waits until on's /cluster shows name with role, running, on
// timeline tl.
func waitMemberOn(t testing.TB, on *node, name, role string, tl int, d time.Duration) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("%s as a running %s on timeline %d", name, role, tl), func() error {
		r, s, got, err := on.member(name)
		if err != nil {
			return err
		}
		if r != role || s != "running" || got != tl {
			return fmt.Errorf("%s is %s/%s on timeline %d", name, r, s, got)
		}
		return nil
	})
}

// rowsOf lists table dv's ids as a comma-separated string.
func rowsOf(n *node) (string, error) {
	return n.queryString("SELECT COALESCE(string_agg(id::text, ',' ORDER BY id), '') FROM dv")
}

// waitRowsEqual waits until every node's dv rows equal primary's and
// returns them.
func waitRowsEqual(t testing.TB, nodes []*node, primary *node, d time.Duration) string {
	t.Helper()
	var want string
	waitFor(t, d, "every node's rows equal "+primary.name+"'s", func() error {
		var err error
		if want, err = rowsOf(primary); err != nil {
			return err
		}
		for _, n := range nodes {
			got, err := rowsOf(n)
			if err != nil {
				return fmt.Errorf("%s: %w", n.name, err)
			}
			if got != want {
				return fmt.Errorf("%s has %d ids, %s has %d", n.name, strings.Count(got, ",")+1, primary.name, strings.Count(want, ",")+1)
			}
		}
		return nil
	})
	return want
}

// rewriteConfig replaces one snippet of a node's generated configuration.
func rewriteConfig(t testing.TB, n *node, old, repl string) {
	t.Helper()
	b, err := os.ReadFile(n.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s: %q not in the configuration", n.name, old)
	}
	if err := os.WriteFile(n.cfgPath, []byte(strings.Replace(string(b), old, repl, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, n.cfgPath)
}

// watchProblems polls on's /cluster for member name's "problem" field until
// the returned function is called; that function returns what it saw.
func watchProblems(t testing.TB, on *node, name string) func() []string {
	stop := make(chan struct{})
	done := make(chan struct{})
	var seen []string
	go func() {
		defer close(done)
		for {
			var cl struct {
				Members []struct {
					Name    string `json:"name"`
					Problem string `json:"problem"`
				} `json:"members"`
			}
			if _, err := getJSONWith(on.http(), on.apiURL()+"/cluster", &cl); err == nil {
				for _, m := range cl.Members {
					if m.Name == name && m.Problem != "" && (len(seen) == 0 || seen[len(seen)-1] != m.Problem) {
						seen = append(seen, m.Problem)
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	get := func() []string {
		once.Do(func() { close(stop) })
		<-done
		return seen
	}
	t.Cleanup(func() { get() })
	return get
}
