//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// DESIGN.md, rule 4: an agent restarted right after pg_rewind stopped in the
// middle must not start the partly rewritten directory. The marker a
// pg_rewind leaves while it runs (raft.data_dir/rewind-incomplete, outside
// the data directory) is planted on a stopped replica, as an agent killed
// during pg_rewind would leave it; the restarted agent moves the directory
// aside and clones again, and the replica streams with every row.
func TestRewindMarker_AgentRestartedAfterAnUnfinishedRewind_ClonesInsteadOfStarting(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	c.startAll()
	leader := waitConverged(c, 90*time.Second)
	leader.exec(t, "CREATE TABLE rewind_marker_probe (id int); INSERT INTO rewind_marker_probe VALUES (1)")
	var r *node
	for _, n := range c.nodes {
		if n != leader {
			r = n
			break
		}
	}
	r.stop()
	waitFor(t, 30*time.Second, r.name+"'s PostgreSQL stopped", func() error {
		if pid := r.postmasterPID(); pid != 0 {
			return fmt.Errorf("postmaster %d still running", pid)
		}
		return nil
	})
	marker := filepath.Join(r.dir, "raft", "rewind-incomplete")
	if err := os.WriteFile(marker, []byte("running\n"+r.dataDir()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, marker)
	leader.exec(t, "INSERT INTO rewind_marker_probe VALUES (2)")
	r.start()
	waitConverged(c, 90*time.Second)

	aside, _ := filepath.Glob(r.dataDir() + ".diverged-*")
	if len(aside) != 1 || !movedAside(r) {
		t.Errorf("%s: directories moved aside %v, log says moved aside %v; want the marked directory moved aside and cloned", r.name, aside, movedAside(r))
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker still there after the clone: %v", err)
	}
	assertReplica(t, r)
	waitFor(t, 30*time.Second, "both rows on "+r.name, func() error {
		v, err := r.queryString("SELECT count(*)::text FROM rewind_marker_probe")
		if err != nil || v != "2" {
			return fmt.Errorf("count %q, %v", v, err)
		}
		return nil
	})
}
