//go:build integration

package integration

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// README ("How it fails over"): a PostgreSQL crash on the primary is
// restarted in place; failover happens only if it does not come back within
// primary_start_timeout. The primary's data directory is made unstartable
// without touching its contents (mode 0777: the postmaster refuses to start
// on a directory others can write), then its postmaster is killed. The
// agent keeps the key and retries for primary_start_timeout (5 s), then
// gives the key up and a replica is promoted. With the mode restored the
// old primary rejoins as a replica.
func TestPrimaryStartTimeout_UnstartablePrimary_ReplicaPromotedAfterTimeout(t *testing.T) {
	const startTimeout = 5 * time.Second
	b := setUp(t, clusterOptions{dcs: "    primary_start_timeout: 5"}, nil)
	old := b.leader
	if err := os.Chmod(old.dataDir(), 0o777); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := os.Chmod(old.dataDir(), 0o700); err != nil {
				t.Error(err)
			}
		}
	}
	defer restore()
	t0 := time.Now()
	pid := killPostmaster(t, old)
	t.Logf("made %s's data directory mode 0777 and killed its postmaster (pid %d)", old.name, pid)

	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, startTimeout+30*time.Second)
	took := time.Since(t0)
	t.Logf("%s leads %v after the crash", newLeader.name, took.Round(time.Millisecond))
	if !old.logs.contains("did not start within primary_start_timeout") || !old.logs.contains("primary_start_timeout passed") {
		t.Errorf("%s's log does not say it gave up the key after primary_start_timeout (the lease lapsed instead?)", old.name)
	}
	if !old.logs.contains("invalid permissions") {
		t.Logf("note: %s's log does not show PostgreSQL's permission error", old.name)
	}
	// Before the timeout nobody else may have taken over: the agent holds the
	// key and keeps retrying (a lease expiry would have given a replica the
	// key about ttl after the crash).
	first, ok := b.p.firstSuccessAfter(newLeader.name, t0)
	if !ok {
		waitFor(t, 10*time.Second, "a probe write on "+newLeader.name, func() error {
			if first, ok = b.p.firstSuccessAfter(newLeader.name, t0); !ok {
				return fmt.Errorf("none yet")
			}
			return nil
		})
	}
	t.Logf("first probe write on %s began %v after the crash", newLeader.name, first.Sub(t0).Round(time.Millisecond))
	if first.Sub(t0) < startTimeout {
		t.Errorf("%s became writable %v after the crash, before primary_start_timeout (%v)", newLeader.name, first.Sub(t0), startTimeout)
	}
	if took > startTimeout+ttl+scaled(5*time.Second) {
		t.Errorf("failover took %v; want within primary_start_timeout + ttl + 5 s", took)
	}
	// A backend of the killed postmaster can still commit a write it was
	// given around the kill (it notices the postmaster's death only at its
	// next wait: FAULTS.md); what must never happen is a write on it once
	// the new primary takes writes (the spans check in finish covers every
	// overlap too).
	if at, ok := b.p.firstSuccessAfter(old.name, first); ok {
		t.Errorf("%s accepted a write at %v, after %s took writes", old.name, at.Sub(t0), newLeader.name)
	}

	restore()
	leader := waitConverged(b.c, 90*time.Second)
	if leader == old {
		t.Errorf("%s leads again", old.name)
	}
	assertReplica(t, old)
	b.finish(asyncMode)
}
