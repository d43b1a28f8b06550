package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// Binaries CheckEnvironment requires in postgresql.bin_dir.
var requiredBinaries = []string{"postgres", "initdb", "pg_ctl", "pg_basebackup", "pg_rewind"}

const accessWrite = 0x2 // W_OK

// CheckEnvironment checks what the configuration needs from this machine:
// postgresql.data_dir and raft.data_dir (or their parent directories when
// they do not exist yet) are writable by the current user, postgresql.bin_dir
// holds the PostgreSQL server binaries, and the restapi.listen and Raft
// listen ports are free. It creates nothing. Every problem is reported, one
// a line, starting with where its key was set ("conclave.yml:9: ").
func (c *Config) CheckEnvironment() error {
	var errs []error
	errs = append(errs, c.at("raft.data_dir", checkDir("raft.data_dir", c.Raft.DataDir)))
	for _, b := range requiredBinaries {
		if c.Witness {
			break // a witness runs no PostgreSQL
		}
		p := filepath.Join(c.PostgreSQL.BinDir, b)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			errs = append(errs, c.at("postgresql.bin_dir", fmt.Errorf("postgresql.bin_dir %q: %s not found; install PostgreSQL 15 server binaries (apt-get install postgresql-15) or set postgresql.bin_dir", c.PostgreSQL.BinDir, b)))
		}
	}
	if !c.Witness {
		errs = append(errs, c.at("postgresql.data_dir", checkDir("postgresql.data_dir", c.PostgreSQL.DataDir)))
	}
	if c.Backup.Enabled() {
		if _, err := exec.LookPath(c.Backup.Command); err != nil {
			errs = append(errs, c.at("backup.command", fmt.Errorf("backup.command %q: not found (%v); install pgBackRest (apt-get install pgbackrest) or set backup.command", c.Backup.Command, err)))
		}
		if c.Backup.Config != "" {
			if _, err := os.Stat(c.Backup.Config); err != nil {
				errs = append(errs, c.at("backup.config", fmt.Errorf("backup.config %q: %v", c.Backup.Config, err)))
			}
		}
	}
	raftKey, raftAddr := "raft.self_addr", c.Raft.SelfAddr
	if c.Raft.BindAddr != "" {
		raftKey, raftAddr = "raft.bind_addr", c.Raft.BindAddr
	}
	errs = append(errs, c.at("restapi.listen", checkPortFree("restapi.listen", c.RestAPI.Listen)))
	errs = append(errs, c.at(raftKey, checkPortFree(raftKey, raftAddr)))
	return errors.Join(errs...)
}

// at prefixes err with where key was set, or the file's name for a key
// left at its default (nil stays nil).
func (c *Config) at(key string, err error) error {
	where, ok := originOf(c.origin, key)
	switch {
	case err == nil:
		return nil
	case ok:
		return fmt.Errorf("%s: %w", where, err)
	case c.Path != "":
		return fmt.Errorf("%s: %w", c.Path, err)
	}
	return err
}

// checkDir accepts an existing writable directory, or a missing one whose
// parent is an existing writable directory.
func checkDir(key, dir string) error {
	if dir == "" {
		return fmt.Errorf("%s is not set", key)
	}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%s %q exists and is not a directory", key, dir)
	case err == nil:
		if syscall.Access(dir, accessWrite) != nil {
			return fmt.Errorf("%s %q is not writable by the current user (uid %d); chown it to the user running conclave", key, dir, os.Getuid())
		}
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s %q: %w", key, dir, err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	pfi, err := os.Stat(parent)
	if err != nil || !pfi.IsDir() {
		return fmt.Errorf("%s %q: parent directory %q does not exist; create it or change %s", key, dir, parent, key)
	}
	if syscall.Access(parent, accessWrite) != nil {
		return fmt.Errorf("%s %q does not exist and its parent %q is not writable by the current user (uid %d); create it or fix permissions", key, dir, parent, os.Getuid())
	}
	return nil
}

func checkPortFree(key, addr string) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%s %q: no network interface of this machine has that address; put one of its own addresses in %s", key, addr, key)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s %q: the port is in use (is an agent already running with this file?); stop whatever holds it or change %s", key, addr, key)
	case err != nil:
		return fmt.Errorf("%s %q: cannot listen: %w; change %s", key, addr, err, key)
	}
	return l.Close()
}
