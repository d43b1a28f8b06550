package adapter

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
