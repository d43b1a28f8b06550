package adapter

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkRenamable reports why dir cannot be renamed inside its parent, before
// MoveAside stops PostgreSQL: a standby still serving reads must not be
// stopped for a rename that will fail. A mount point (its device differs
// from its parent's) cannot be renamed, nor can a directory whose parent
// this process may not write.
func checkRenamable(dir string, devOf func(string) (uint64, error)) error {
	parent := filepath.Dir(filepath.Clean(dir))
	d, err := devOf(dir)
	if err != nil {
		return fmt.Errorf("move %s aside: %w", dir, err)
	}
	p, err := devOf(parent)
	if err != nil {
		return fmt.Errorf("move %s aside: %w", dir, err)
	}
	if d != p {
		return fmt.Errorf("move %s aside: it is a mount point and cannot be renamed; move its contents aside or reinitialize the member by hand", dir)
	}
	if err := syscall.Access(parent, 0x2 /* W_OK */); err != nil {
		return fmt.Errorf("move %s aside: parent %s is not writable: %w", dir, parent, err)
	}
	return nil
}

// deviceOf returns the device number of path's file system (st_dev).
func deviceOf(path string) (uint64, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("stat %s: no device number", path)
	}
	return uint64(st.Dev), nil // Dev is not uint64 on every platform
}
