package pgctl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Taking over a data directory Conclave did not create (a running cluster
// built by hand): what the user configured is kept, as Patroni keeps it.
//
//   - postgresql.conf written by the user becomes postgresql.base.conf, which
//     the file WriteConfig writes includes first: every custom setting stays
//     in effect unless Conclave must manage it.
//   - pg_hba.conf written by the user is kept when the caller's lines are
//     only a fallback (ServerConfig.KeepUserHBA).
//   - postgresql.auto.conf (ALTER SYSTEM, pg_basebackup -R) is read after
//     postgresql.conf, so a primary_conninfo left there by pg_basebackup -R
//     would override the one Conclave writes and keep the standby on its old
//     upstream after a failover. Settings Conclave manages are commented out
//     there (Patroni removes them the same way).

// autoConfManaged are the settings Conclave owns that must not be
// overridden from postgresql.auto.conf.
var autoConfManaged = map[string]bool{
	"primary_conninfo": true, "primary_slot_name": true, "recovery_target_timeline": true,
	"synchronous_standby_names": true,
}

const (
	baseConf     = "postgresql.base.conf"
	autoConf     = "postgresql.auto.conf"
	autoConfNote = "# commented out by Conclave (it manages this setting): "
)

// ConfigManaged reports whether DataDir/postgresql.conf was written by
// Conclave (or is absent). A data directory whose file was not is one being
// taken over: its standby configuration is still the user's.
func (i *Instance) ConfigManaged() bool { return i.writtenByConclave("postgresql.conf") }

// RanAMember reports whether DataDir/postgresql.conf starts with Conclave's
// header: this host ran a member of a Conclave cluster (initdb, clone and
// takeover write the file before the first start; a clone copies it from
// its source), where a takeover's hand-made data directory has the user's
// file and a new node none. A read error other than a missing file comes
// back with true, so a caller guarding on it stays on the careful side.
func (i *Instance) RanAMember() (bool, error) {
	b, err := os.ReadFile(filepath.Join(i.cfg.DataDir, "postgresql.conf"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return true, err
	}
	return bytes.HasPrefix(b, []byte(configHeader)), nil
}

// writtenByConclave reports whether DataDir/name is missing or starts with
// Conclave's header.
func (i *Instance) writtenByConclave(name string) bool {
	b, err := os.ReadFile(filepath.Join(i.cfg.DataDir, name))
	if err != nil {
		return true
	}
	return bytes.HasPrefix(b, []byte(configHeader))
}

// keepUserConfig renames a postgresql.conf Conclave did not write to
// postgresql.base.conf, so WriteConfig includes it instead of replacing it.
// With a postgresql.base.conf already there it refuses rather than drop one
// of the two files.
func (i *Instance) keepUserConfig() error {
	if i.ConfigManaged() {
		return nil
	}
	dir := i.cfg.DataDir
	base := filepath.Join(dir, baseConf)
	if _, err := os.Stat(base); err == nil {
		return fmt.Errorf("%s holds both %s and a postgresql.conf Conclave did not write: merge the settings you want into %s and remove the other file",
			dir, baseConf, baseConf)
	}
	if err := os.Rename(filepath.Join(dir, "postgresql.conf"), base); err != nil {
		return fmt.Errorf("keep the existing postgresql.conf as %s: %w", baseConf, err)
	}
	syncDir(dir)
	i.logger.Info("kept the existing postgresql.conf as postgresql.base.conf (included first)", "data_dir", dir)
	return nil
}

// sanitizeAutoConf comments out the settings Conclave manages in
// postgresql.auto.conf; it reports whether the file changed.
func (i *Instance) sanitizeAutoConf() (bool, error) {
	return i.commentOutAutoConf(autoConfManaged)
}

// stripSettings comments out the lines of a postgresql.auto.conf that set
// a setting in set and returns the names it commented out.
func stripSettings(b []byte, set map[string]bool) ([]byte, []string) {
	var out bytes.Buffer
	var dropped []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if name := settingName(line); set[name] {
			dropped = append(dropped, name)
			line = autoConfNote + line
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes(), dropped
}

// settingName is the lower-case setting a postgresql.conf line sets, "" for
// a comment, a blank line or an include.
func settingName(line string) string {
	s := strings.TrimSpace(line)
	if s == "" || s[0] == '#' {
		return ""
	}
	end := strings.IndexAny(s, " \t=")
	if end < 0 {
		end = len(s)
	}
	return strings.ToLower(s[:end])
}

// hbaManaged reports whether pg_hba.conf is missing or was written by
// Conclave (initdb's file is marked as Conclave's by Initdb).
func (i *Instance) hbaManaged() bool { return i.writtenByConclave("pg_hba.conf") }

// markHBA marks initdb's pg_hba.conf as Conclave's own, so the fallback
// lines replace it (a data directory Conclave created has no user file).
func (i *Instance) markHBA() error {
	path := filepath.Join(i.cfg.DataDir, "pg_hba.conf")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = writeFileAtomic(path, append([]byte(configHeader), b...))
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
