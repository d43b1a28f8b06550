package adapter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/conclave-ha/conclave/ha"
)

// Markers of a step that rewrites the data directory and must not be taken
// for finished when the agent dies during it: a pg_rewind
// (ha/rewind_marker.go) and a custom bootstrap's restore
// (ha/bootstrap_marker.go). They live outside the data directory, since
// pg_rewind deletes files its source lacks, and a clone, a restore or a
// move-aside replaces the directory: in raft.data_dir (next to the
// watchdog's deadline file), or beside the data directory when no
// raft.data_dir is configured. Written and synced before the step runs, so
// an agent killed during it finds one.

const (
	rewindMarkerName    = "rewind-incomplete"
	bootstrapMarkerName = "bootstrap-incomplete"
	// What the rewind marker says.
	rewindRunning     = "running"            // written before pg_rewind: cut short if still there
	rewindSourceLost  = "source-unreachable" // pg_rewind lost its source: run it again
	rewindFailedState = "failed"             // pg_rewind failed: clone again
)

// markerPath is where this node's marker called name lives.
func (p *Postgres) markerPath(name string) string {
	cfg := p.local.Load()
	if cfg.Raft.DataDir != "" {
		return filepath.Join(cfg.Raft.DataDir, name)
	}
	return filepath.Clean(cfg.PostgreSQL.DataDir) + "." + name
}

func (p *Postgres) rewindMarkerPath() string { return p.markerPath(rewindMarkerName) }

// writeMarker writes the marker name with state durably (file and
// directory synced).
func (p *Postgres) writeMarker(name, state string) error {
	path := p.markerPath(name)
	tmp := path + ".tmp"
	body := fmt.Sprintf("%s\n%s\n", state, p.local.Load().PostgreSQL.DataDir)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("%s marker: %w", name, err)
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return fmt.Errorf("%s marker: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s marker: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s marker: %w", name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%s marker: %w", name, err)
	}
	return syncDir(filepath.Dir(path))
}

// clearMarker removes the marker name (durably); a missing one is fine.
func (p *Postgres) clearMarker(name string) error {
	path := p.markerPath(name)
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("%s marker: %w", name, err)
	}
	return syncDir(filepath.Dir(path))
}

func (p *Postgres) writeRewindMarker(state string) error {
	return p.writeMarker(rewindMarkerName, state)
}
func (p *Postgres) clearRewindMarker() error { return p.clearMarker(rewindMarkerName) }

// rewindLeft reads the marker. One that cannot be read, or says anything
// but "source lost", counts as a broken rewind: the directory is cloned
// again rather than started.
func (p *Postgres) rewindLeft() ha.RewindLeft {
	b, err := os.ReadFile(p.rewindMarkerPath())
	switch {
	case os.IsNotExist(err):
		return ha.RewindNone
	case err == nil && strings.HasPrefix(string(b), rewindSourceLost+"\n"):
		return ha.RewindRetry
	}
	return ha.RewindBroken
}

// bootstrapLeft reports whether a custom bootstrap's marker is there: its
// restore or its recovery to the target did not complete. A marker that
// cannot be read counts as there (the directory is never trusted on a doubt).
func (p *Postgres) bootstrapLeft() (bool, error) {
	_, err := os.Stat(p.markerPath(bootstrapMarkerName))
	switch {
	case err == nil:
		return true, nil
	case os.IsNotExist(err):
		return false, nil
	}
	// Unreadable is neither: taken as present, it moved a healthy
	// primary's directory aside; taken as absent, a cut-short restore's
	// directory could be adopted. The caller does nothing until it knows.
	return false, fmt.Errorf("custom bootstrap marker: %w", err)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
