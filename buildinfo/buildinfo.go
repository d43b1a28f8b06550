// Package buildinfo is the version string every part of Conclave shows
// (`conclave version`, the REST API's "patroni": {"version"}, list -e):
// the release and the commit the binary was built from. It imports no other
// package of ours.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Version is the release with the commit the binary was built from,
// "0.1.0+1a2b3c4d5e6f" (".dirty" after it for a modified tree), so the
// builds of a rolling upgrade tell apart. rev is the commit stamped with
// -ldflags -X; without it, Go's VCS stamp gives the commit; without either
// (go test, -buildvcs=false), the release alone. A release stamped whole
// ("0.1.0+af651b5") is kept as it is.
func Version(release, rev string) string {
	if rev == "" {
		rev = vcsRevision()
	}
	if rev == "" || strings.Contains(release, "+") {
		return release
	}
	return release + "+" + rev
}

// vcsRevision is Go's VCS stamp: the commit's first 12 hex digits, with
// ".dirty" when the tree was modified; "" without a stamp.
func vcsRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", ""
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			rev = s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = ".dirty"
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
