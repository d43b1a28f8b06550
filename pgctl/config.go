package pgctl

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ServerConfig is what WriteConfig puts in the data directory.
type ServerConfig struct {
	// Parameters are merged by the caller (dynamic postgresql.parameters,
	// then local ones). Values: bool (on/off), integers and floats (bare),
	// string (quoted), []string (joined by ","), nil (omitted).
	Parameters map[string]any
	// PgHBA are the lines of pg_hba.conf; nil leaves pg_hba.conf untouched.
	PgHBA []string
	// Standby, when set, makes the instance a standby of Standby.Primary.
	// nil means primary.
	Standby *StandbyConfig
	// KeepUserHBA makes PgHBA a fallback: an existing pg_hba.conf that
	// Conclave did not write (a cluster being taken over) is kept.
	KeepUserHBA bool
	// Recovery, when set on a primary (Standby nil), are targeted-recovery
	// settings (restore_command, recovery_target_*) written after the
	// parameters, with recovery.signal: a custom bootstrap's point-in-time
	// restore. nil leaves recovery.signal as it is.
	Recovery map[string]any
}

// StandbyConfig says whom a standby streams from.
type StandbyConfig struct {
	Primary  ConnInfo // written as primary_conninfo, password included (the file is 0600)
	SlotName string   // primary_slot_name; "" none
}

const configHeader = "# managed by Conclave; edits are overwritten\n"

// Settings only pgctl controls; a caller's value is dropped. Standby
// settings are written only when ServerConfig.Standby is set.
var droppedParams = map[string]bool{
	"primary_conninfo": true, "primary_slot_name": true, "recovery_target_timeline": true,
	"data_directory": true, "config_file": true, "hba_file": true,
}

var paramNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// WriteConfig writes DataDir/postgresql.conf, pg_hba.conf (when PgHBA is
// not nil) and creates or removes standby.signal, each atomically (temp
// file, fsync, rename) with mode 0600. changed reports whether any file
// differs from before; the caller then reloads, or restarts when
// Status.PendingRestart says so or standby.signal changed.
//
// postgresql.conf includes postgresql.base.conf (initdb's file, see Initdb)
// when it exists, then Conclave's enforced settings, then the caller's
// parameters, each block sorted by name. Enforced: listen_addresses,
// port, unix_socket_directories (unless the caller sets it), hot_standby=on,
// wal_level=replica (unless 'logical'), wal_log_hints=on (pg_rewind),
// max_wal_senders and max_replication_slots at least 10.
func (i *Instance) WriteConfig(p ServerConfig) (changed bool, err error) {
	dir := i.cfg.DataDir
	if st, err := dataDirState(dir); err != nil {
		return false, fmt.Errorf("write config: %w", err)
	} else if st != DataDirValid {
		return false, fmt.Errorf("write config %s: data directory is %s", dir, st)
	}
	if _, err := i.renderConfig(p); err != nil {
		return false, fmt.Errorf("write config %s: %w", dir, err)
	}
	// A postgresql.conf the user wrote is kept as the base file (takeover.go).
	if err := i.keepUserConfig(); err != nil {
		return false, fmt.Errorf("write config %s: %w", dir, err)
	}
	conf, err := i.renderConfig(p)
	if err != nil {
		return false, fmt.Errorf("write config %s: %w", dir, err)
	}
	if c, err := i.sanitizeAutoConf(); err != nil {
		return false, fmt.Errorf("write config %s: %w", dir, err)
	} else if c {
		changed = true
	}
	c, err := writeFileAtomic(filepath.Join(dir, "postgresql.conf"), conf)
	if err != nil {
		return false, fmt.Errorf("write config %s: %w", dir, err)
	}
	changed = changed || c
	if p.PgHBA != nil && (!p.KeepUserHBA || i.hbaManaged()) {
		var b bytes.Buffer
		b.WriteString(configHeader)
		for _, l := range p.PgHBA {
			if strings.ContainsAny(l, "\n\r") {
				return changed, fmt.Errorf("write config %s: pg_hba line %q contains a newline", dir, l)
			}
			b.WriteString(l + "\n")
		}
		c, err := writeFileAtomic(filepath.Join(dir, "pg_hba.conf"), b.Bytes())
		if err != nil {
			return changed, fmt.Errorf("write config %s: %w", dir, err)
		}
		changed = changed || c
	}
	sig := filepath.Join(dir, "standby.signal")
	if p.Standby != nil {
		if !i.HasStandbySignal() {
			if _, err := writeFileAtomic(sig, nil); err != nil {
				return changed, fmt.Errorf("write config %s: %w", dir, err)
			}
			changed = true
		}
	} else if err := os.Remove(sig); err == nil {
		changed = true
	} else if !errors.Is(err, os.ErrNotExist) {
		return changed, fmt.Errorf("write config %s: %w", dir, err)
	}
	if p.Standby == nil && p.Recovery != nil {
		if c, err := writeFileAtomic(filepath.Join(dir, "recovery.signal"), nil); err != nil {
			return changed, fmt.Errorf("write config %s: %w", dir, err)
		} else if c {
			changed = true
		}
	}
	return changed, nil
}

func (i *Instance) renderConfig(p ServerConfig) ([]byte, error) {
	user := map[string]any{}
	for k, v := range p.Parameters {
		if !paramNameRE.MatchString(k) {
			return nil, fmt.Errorf("invalid parameter name %q", k)
		}
		k = strings.ToLower(k)
		if droppedParams[k] || v == nil {
			continue
		}
		user[k] = v
	}
	for k, v := range p.Recovery {
		if !paramNameRE.MatchString(k) {
			return nil, fmt.Errorf("invalid recovery setting name %q", k)
		}
		user[strings.ToLower(k)] = v
	}
	enf := map[string]any{
		"listen_addresses": strings.Join(i.cfg.ListenHosts, ","),
		"port":             i.cfg.Port,
		"hot_standby":      true,
		"wal_level":        "replica",
		"wal_log_hints":    true,
	}
	if _, ok := user["unix_socket_directories"]; !ok {
		enf["unix_socket_directories"] = i.cfg.SocketDir
	}
	if v, ok := user["wal_level"]; ok && strings.EqualFold(fmt.Sprint(v), "logical") {
		enf["wal_level"] = "logical"
	}
	for _, k := range []string{"max_wal_senders", "max_replication_slots"} {
		n := 10
		if v, ok := user[k]; ok {
			if m, ok := asInt(v); ok && m > n {
				n = m
			}
		}
		enf[k] = n
	}
	if s := p.Standby; s != nil {
		ci := s.Primary
		if ci.AppName == "" {
			ci.AppName = i.cfg.Name
		}
		// A standby that follows nobody yet (no leader known) gets no
		// primary_conninfo: it replays what it has and waits.
		if ci.Host != "" {
			enf["primary_conninfo"] = ci.String()
		}
		enf["recovery_target_timeline"] = "latest"
		if s.SlotName != "" && ci.Host != "" {
			if !validSlotName(s.SlotName) {
				return nil, fmt.Errorf("invalid slot name %q", s.SlotName)
			}
			enf["primary_slot_name"] = s.SlotName
		}
	}
	for k := range enf {
		delete(user, k)
	}

	var b bytes.Buffer
	b.WriteString(configHeader)
	if _, err := os.Stat(filepath.Join(i.cfg.DataDir, "postgresql.base.conf")); err == nil {
		b.WriteString("include 'postgresql.base.conf'\n")
	}
	for _, block := range []struct {
		title string
		m     map[string]any
	}{{"enforced by Conclave", enf}, {"parameters", user}} {
		if len(block.m) == 0 {
			continue
		}
		b.WriteString("\n# " + block.title + "\n")
		for _, k := range sortedKeys(block.m) {
			v, err := formatValue(block.m[k])
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %w", k, err)
			}
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
	}
	return b.Bytes(), nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// formatValue renders a value per postgresql.conf rules.
func formatValue(v any) (string, error) {
	switch x := v.(type) {
	case bool:
		if x {
			return "on", nil
		}
		return "off", nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), nil
	case float32:
		return formatFloat(float64(x))
	case float64:
		return formatFloat(x)
	case string:
		return quoteConfValue(x), nil
	case []string:
		return quoteConfValue(strings.Join(x, ",")), nil
	case []any:
		parts := make([]string, len(x))
		for k, e := range x {
			parts[k] = fmt.Sprint(e)
		}
		return quoteConfValue(strings.Join(parts, ",")), nil
	case fmt.Stringer:
		return quoteConfValue(x.String()), nil
	}
	return "", fmt.Errorf("unsupported value type %T", v)
}

func formatFloat(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("invalid number %v", f)
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// quoteConfValue single-quotes s for postgresql.conf: ' is doubled and, as
// the server's config scanner treats backslash as an escape, \ is doubled
// and newlines become \n.
func quoteConfValue(s string) string {
	r := strings.NewReplacer(`'`, `''`, `\`, `\\`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}

func asInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case int32:
		return int(x), true
	case uint64:
		return int(x), true
	case float64:
		return int(x), x == math.Trunc(x)
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		return n, err == nil
	}
	return 0, false
}

// writeFileAtomic replaces path with data (mode 0600) unless it already
// holds exactly data; it reports whether it wrote.
func writeFileAtomic(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == 0o600 {
			return false, nil
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return false, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return true, nil
}
