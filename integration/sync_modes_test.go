//go:build integration

package integration

// Synchronous-mode variants the README configures and no other test runs:
// synchronous_mode_strict and synchronous_node_count above 1.

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// syncStandbys returns the members n's /cluster shows as sync_standby.
func syncStandbys(n *node) ([]string, error) {
	cl, err := n.cluster()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range cl.Members {
		if m.Role == "sync_standby" {
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// synchronous_mode_strict: both replicas' PostgreSQL die and cannot start
// again (data directory mode 0777, contents untouched), their agents stay
// up so Raft keeps quorum. The primary must not acknowledge any commit
// issued after its standbys are gone, for several leases (non-strict mode
// would clear synchronous_standby_names and acknowledge unreplicated
// commits); synchronous_standby_names stays non-empty and nobody fails
// over. Once a standby can start again, commits are acknowledged again on
// the same primary, and no acknowledged commit is lost.
func TestSynchronousModeStrict_NoStandby_CommitsWaitUntilOneReturns(t *testing.T) {
	b := setUp(t, clusterOptions{dcs: "    synchronous_mode: true\n    synchronous_mode_strict: true"}, nil)
	primary := b.leader
	reps := b.others(primary)
	waitFor(t, 30*time.Second, "a recorded synchronous standby", func() error {
		s, err := syncStandbys(primary)
		if err == nil && len(s) == 0 {
			err = errors.New("none yet")
		}
		return err
	})
	b.w.waitWritesOn(t, primary, time.Now(), 15*time.Second)

	var restore []func()
	defer func() {
		for _, f := range restore {
			f()
		}
	}()
	for _, n := range reps {
		n := n
		if err := os.Chmod(n.dataDir(), 0o777); err != nil {
			t.Fatal(err)
		}
		restore = append(restore, func() { os.Chmod(n.dataDir(), 0o700) })
		killPostmaster(t, n)
	}
	waitFor(t, 15*time.Second, primary.name+" sees no standby", func() error {
		v, err := primary.queryString("SELECT count(*)::text FROM pg_stat_replication")
		if err != nil || v != "0" {
			return fmt.Errorf("pg_stat_replication rows %q, %v", v, err)
		}
		return nil
	})
	t0 := time.Now()
	t.Logf("both replicas' PostgreSQL down (unstartable); %s sees no standby", primary.name)
	holdsFor(t, 3*ttl, "no commit acknowledged without a standby", func() error {
		for _, op := range b.w.snapshot() {
			if op.result == opOK && op.start.After(t0) {
				return fmt.Errorf("client %d's INSERT %d issued %v after the standbys were gone was acknowledged by %s",
					op.client, op.id, op.start.Sub(t0).Round(time.Millisecond), op.server)
			}
		}
		if _, ok := b.p.firstSuccessAfter(reps[0].name, t0); ok {
			return fmt.Errorf("%s became writable", reps[0].name)
		}
		if _, ok := b.p.firstSuccessAfter(reps[1].name, t0); ok {
			return fmt.Errorf("%s became writable", reps[1].name)
		}
		return nil
	})
	names, err := primary.queryString("SHOW synchronous_standby_names")
	if err != nil || names == "" {
		t.Errorf("synchronous_standby_names on %s = %q, %v; strict mode must never leave it empty", primary.name, names, err)
	}
	_, _, info := b.w.counts()
	t.Logf("after %v: nothing acknowledged; synchronous_standby_names = %q; %d writes indeterminate so far", time.Since(t0).Round(time.Millisecond), names, info)

	t1 := time.Now()
	restore[0]()
	rto := b.w.waitWritesOn(t, primary, t1, 60*time.Second)
	t.Logf("%s can start again: commits acknowledged on %s %v later", reps[0].name, primary.name, rto.Round(time.Millisecond))
	for _, f := range restore {
		f()
	}
	restore = nil
	if leader := b.finish(noLoss); leader != primary {
		t.Errorf("leader changed from %s to %s", primary.name, leader.name)
	}
}

// synchronous_node_count: 2 with two replicas: both are recorded as
// synchronous standbys, both are in synchronous_standby_names with a count
// of 2, and PostgreSQL reports both sync.
func TestSynchronousNodeCount2_BothReplicasAreSynchronous(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{dcs: "    synchronous_mode: true\n    synchronous_node_count: 2"})
	c.startAll()
	leader := waitConverged(c, 90*time.Second)
	var reps []string
	for _, n := range c.nodes {
		if n != leader {
			reps = append(reps, n.name)
		}
	}
	sort.Strings(reps)
	want := fmt.Sprintf(`2 (%s, %s)`, reps[0], reps[1])
	waitFor(t, 30*time.Second, "two recorded synchronous standbys", func() error {
		for _, n := range c.nodes {
			s, err := syncStandbys(n)
			if err != nil {
				return err
			}
			if strings.Join(s, ",") != strings.Join(reps, ",") {
				return fmt.Errorf("%s's /cluster: sync standbys %v, want %v", n.name, s, reps)
			}
		}
		names, err := leader.queryString("SHOW synchronous_standby_names")
		if err != nil {
			return err
		}
		if strings.ReplaceAll(names, `"`, "") != want {
			return fmt.Errorf("synchronous_standby_names = %q, want %s", names, want)
		}
		v, err := leader.queryString("SELECT string_agg(application_name || ':' || sync_state, ',' ORDER BY application_name) FROM pg_stat_replication")
		if err != nil {
			return err
		}
		if v != reps[0]+":sync,"+reps[1]+":sync" {
			return fmt.Errorf("pg_stat_replication: %s", v)
		}
		return nil
	})
	// remote_apply: the commit returns once both standbys replayed it, so
	// the row is there when they are read (on, the default, waits for
	// their flush only).
	leader.exec(t, "SET synchronous_commit = remote_apply; CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
	for _, name := range reps {
		if v, err := c.byName(name).queryString("SELECT count(*)::text FROM t"); err != nil || v != "1" {
			t.Errorf("%s: committed row not there right after the commit: %q, %v", name, v, err)
		}
	}
}
