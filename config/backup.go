package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/conclave-ha/conclave/backup"
)

// DefaultBackupCommand is the pgBackRest program backup.command defaults to.
const DefaultBackupCommand = "pgbackrest"

// Backup is the backup: section (Conclave's own): the backup tool the
// agents drive for stanza creation, checks, `conclave backup` and backup
// health. Tool "" means no backup tool is configured; "pgbackrest" is the
// only tool today (the section names the tool so WAL-G can be added).
// Archiving itself is PostgreSQL's archive_mode/archive_command from the
// dynamic configuration, and replicas and new clusters are built by the
// Patroni-style methods (ReplicaMethod, BootstrapMethod).
type Backup struct {
	Tool    string // "pgbackrest" or ""
	Stanza  string // the stanza this cluster archives to and backs up into
	Config  string // pgbackrest.conf path passed as PGBACKREST_CONFIG; "" = pgBackRest's default
	Command string // the program, default "pgbackrest"
}

// Enabled reports whether a backup tool is configured.
func (b Backup) Enabled() bool { return b.Tool != "" }

// MethodOption is one key of a method section passed on to its command as
// --key=value, as Patroni does.
type MethodOption = backup.MethodOption

// ReplicaMethod is one postgresql.create_replica_methods entry with its
// postgresql.<name> section. "basebackup" is built in (pg_basebackup from
// the primary); any other name runs Command.
type ReplicaMethod struct {
	Name     string
	Command  string
	KeepData bool // the data directory is not moved aside before Command
	NoParams bool // no --scope, --role, --datadir, --connstring arguments
	NoLeader bool // may run without a running primary (no_leader, or Patroni's no_master)
	Options  []MethodOption
}

// BootstrapMethod is the bootstrap.<method> section when bootstrap.method
// names a custom method (Patroni's custom bootstrap).
type BootstrapMethod struct {
	Command                  string
	KeepExistingRecoveryConf bool // keep the recovery settings and signal the command wrote
	NoParams                 bool // no --scope and --datadir arguments
	RecoveryConf             map[string]any
	Options                  []MethodOption
}

// Custom reports whether bootstrap.method names a custom method (anything
// but initdb).
func (b Bootstrap) Custom() bool { return b.Method != "" && b.Method != "initdb" }

func (d *decoder) backup(dst *Backup) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		d.mapping(v, key, []field{
			{"tool", d.str(&dst.Tool)},
			{"stanza", d.str(&dst.Stanza)},
			{"config", d.str(&dst.Config)},
			{"command", d.str(&dst.Command)},
		}, nil)
	}
}

// replicaMethodSections are the method names create_replica_methods lists,
// read ahead of the postgresql: mapping (a method's section may come first).
func replicaMethodNames(v *yaml.Node) map[string]bool {
	names := map[string]bool{}
	n := resolve(v)
	if n.Kind != yaml.MappingNode {
		return names
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "create_replica_methods" {
			continue
		}
		if l := resolve(n.Content[i+1]); l.Kind == yaml.SequenceNode {
			for _, item := range l.Content {
				if item.Kind == yaml.ScalarNode {
					names[item.Value] = true
				}
			}
		}
	}
	return names
}

var recoveryTargets = []string{"recovery_target", "recovery_target_time", "recovery_target_lsn", "recovery_target_xid", "recovery_target_name"}

var stanzaRE = regexp.MustCompile(`--stanza[= ](["']?)([^"'\s]+)`)

// stanzaIn returns the pgBackRest stanza a command line names, or "".
func stanzaIn(cmd string) string {
	if m := stanzaRE.FindStringSubmatch(cmd); m != nil {
		return m[2]
	}
	return ""
}

// methodOptions turns a method section into its typed fields and the
// remaining keys (sorted) passed on as --key=value.
func (d *decoder) methodOptions(key string, section map[string]any, known map[string]func(any) bool) []MethodOption {
	var opts []MethodOption
	names := make([]string, 0, len(section))
	for k := range section {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := section[k]
		if set, ok := known[k]; ok {
			if !set(v) {
				d.errorf(join(key, k), "has the wrong type (%T)", v)
			}
			continue
		}
		switch v.(type) {
		case map[string]any, []any:
			d.errorf(join(key, k), "must be a single value (it is passed as --%s=value)", k)
			continue
		}
		opts = append(opts, MethodOption{Key: k, Value: fmt.Sprint(v)})
	}
	return opts
}

func setStr(dst *string) func(any) bool {
	return func(v any) bool { s, ok := v.(string); *dst = s; return ok }
}

func setBool(dst *bool) func(any) bool {
	return func(v any) bool { b, ok := v.(bool); *dst = b; return ok }
}

func (d *decoder) validateReplicaMethods(p *PostgreSQL) {
	p.ReplicaMethods = nil
	for i, m := range p.CreateReplicaMethods {
		key := fmt.Sprintf("postgresql.create_replica_methods[%d]", i)
		if m == "" || !paramNameLike(m) {
			d.errorf(key, "method name %q must be a plain name (letters, digits, _)", m)
			continue
		}
		rm := ReplicaMethod{Name: m}
		section, hasSection := p.MethodSections[m]
		if m == "basebackup" {
			p.ReplicaMethods = append(p.ReplicaMethods, rm)
			continue
		}
		if !hasSection {
			d.errorf(key, "method %q needs a postgresql.%s section with its command", m, m)
			continue
		}
		skey := "postgresql." + m
		var noMaster bool
		rm.Options = d.methodOptions(skey, section, map[string]func(any) bool{
			"command":   setStr(&rm.Command),
			"keep_data": setBool(&rm.KeepData),
			"no_params": setBool(&rm.NoParams),
			"no_leader": setBool(&rm.NoLeader),
			"no_master": setBool(&noMaster),
		})
		rm.NoLeader = rm.NoLeader || noMaster
		if strings.TrimSpace(rm.Command) == "" {
			d.errorf(join(skey, "command"), "missing: method %q needs the command that creates the data directory", m)
			continue
		}
		p.ReplicaMethods = append(p.ReplicaMethods, rm)
	}
}

func paramNameLike(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (d *decoder) validateBootstrapMethod(c *Config) {
	b := &c.Bootstrap
	b.CustomMethod = nil
	if !b.Custom() {
		return
	}
	key := "bootstrap." + b.Method
	if b.MethodConfig == nil {
		d.errorf("bootstrap.method", "names %q but there is no %s section with its command", b.Method, key)
		return
	}
	m := &BootstrapMethod{}
	m.Options = d.methodOptions(key, b.MethodConfig, map[string]func(any) bool{
		"command":                     setStr(&m.Command),
		"keep_existing_recovery_conf": setBool(&m.KeepExistingRecoveryConf),
		"no_params":                   setBool(&m.NoParams),
		"recovery_conf": func(v any) bool {
			rc, ok := v.(map[string]any)
			m.RecoveryConf = rc
			return ok || v == nil
		},
	})
	if strings.TrimSpace(m.Command) == "" {
		d.errorf(join(key, "command"), "missing: a custom bootstrap needs the command that restores the data directory")
		return
	}
	set := 0
	for _, t := range recoveryTargets {
		if _, ok := m.RecoveryConf[t]; ok {
			set++
		}
	}
	if set > 1 {
		d.errorf(join(key, "recovery_conf"), "sets more than one of %s; PostgreSQL allows one recovery target", strings.Join(recoveryTargets, ", "))
	}
	if a, ok := m.RecoveryConf["recovery_target_action"]; ok {
		if s := fmt.Sprint(a); s != "promote" && s != "pause" {
			d.errorf(join(key, "recovery_conf.recovery_target_action"), "must be promote or pause (the restored member becomes the new cluster's primary), got %q", s)
		}
	}
	for k := range m.RecoveryConf {
		if !paramNameLike(k) {
			d.errorf(join(key, "recovery_conf"), "invalid setting name %q", k)
		}
	}
	// The restored cluster must never archive over the backup it came from.
	from := stanzaIn(m.Command)
	if rc, ok := m.RecoveryConf["restore_command"].(string); ok && from == "" {
		from = stanzaIn(rc)
	}
	if from != "" && c.Backup.Stanza == from {
		d.errorf("backup.stanza", "is %q, the stanza %s restores from: the new cluster would archive over the backup it came from; give it a new stanza", from, key)
	}
	if ac, ok := dcsParam(b.DCS, "archive_command"); ok && from != "" && stanzaIn(ac) == from {
		d.errorf("bootstrap.dcs.postgresql.parameters.archive_command", "archives to stanza %q, the one %s restores from: the new cluster would archive over the backup it came from; use a new stanza", from, key)
	}
	// The local value is used wherever the dynamic configuration does not set one.
	if ac, ok := c.PostgreSQL.Parameters["archive_command"].(string); ok && from != "" && stanzaIn(ac) == from {
		d.errorf("postgresql.parameters.archive_command", "archives to stanza %q, the one %s restores from: the new cluster would archive over the backup it came from; use a new stanza", from, key)
	}
	b.CustomMethod = m
}

// dcsParam returns bootstrap.dcs.postgresql.parameters.<name> as a string.
func dcsParam(dcs map[string]any, name string) (string, bool) {
	pg, _ := dcs["postgresql"].(map[string]any)
	params, _ := pg["parameters"].(map[string]any)
	s, ok := params[name].(string)
	return s, ok
}

func (d *decoder) validateBackup(c *Config) {
	b := &c.Backup
	if !d.isSet("backup") {
		return
	}
	if b.Tool == "" {
		b.Tool = "pgbackrest"
	}
	if b.Tool != "pgbackrest" {
		d.errorf("backup.tool", "must be pgbackrest (the only backup tool Conclave drives today), got %q", b.Tool)
	}
	if b.Command == "" {
		b.Command = DefaultBackupCommand
	}
	if b.Stanza == "" {
		d.errs = append(d.errs, fmt.Errorf("%s: missing required key %q (the pgBackRest stanza this cluster archives to)", d.where("backup"), "backup.stanza"))
	} else if !paramNameLike(b.Stanza) {
		d.errorf("backup.stanza", "must be letters, digits, '-' or '_', got %q", b.Stanza)
	}
}
