package buildinfo

import "testing"

func TestVersion_AppendsTheCommitOnce(t *testing.T) {
	for _, c := range []struct{ release, rev, want string }{
		{"0.1.0", "1a2b3c4d5e6f", "0.1.0+1a2b3c4d5e6f"},
		{"0.1.0", "1a2b3c4d5e6f.dirty", "0.1.0+1a2b3c4d5e6f.dirty"},
		{"0.1.0+af651b5", "1a2b3c4d5e6f", "0.1.0+af651b5"}, // stamped whole with -X main.version
	} {
		if got := Version(c.release, c.rev); got != c.want {
			t.Errorf("Version(%q, %q) = %q, want %q", c.release, c.rev, got, c.want)
		}
	}
}
