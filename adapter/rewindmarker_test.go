package adapter

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/ha"
)

func markerAdapter(t *testing.T, raftDir string) (*Postgres, string) {
	t.Helper()
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := &config.Config{}
	cfg.PostgreSQL.DataDir = dataDir
	cfg.Raft.DataDir = raftDir
	p := &Postgres{}
	p.local.Store(cfg)
	return p, dataDir
}

// Item (e): the marker of an unfinished pg_rewind lives outside the data
// directory and says what a restarted agent must do.
func TestRewindMarker_StatesAndPlace(t *testing.T) {
	raftDir := t.TempDir()
	p, dataDir := markerAdapter(t, raftDir)
	if got := p.rewindLeft(); got != ha.RewindNone {
		t.Fatalf("no marker: %v", got)
	}
	for _, tc := range []struct {
		state string
		want  ha.RewindLeft
	}{
		{rewindRunning, ha.RewindBroken},     // the agent died during pg_rewind
		{rewindFailedState, ha.RewindBroken}, // pg_rewind failed
		{rewindSourceLost, ha.RewindRetry},   // lost its source: run it again
	} {
		if err := p.writeRewindMarker(tc.state); err != nil {
			t.Fatal(err)
		}
		if got := p.rewindLeft(); got != tc.want {
			t.Errorf("marker %q: %v, want %v", tc.state, got, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(raftDir, rewindMarkerName)); err != nil {
		t.Errorf("marker not in raft.data_dir: %v", err)
	}
	if filepath.Dir(p.rewindMarkerPath()) == dataDir {
		t.Error("marker inside the data directory: pg_rewind would delete it")
	}
	if err := os.WriteFile(p.rewindMarkerPath(), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := p.rewindLeft(); got != ha.RewindBroken {
		t.Errorf("unreadable marker: %v, want broken (clone rather than start)", got)
	}
	if err := p.clearRewindMarker(); err != nil {
		t.Fatal(err)
	}
	if got := p.rewindLeft(); got != ha.RewindNone {
		t.Errorf("after clear: %v", got)
	}
	if err := p.clearRewindMarker(); err != nil {
		t.Errorf("clearing a missing marker: %v", err)
	}
}

func TestRewindMarker_WithoutRaftDataDir_BesideTheDataDirectory(t *testing.T) {
	p, dataDir := markerAdapter(t, "")
	if got, want := p.rewindMarkerPath(), dataDir+"."+rewindMarkerName; got != want {
		t.Errorf("marker at %s, want %s", got, want)
	}
	if err := p.writeRewindMarker(rewindRunning); err != nil {
		t.Fatal(err)
	}
	if p.rewindLeft() != ha.RewindBroken {
		t.Error("marker beside the data directory not read")
	}
}

// ha/bootstrap_marker.go: a custom bootstrap cut short leaves its marker;
// the retry stops the server still replaying, moves the directory aside
// (never deletes it) and removes the marker before restoring again.
func TestBootstrapMarker_CutShortRun_IsStoppedMovedAsideAndForgotten(t *testing.T) {
	r := &fakeRunner{started: make(chan string, 16)}
	p, cfg := newTestAdapter(t, r)
	if left, err := p.bootstrapLeft(); left || err != nil {
		t.Fatalf("marker reported before any bootstrap (%v)", err)
	}
	if err := p.writeMarker(bootstrapMarkerName, "pgbackrest"); err != nil {
		t.Fatal(err)
	}
	if left, err := p.bootstrapLeft(); !left || err != nil {
		t.Fatalf("marker written but not reported (%v)", err)
	}
	if err := p.discardCutShortBootstrap(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if p.PostmasterRunning() {
		t.Error("the replaying server was not stopped")
	}
	aside, _ := filepath.Glob(cfg.PostgreSQL.DataDir + ".before-cut-short-bootstrap-*")
	if len(aside) != 1 {
		t.Fatalf("directories moved aside: %v, want one", aside)
	}
	if _, err := os.Stat(filepath.Join(aside[0], "PG_VERSION")); err != nil {
		t.Errorf("the moved directory lost its files: %v", err)
	}
	if _, err := os.Stat(cfg.PostgreSQL.DataDir); !os.IsNotExist(err) {
		t.Errorf("data directory still there: %v", err)
	}
	if left, err := p.bootstrapLeft(); left || err != nil {
		t.Errorf("marker still reported after the directory went (%v)", err)
	}
	if err := p.discardCutShortBootstrap(context.Background(), cfg); err != nil {
		t.Errorf("without a marker it does nothing: %v", err)
	}
}

// A marker that cannot be read is neither present nor absent: taken as
// present, the cut-short path moved a healthy primary's directory aside.
// The observation says the data directory's state is unknown, so the loop
// does nothing until it can be read, and the retry path refuses.
func TestBootstrapMarker_Unreadable_IsUnknownNotCutShort(t *testing.T) {
	r := &fakeRunner{started: make(chan string, 16)}
	p, cfg := newTestAdapter(t, r)
	marker := p.markerPath(bootstrapMarkerName)
	if err := os.MkdirAll(filepath.Dir(marker), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(marker), marker); err != nil { // a loop: stat fails, not with "not exist"
		t.Fatal(err)
	}
	o := p.Observe(context.Background())
	if o.BootstrapCutShort || o.DataDir != ha.DataDirUnknown {
		t.Fatalf("observed cut short %v, data directory %v; want not cut short and unknown", o.BootstrapCutShort, o.DataDir)
	}
	if err := p.discardCutShortBootstrap(context.Background(), cfg); err == nil {
		t.Fatal("the retry went ahead with an unreadable marker")
	}
}
