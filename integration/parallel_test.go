//go:build integration

package integration

// Parallel tests (doc.go, "Running in parallel"). newCluster calls
// runParallel, so every test that builds a cluster runs beside the others
// (go test -parallel N, chosen in the Makefile) unless its options say
// serial: true. Go runs the serial tests first, one at a time and alone;
// the parallel ones pause in runParallel until every serial test is done.
// So a serial test's deadlines are measured on a machine no other test of
// this suite loads.

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// parallelized remembers, per test, whether it went parallel or was kept
// serial (a test may build several clusters; t.Parallel panics on a second
// call, and a test kept serial must not go parallel with running agents).
var parallelized sync.Map // testing.TB → "parallel" or "serial"

// keepSerial records that t stays serial: a later cluster of the same test
// does not make it parallel. A test that already went parallel cannot be
// made serial again: that fails it, naming the fix.
func keepSerial(t testing.TB) {
	t.Helper()
	if v, _ := parallelized.LoadOrStore(t, "serial"); v == "parallel" {
		t.Fatal("clusterOptions{serial: true} on a later cluster of a test that already runs in parallel: pass serial: true on its first cluster")
	}
}

// runParallel marks a top-level test parallel. Subtests are left as they
// are: their parent may rely on t.Run returning only when they are done.
// A test that called t.Parallel itself or set environment variables
// (t.Setenv forbids parallel) keeps running as it was, which is always
// correct; the reason goes to the log.
func runParallel(t testing.TB) {
	t.Helper()
	pt, ok := t.(interface{ Parallel() })
	if !ok || strings.Contains(t.Name(), "/") {
		return
	}
	if _, done := parallelized.LoadOrStore(t, "parallel"); done {
		return
	}
	defer func() {
		// t.Parallel panics before it changes anything, so recovering
		// leaves the test exactly as it was.
		if r := recover(); r != nil {
			t.Logf("not made parallel here: %v", r)
			if !strings.Contains(fmt.Sprint(r), "multiple times") {
				parallelized.Store(t, "serial") // t.Setenv: it stays serial
			}
		}
	}()
	pt.Parallel()
}
