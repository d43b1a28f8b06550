package adapter

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// The stanza is set up again only when what archiving depends on changed,
// or after archiveRetry when the last try failed.
func TestArchiveSetup_RunsOnChangeAndRetriesFailuresLater(t *testing.T) {
	var a archiveSetup
	now := time.Unix(1_800_000_000, 0)
	steps := []struct {
		name string
		key  string
		at   time.Duration
		due  bool
		ok   bool
	}{
		{"first time", "s\x00on\x00cmd", 0, true, true},
		{"unchanged after success", "s\x00on\x00cmd", time.Hour, false, false},
		{"archive_command changed", "s\x00on\x00cmd2", time.Hour, true, false},
		{"failed, retried too soon", "s\x00on\x00cmd2", time.Hour + archiveRetry/2, false, false},
		{"failed, retried later", "s\x00on\x00cmd2", time.Hour + archiveRetry, true, true},
		{"backup section added elsewhere", "t\x00on\x00cmd2", 2 * time.Hour, true, true},
	}
	for _, s := range steps {
		at := now.Add(s.at)
		if got := a.due(s.key, at); got != s.due {
			t.Fatalf("%s: due = %v, want %v", s.name, got, s.due)
		}
		if s.due {
			a.done(s.key, s.ok, at)
		}
	}
}

// After a failover only the received segments the repository lacks are
// queued again: an identical copy needs nothing, one held with another
// checksum is a conflict (pgBackRest would refuse it for ever and archiving
// would stall behind it), and a segment whose local checksum cannot be read
// is queued (pgBackRest then compares).
func TestSplitReceived_RequeuesOnlyMissing_ReportsConflicts(t *testing.T) {
	local := map[string]string{"A": "sum-a", "B": "sum-b", "C": "sum-c"}
	sum := func(n string) (string, error) {
		if s, ok := local[n]; ok {
			return s, nil
		}
		return "", errors.New("unreadable")
	}
	archived := map[string]string{"A": "sum-a", "B": "other", "D": "sum-d"}
	missing, conflicts := splitReceived([]string{"A", "B", "C", "D", "E"}, sum, archived)
	if !slices.Equal(missing, []string{"C", "D", "E"}) || !slices.Equal(conflicts, []string{"B"}) {
		t.Fatalf("missing %v conflicts %v; want [C D E] and [B]", missing, conflicts)
	}
}
