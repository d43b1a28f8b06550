#!/usr/bin/env bash
# test-failures.sh LOG: the failed tests of a `go test -v` log and, under
# each, its own failure lines (file_test.go:N: ..., without the agents'
# [nodeN] output). Parallel tests interleave in the log; go test names the
# test whose output follows on "=== RUN|CONT|NAME|PAUSE" lines, which is
# how each line is given back to its test here. KEEP (60) lines per test.
set -euo pipefail
log=${1:?usage: test-failures.sh go-test-v.log}
awk -v keep="${KEEP:-60}" '
	/^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
	/^ *--- FAIL: / { name = $3; if (!(name in failed)) { failed[name] = 1; order[++n] = name }; next }
	/^ *--- (PASS|SKIP): / { next }
	/_test\.go:[0-9]+: / && !/_test\.go:[0-9]+: \[/ {
		if (cur != "") { cnt[cur]++; ring[cur, cnt[cur] % keep] = $0 }
	}
	/^panic: / { panicked = 1 }
	panicked { panictext = panictext $0 "\n" }
	END {
		if (n == 0 && !panicked) { print "no failed test named in " FILENAME; exit }
		for (i = 1; i <= n; i++) {
			name = order[i]
			print "=== FAILED " name (cnt[name] > keep ? " (its last " keep " lines of " cnt[name] ")" : "")
			for (k = (cnt[name] > keep ? cnt[name] - keep + 1 : 1); k <= cnt[name]; k++) print ring[name, k % keep]
		}
		if (panicked) { print "=== PANIC (the test binary died; the tests above may be incomplete)"; printf "%s", panictext }
	}
' "$log"
