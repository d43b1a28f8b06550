package main

import "testing"

func TestWithRevision_AppendsTheCommitOnce(t *testing.T) {
	for _, c := range []struct{ release, rev, want string }{
		{"0.1.0", "1a2b3c4d5e6f", "0.1.0+1a2b3c4d5e6f"},
		{"0.1.0", "1a2b3c4d5e6f.dirty", "0.1.0+1a2b3c4d5e6f.dirty"},
		{"0.1.0+af651b5", "1a2b3c4d5e6f", "0.1.0+af651b5"}, // stamped whole with -X main.version
	} {
		if got := withRevision(c.release, c.rev); got != c.want {
			t.Errorf("withRevision(%q, %q) = %q, want %q", c.release, c.rev, got, c.want)
		}
	}
}
