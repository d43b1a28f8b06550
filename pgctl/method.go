package pgctl

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RunMethod runs a replica or bootstrap method's program (name, args),
// which creates the data directory, as create_replica_methods and a custom
// bootstrap do in Patroni. The directory must be missing or empty unless
// keepData (a --delta restore reuses what is there); the caller moves a
// non-empty one aside first. The directory is created (0700) if missing so
// that tools which want an existing target (pgbackrest restore) find one.
// The program gets Config.Env. On success the directory must hold a
// PostgreSQL cluster; standby writes standby.signal at once, so a crash
// before the configuration is written never leaves a replica that would
// start as a primary (pgbackrest restore writes recovery.signal).
func (i *Instance) RunMethod(ctx context.Context, method string, keepData, standby bool, name string, args ...string) error {
	dir := i.cfg.DataDir
	st, err := i.DataDirState()
	if err != nil {
		return fmt.Errorf("%s into %s: %w", method, dir, err)
	}
	if !keepData && st != DataDirMissing && st != DataDirEmpty {
		return fmt.Errorf("%s into %s: %w (state %s); refusing to overwrite it", method, dir, ErrNotEmpty, st)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s into %s: %w", method, dir, err)
	}
	i.logger.Info("running method", "method", method, "data_dir", dir)
	if _, _, err := i.cfg.Runner.Run(ctx, i.cfg.Env, name, args...); err != nil {
		return fmt.Errorf("%s into %s: %w", method, dir, err)
	}
	if st, err := i.DataDirState(); err != nil || st != DataDirValid {
		return fmt.Errorf("%s into %s: the command succeeded but left no PostgreSQL cluster (state %s, %v)", method, dir, st, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("%s into %s: %w", method, dir, err)
	}
	if standby {
		if _, err := writeFileAtomic(filepath.Join(dir, "standby.signal"), nil); err != nil {
			return fmt.Errorf("%s into %s: %w", method, dir, err)
		}
	}
	return nil
}

// RemoveSignals removes standby.signal and recovery.signal (a custom
// bootstrap that does not keep the command's recovery configuration).
func (i *Instance) RemoveSignals() error {
	for _, name := range []string{"standby.signal", "recovery.signal"} {
		if err := os.Remove(filepath.Join(i.cfg.DataDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", name, err)
		}
	}
	return nil
}

// recoverySettings are targeted-recovery settings a restore tool writes
// into postgresql.auto.conf (pgbackrest restore does). After the restored
// member is promoted they are commented out: a replica cloned from it
// would otherwise copy them and stop replaying at the old target, or fetch
// WAL from the stanza the cluster was restored from.
var recoverySettings = map[string]bool{
	"restore_command": true, "recovery_end_command": true, "recovery_target": true,
	"recovery_target_time": true, "recovery_target_lsn": true, "recovery_target_xid": true,
	"recovery_target_name": true, "recovery_target_inclusive": true, "recovery_target_action": true,
	"recovery_target_timeline": true,
}

// ClearRecoverySettings comments out recoverySettings in
// postgresql.auto.conf; it reports whether the file changed.
func (i *Instance) ClearRecoverySettings() (bool, error) {
	return i.commentOutAutoConf(recoverySettings)
}

// WaitRecoveryEnd waits until the server left recovery. A server paused at
// its recovery target (recovery_target_action pause, PostgreSQL's default)
// is promoted with pg_promote. The wait has no deadline of its own: a
// restore replays as much WAL as it needs; ctx bounds it. progress is
// called about every 10 s with the replay LSN.
func (i *Instance) WaitRecoveryEnd(ctx context.Context, progress func(lsn string)) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	last := time.Now()
	for {
		if _, alive := i.PostmasterPID(); !alive {
			return fmt.Errorf("recovery of %s: postgres stopped (see %s)", i.cfg.DataDir, i.cfg.LogFile)
		}
		var rec bool
		var paused, lsn string
		err := i.withConn(ctx, func(c sqlConn) error {
			return c.QueryRow(ctx, qRecoveryState).Scan(&rec, &paused, &lsn)
		})
		if err == nil && !rec {
			return nil
		}
		if err == nil && paused == "paused" {
			i.logger.Info("recovery paused at its target; promoting", "lsn", lsn)
			if err := i.withConn(ctx, func(c sqlConn) error { _, err := c.Exec(ctx, qPromoteNoWait); return err }); err != nil {
				return fmt.Errorf("recovery of %s: pg_promote: %w", i.cfg.DataDir, err)
			}
		}
		if time.Since(last) > 10*time.Second && progress != nil {
			progress(lsn)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recovery of %s: %w", i.cfg.DataDir, ctx.Err())
		case <-tick.C:
		}
	}
}

// commentOutAutoConf comments out the settings named in set in
// postgresql.auto.conf.
func (i *Instance) commentOutAutoConf(set map[string]bool) (bool, error) {
	path := filepath.Join(i.cfg.DataDir, autoConf)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	out, dropped := stripSettings(b, set)
	if len(dropped) == 0 {
		return false, nil
	}
	if _, err := writeFileAtomic(path, out); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	i.logger.Info("commented out settings in postgresql.auto.conf", "settings", strings.Join(dropped, ","))
	return true, nil
}

// ReceivedSegments lists, oldest first, the complete WAL segments of
// timelines before timeline that this server received as a standby (its
// archive_status says .done) and still holds in pg_wal: under
// archive_mode=on a standby archives nothing, so a segment the old primary
// completed but had not archived when it failed would be in no archive.
// The timeline's last, partial segment is PostgreSQL's own .partial file
// and is archived by PostgreSQL itself.
func (i *Instance) ReceivedSegments(timeline int) ([]string, error) {
	dir := filepath.Join(i.cfg.DataDir, "pg_wal", "archive_status")
	ents, err := os.ReadDir(dir) // sorted by name: oldest first
	if err != nil {
		return nil, fmt.Errorf("received WAL: %w", err)
	}
	var names []string
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".done")
		if !ok || len(name) != 24 || !isHex(name) {
			continue
		}
		tl, err := strconv.ParseUint(name[:8], 16, 32)
		if err != nil || int(tl) >= timeline {
			continue
		}
		if _, err := os.Stat(filepath.Join(i.cfg.DataDir, "pg_wal", name)); err != nil {
			continue // already recycled
		}
		names = append(names, name)
	}
	return names, nil
}

// RequeueSegments marks the named segments for archiving again (their
// .done status renamed .ready); PostgreSQL's archiver then pushes them
// with archive_command. It returns how many it re-queued.
func (i *Instance) RequeueSegments(names []string) (int, error) {
	dir := filepath.Join(i.cfg.DataDir, "pg_wal", "archive_status")
	n := 0
	for _, name := range names {
		if err := os.Rename(filepath.Join(dir, name+".done"), filepath.Join(dir, name+".ready")); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // recycled meanwhile
			}
			return n, fmt.Errorf("requeue WAL %s: %w", name, err)
		}
		n++
	}
	return n, nil
}

// SegmentSHA1 is the SHA-1 (hex) of a segment in pg_wal: the checksum
// pgBackRest names its archived copy by.
func (i *Instance) SegmentSHA1(name string) (string, error) {
	f, err := os.Open(filepath.Join(i.cfg.DataDir, "pg_wal", name))
	if err != nil {
		return "", fmt.Errorf("checksum of WAL %s: %w", name, err)
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum of WAL %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}
