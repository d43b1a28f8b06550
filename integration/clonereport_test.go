//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slowCopy is how long the slow replica method sleeps before it fails (and
// basebackup, the next method, makes the copy): several ttls.
const slowCopy = 5 * ttl

// A reinitialized replica whose copy takes several ttls (a replica method
// that sleeps first) keeps reporting: `list` shows it "creating replica"
// the whole time, and `leave NAME --evict` is refused because it still
// reports; afterwards it streams again (ha/clonereport.go).
func TestClone_LongerThanTTL_ShownCreatingReplicaAndNotEvicted(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{extra: func(n *node) string {
		// The method sleeps only once the test created the flag: the
		// cluster's own first clones go straight on to basebackup.
		return fmt.Sprintf("  create_replica_methods: [slowcopy, basebackup]\n  slowcopy:\n"+
			"    command: 'if [ -e %s ]; then sleep %d; fi; false'\n", slowFlag(n), int(slowCopy.Seconds()))
	}})
	c.startAll()
	leader := waitConverged(c, 90*time.Second)
	var replica *node
	for _, n := range c.nodes {
		if n != leader {
			replica = n
			break
		}
	}
	if err := os.WriteFile(slowFlag(replica), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := leader.conclave("reinit", replica.name, "--force"); err != nil {
		t.Fatalf("reinit %s: %v\n%s", replica.name, err, out)
	}
	waitFor(t, 30*time.Second, replica.name+" listed as creating replica", func() error {
		if row, err := listRow(leader, replica.name); err != nil || row[3] != "creating replica" {
			return fmt.Errorf("%v (%v)", row, err)
		}
		return nil
	})
	copyStarted := time.Now()
	// Past a ttl of copying (the eviction's and the display's bound) and
	// a few reports later it is still shown creating a replica.
	holdsFor(t, ttl+3*time.Second, replica.name+" listed as creating replica", func() error {
		if row, err := listRow(leader, replica.name); err != nil || row[3] != "creating replica" || row[2] != "Replica" || row[5] != "unknown" {
			return fmt.Errorf("%v (%v), want role Replica, state creating replica, lag unknown", row, err)
		}
		return nil
	})
	out, err := leader.conclave("leave", replica.name, "--evict", "--force")
	if err == nil || !strings.Contains(out, "still reports") {
		t.Fatalf("leave %s --evict %v into the copy: %v, want refused as still reporting\n%s",
			replica.name, time.Since(copyStarted).Round(time.Millisecond), err, out)
	}
	t.Logf("leave --evict %v into the copy: %s", time.Since(copyStarted).Round(time.Millisecond), strings.TrimSpace(out))
	if err := os.Remove(slowFlag(replica)); err != nil {
		t.Fatal(err)
	}
	if got := waitConverged(c, 60*time.Second+slowCopy); got != leader {
		t.Errorf("leader %s after the reinit, want %s throughout", got.name, leader.name)
	}
}

// slowFlag is the file whose presence makes n's slow replica method sleep.
func slowFlag(n *node) string { return filepath.Join(n.dir, "slow-copy") }
