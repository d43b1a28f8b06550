package ctl

import (
	"strings"
	"testing"
)

const showConfigAnchor = `loop_wait: 10
maximum_lag_on_failover: 1048576
postgresql:
  parameters:
    max_connections: 50
    max_replication_slots: 10
    max_wal_senders: 10
    shared_buffers: 32MB
    wal_keep_size: 256MB
  use_pg_rewind: true
  use_slots: true
retry_timeout: 10
synchronous_mode: false
ttl: 30
`

// The expected diffs were printed by Python 3's difflib.unified_diff on the
// same inputs, as patronictl's show_diff calls it.
func TestUnifiedDiff_MatchesPythonDifflib(t *testing.T) {
	for _, c := range []struct{ name, before, after, want string }{
		{"two hunks", showConfigAnchor,
			strings.NewReplacer("max_connections: 50", "max_connections: 100", "ttl: 30", "ttl: 20").Replace(showConfigAnchor),
			"--- \n+++ \n@@ -2,7 +2,7 @@\n maximum_lag_on_failover: 1048576\n postgresql:\n   parameters:\n-    max_connections: 50\n+    max_connections: 100\n     max_replication_slots: 10\n     max_wal_senders: 10\n     shared_buffers: 32MB\n@@ -11,4 +11,4 @@\n   use_slots: true\n retry_timeout: 10\n synchronous_mode: false\n-ttl: 30\n+ttl: 20\n"},
		{"delete first, add last", showConfigAnchor,
			strings.NewReplacer("loop_wait: 10\n", "", "ttl: 30\n", "ttl: 30\nzzz: 1\n").Replace(showConfigAnchor),
			"--- \n+++ \n@@ -1,4 +1,3 @@\n-loop_wait: 10\n maximum_lag_on_failover: 1048576\n postgresql:\n   parameters:\n@@ -12,3 +11,4 @@\n retry_timeout: 10\n synchronous_mode: false\n ttl: 30\n+zzz: 1\n"},
		{"one line each", "{}\n", "ttl: 20\n", "--- \n+++ \n@@ -1 +1 @@\n-{}\n+ttl: 20\n"},
		{"equal", showConfigAnchor, showConfigAnchor, ""},
	} {
		if got := unifiedDiff(c.before, c.after); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}
