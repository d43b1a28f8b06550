//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Rule 4 without pg_rewind (postgresql.use_pg_rewind: false): the crashed
// old primary comes back on a diverged timeline; its data directory is moved
// aside (never deleted) and cloned again from the new primary, with no
// manual step.
func TestNodeCrash_WithoutPgRewind_OldPrimaryIsClonedAgain(t *testing.T) {
	b := setUp(t, clusterOptions{extra: func(*node) string { return "  use_pg_rewind: false\n" }}, nil)
	old := b.leader
	crashNode(t, old)
	newLeader := waitLeaderAmong(t, b.c, b.others(old), old, 30*time.Second)
	b.w.waitWritesOn(t, newLeader, time.Now(), 30*time.Second)

	old.start()
	leader := waitConverged(b.c, 120*time.Second)
	if leader == old {
		t.Fatalf("the crashed node %s leads again", old.name)
	}
	assertReplica(t, old)
	if rewound(old) {
		t.Error("pg_rewind ran although use_pg_rewind is false")
	}
	moved, _ := filepath.Glob(old.dataDir() + ".diverged-*")
	if len(moved) != 1 {
		t.Fatalf("diverged data directory kept aside: %v; want exactly one", moved)
	}
	if _, err := os.Stat(filepath.Join(moved[0], "PG_VERSION")); err != nil {
		t.Errorf("the moved-aside directory lost its contents: %v", err)
	}
	// The operator is told where the old data went: the warning names
	// the moved-aside path itself.
	if !old.logs.containsAll("moved the diverged data directory aside", "path="+moved[0]) {
		t.Errorf("no log line naming the moved-aside directory %s", moved[0])
	}
	b.finish(asyncMode)
}
