package pgctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Basebackup clones a running member into DataDir with
//
//	pg_basebackup -D DataDir -X stream -c fast -w -d "host= port= user= application_name=<Name>"
//
// src.User defaults to the replication user; the password (src.Password,
// else the configured one) goes through the pgpass file, never argv. No -R:
// the caller writes the standby configuration with WriteConfig afterwards
// (the copy holds the source's postgresql.conf and pg_hba.conf).
// DataDir must be missing or empty, else ErrNotEmpty: data is never
// overwritten. On failure only what this call created is removed.
func (i *Instance) Basebackup(ctx context.Context, src ConnInfo) (err error) {
	dir := i.cfg.DataDir
	st, err := i.DataDirState()
	if err != nil {
		return fmt.Errorf("basebackup %s: %w", dir, err)
	}
	if st != DataDirMissing && st != DataDirEmpty {
		return fmt.Errorf("basebackup %s: %w (state %s); refusing to overwrite it", dir, ErrNotEmpty, st)
	}
	if src.User == "" {
		src.User = i.cfg.Replication.Username
	}
	if src.AppName == "" {
		src.AppName = i.cfg.Name
	}
	env, err := i.writePgpass(src)
	if err != nil {
		return fmt.Errorf("basebackup %s: %w", dir, err)
	}
	src.Password, src.DBName = "", ""
	defer func() {
		if err != nil {
			i.cleanupCreated(dir, st)
		}
	}()
	i.logger.Info("running pg_basebackup", "data_dir", dir, "host", src.Host, "port", src.Port)
	if _, _, err := i.cfg.Runner.Run(ctx, env, i.bin("pg_basebackup"), "-D", dir,
		"-X", "stream", "-c", "fast", "-w", "-d", src.String()); err != nil {
		return fmt.Errorf("basebackup %s: pg_basebackup: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("basebackup %s: %w", dir, err)
	}
	// A copy of a running primary's pg_control says "in production": until
	// the configuration is written, standby.signal is what marks the clone
	// as a standby, so a crash right here never leaves it looking like a
	// former primary (ha's rule 4 would move it aside again).
	if err := os.WriteFile(filepath.Join(dir, "standby.signal"), nil, 0o600); err != nil {
		return fmt.Errorf("basebackup %s: %w", dir, err)
	}
	return nil
}

// Rewind resynchronises DataDir with src after a timeline divergence:
//
//	pg_rewind -D DataDir --source-server="host= port= user=<rewind> dbname=postgres application_name=<Name>"
//
// PostgreSQL must be stopped (a live postmaster gives ErrAlreadyRunning).
// pg_rewind needs a target that was shut down cleanly; when ControlData
// says otherwise (crash, kill -9, immediate stop), PostgreSQL 13+'s
// pg_rewind itself runs crash recovery in single-user mode first. That mode
// refuses to start with standby.signal/recovery.signal present, so Rewind
// moves those aside for the call and puts them back afterwards, success or
// not (a node must never come up as a primary by accident).
//
// The source must have run CHECKPOINT after its promotion (Promote does).
// pg_rewind copies the source's postgresql.conf and pg_hba.conf: the caller
// must call WriteConfig (with a Standby) before starting again.
func (i *Instance) Rewind(ctx context.Context, src ConnInfo) error {
	dir := i.cfg.DataDir
	if pid, alive := i.PostmasterPID(); alive {
		return fmt.Errorf("rewind %s: %w (pid %d); stop it first", dir, ErrAlreadyRunning, pid)
	}
	cd, err := i.ControlData(ctx)
	if err != nil {
		return fmt.Errorf("rewind %s: %w", dir, err)
	}
	if src.User == "" {
		src.User = i.cfg.Rewind.Username
	}
	if src.AppName == "" {
		src.AppName = i.cfg.Name
	}
	if src.DBName == "" {
		src.DBName = "postgres"
	}
	env, err := i.writePgpass(src)
	if err != nil {
		return fmt.Errorf("rewind %s: %w", dir, err)
	}
	src.Password = ""
	if !cd.CleanShutdown() {
		i.logger.Info("target not shut down cleanly; pg_rewind will run crash recovery", "data_dir", dir, "state", cd.ClusterState)
		restore, err := i.moveSignalsAside()
		defer restore()
		if err != nil {
			return fmt.Errorf("rewind %s: %w", dir, err)
		}
	}
	i.logger.Info("running pg_rewind", "data_dir", dir, "host", src.Host, "port", src.Port)
	if _, stderr, err := i.cfg.Runner.Run(ctx, env, i.bin("pg_rewind"), "-D", dir,
		"--source-server="+src.String()); err != nil {
		if lostSource(string(stderr) + err.Error()) {
			return fmt.Errorf("rewind %s: pg_rewind: %w: %w", dir, ErrSourceUnreachable, err)
		}
		return fmt.Errorf("rewind %s: pg_rewind: %w", dir, err)
	}
	return nil
}

// lostSource reports whether pg_rewind's output says it lost its source
// server: it could not connect, or the connection broke while it ran.
func lostSource(out string) bool {
	for _, s := range []string{"connection to server", "server closed the connection unexpectedly", "could not receive data from server"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// moveSignalsAside removes standby.signal and recovery.signal; restore
// recreates those that existed.
func (i *Instance) moveSignalsAside() (restore func(), err error) {
	var removed []string
	restore = func() {
		for _, p := range removed {
			if _, err := writeFileAtomic(p, nil); err != nil {
				i.logger.Error("cannot restore signal file", "path", p, "error", err)
			}
		}
	}
	for _, name := range []string{"standby.signal", "recovery.signal"} {
		p := filepath.Join(i.cfg.DataDir, name)
		err := os.Remove(p)
		if err == nil {
			removed = append(removed, p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return restore, err
		}
	}
	return restore, nil
}

// writePgpass writes PgpassPath (0600): the password for src.User (when
// src carries one) first, then the replication, rewind and superuser
// credentials. Host, port and database are '*'. It returns the env for the
// binary: PGPASSFILE and PGCONNECT_TIMEOUT=5.
func (i *Instance) writePgpass(src ConnInfo) ([]string, error) {
	var b strings.Builder
	seen := map[string]bool{}
	add := func(user, pw string) {
		if user == "" || pw == "" || seen[user] {
			return
		}
		seen[user] = true
		fmt.Fprintf(&b, "*:*:*:%s:%s\n", pgpassEscape(user), pgpassEscape(pw))
	}
	add(src.User, src.Password)
	add(i.cfg.Replication.Username, i.cfg.Replication.Password)
	add(i.cfg.Rewind.Username, i.cfg.Rewind.Password)
	add(i.cfg.Superuser.Username, i.cfg.Superuser.Password)
	if _, err := writeFileAtomic(i.cfg.PgpassPath, []byte(b.String())); err != nil {
		return nil, fmt.Errorf("pgpass %s: %w", i.cfg.PgpassPath, err)
	}
	return []string{"PGPASSFILE=" + i.cfg.PgpassPath, "PGCONNECT_TIMEOUT=5"}, nil
}
