package adapter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/ha"
)

func TestCheckRenamable_MountPoint_IsRefusedBeforeAnythingStops(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	devs := map[string]uint64{dir: 2049, parent: 2050}
	devOf := func(p string) (uint64, error) {
		d, ok := devs[p]
		if !ok {
			return 0, errors.New("no such file")
		}
		return d, nil
	}
	if err := checkRenamable(dir, devOf); err == nil || !strings.Contains(err.Error(), "mount point") {
		t.Fatalf("mount point: err = %v, want a mount point error", err)
	}
	devs[dir] = 2050
	if err := checkRenamable(dir, devOf); err != nil {
		t.Fatalf("plain directory: %v", err)
	}
	if err := checkRenamable(filepath.Join(parent, "missing"), devOf); err == nil {
		t.Fatal("missing directory: want an error")
	}
}

func TestCheckRenamable_RealDirectory_IsRenamable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := mkdir(dir); err != nil {
		t.Fatal(err)
	}
	if err := checkRenamable(dir, deviceOf); err != nil {
		t.Fatal(err)
	}
}

func mkdir(p string) error { return os.Mkdir(p, 0o700) }

// The marker written at promotion is reported only for the timeline it
// names (rule 4: a stale marker of an earlier timeline tells nothing).
func TestTimelineMarker_IsReportedForItsTimelineOnly(t *testing.T) {
	p, _ := newTestAdapter(t, &fakeRunner{})
	if err := p.MarkTimeline(context.Background(), 2, 30); err != nil {
		t.Fatal(err)
	}
	out := ha.PGStatus{Timeline: 2}
	p.observeHistory(&out)
	if out.TimelineEpoch != 30 {
		t.Fatalf("TimelineEpoch = %d on timeline 2, want 30", out.TimelineEpoch)
	}
	out = ha.PGStatus{Timeline: 3}
	p.observeHistory(&out)
	if out.TimelineEpoch != 0 {
		t.Fatalf("TimelineEpoch = %d on timeline 3, want 0 (the marker names timeline 2)", out.TimelineEpoch)
	}
}
