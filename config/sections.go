package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/conclave-ha/conclave/fsm"
)

var knownCallbacks = []string{"on_start", "on_stop", "on_restart", "on_reload", "on_role_change"}

// Role options accepted in bootstrap.users (Patroni passes them to CREATE ROLE).
var roleOptions = []string{
	"superuser", "nosuperuser", "createdb", "nocreatedb", "createrole", "nocreaterole",
	"inherit", "noinherit", "login", "nologin", "replication", "noreplication",
	"bypassrls", "nobypassrls",
}

func (d *decoder) config(root *yaml.Node, c *Config) {
	d.mapping(root, "", []field{
		{"scope", d.str(&c.Scope)},
		{"namespace", d.str(&c.Namespace)},
		{"name", d.str(&c.Name)},
		{"log", d.log(&c.Log)},
		{"restapi", d.restapi(&c.RestAPI)},
		{"raft", d.raft(&c.Raft)},
		{"bootstrap", d.bootstrap(&c.Bootstrap)},
		{"postgresql", d.postgresql(&c.PostgreSQL)},
		{"tags", d.tags(&c.Tags)},
		{"watchdog", d.watchdog(&c.Watchdog)},
		{"vip", d.vip(&c.VIP)},
		{"ctl", d.ctl(&c.Ctl)},
		{"backup", d.backup(&c.Backup)},
	}, func(name, key string, _ *yaml.Node) bool {
		for _, o := range otherDCS {
			if name == o {
				d.errs = append(d.errs, fmt.Errorf("%s: key %q: conclave has no external DCS; replace the %s: section with a raft: section (data_dir, self_addr, partner_addrs)",
					d.where(key), key, name))
				return true
			}
		}
		return false
	})
}

func (d *decoder) log(l *Log) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		d.mapping(v, key, []field{
			{"level", d.str(&l.Level)},
			{"format", d.str(&l.Format)},
			{"type", d.str(&l.Type)}, // Patroni 4: log.type: plain|json
			{"traceback_level", d.str(&l.TracebackLevel)},
			{"dir", d.str(&l.Dir)},
			{"file_num", d.integer(&l.FileNum, 1)},
			{"file_size", d.integer(&l.FileSize, 4096)},
			{"dateformat", d.str(&l.DateFormat)}, // strftime date of plain lines (validate.go)
			{"loggers", d.loggers(&l.Loggers)},   // per-module levels (validate.go)
		}, nil)
	}
}

// loggers decodes log.loggers: a map of module names to level names.
func (d *decoder) loggers(dst *map[string]string) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		v, ok := d.collection(key, v, yaml.MappingNode, "a map of module names to levels, such as {raft: WARNING}")
		if !ok {
			return
		}
		m := map[string]string{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			name, val := v.Content[i].Value, resolve(v.Content[i+1])
			if val.Kind != yaml.ScalarNode {
				d.errorf(join(key, name), "must be a level name (DEBUG, INFO, WARNING, ERROR, CRITICAL), got %s", describe(val))
				continue
			}
			m[name] = val.Value
		}
		*dst = m
	}
}

func (d *decoder) restapi(r *RestAPI) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		var queueSize int // accepted, not acted on (notacted.go)
		d.mapping(v, key, []field{
			{"request_queue_size", d.integer(&queueSize, 0)},
			{"listen", d.str(&r.Listen)},
			{"connect_address", d.str(&r.ConnectAddress)},
			{"authentication", d.credentials(&r.Authentication)},
			{"certfile", d.str(&r.TLS.CertFile)},
			{"keyfile", d.str(&r.TLS.KeyFile)},
			{"keyfile_password", d.str(&r.TLS.KeyFilePassword)},
			{"cafile", d.str(&r.TLS.CAFile)},
			{"verify_client", d.str(&r.VerifyClient)},
			{"allowlist", d.strList(&r.Allowlist)},
			{"allowlist_include_members", d.boolean(&r.AllowlistIncludeMembers)},
			{"http_extra_headers", d.headers(&r.HTTPExtraHeaders)},
			{"https_extra_headers", d.headers(&r.HTTPSExtraHeaders)},
		}, nil)
	}
}

func (d *decoder) raft(r *Raft) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		d.mapping(v, key, []field{
			{"data_dir", d.str(&r.DataDir)},
			{"self_addr", d.str(&r.SelfAddr)},
			{"partner_addrs", d.strList(&r.PartnerAddrs)},
			{"bind_addr", d.str(&r.BindAddr)},
			{"password", d.str(&r.Password)},
			{"certfile", d.str(&r.TLS.CertFile)},
			{"keyfile", d.str(&r.TLS.KeyFile)},
			{"keyfile_password", d.str(&r.TLS.KeyFilePassword)},
			{"cafile", d.str(&r.TLS.CAFile)},
		}, nil)
	}
}

func (d *decoder) bootstrap(b *Bootstrap) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		// method names the section holding a custom bootstrap method's settings.
		if n := resolve(v); n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "method" {
					d.str(&b.Method)(join(key, "method"), n.Content[i+1])
				}
			}
		}
		d.mapping(v, key, []field{
			{"dcs", func(k string, v *yaml.Node) { ResolveYAML11Bools(resolve(v)); d.anyMap(&b.DCS)(k, v) }},
			{"initdb", d.initdb(&b.Initdb)},
			{"pg_hba", d.strList(&b.PgHBA)},
			{"users", d.users(&b.Users)},
			{"method", func(string, *yaml.Node) {}}, // decoded above
			{"post_bootstrap", d.str(&b.PostBootstrap)},
			{"post_init", d.str(&b.PostBootstrap)},
		}, func(name, k string, v *yaml.Node) bool {
			if b.Method == "" || name != b.Method {
				return false
			}
			d.anyMap(&b.MethodConfig)(k, v)
			return true
		})
	}
}

func (d *decoder) initdb(dst *[]InitdbOption) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		v, ok := d.collection(key, v, yaml.SequenceNode, "a list of options (- data-checksums, - encoding: UTF8)")
		if !ok {
			return
		}
		for i, item := range v.Content {
			ik := fmt.Sprintf("%s[%d]", key, i)
			item = resolve(item)
			switch {
			case item.Kind == yaml.ScalarNode && !isNull(item) && item.Tag == "!!str":
				*dst = append(*dst, InitdbOption{Key: item.Value})
			case item.Kind == yaml.MappingNode && len(item.Content) == 2:
				val := resolve(item.Content[1])
				if val.Kind != yaml.ScalarNode || isNull(val) {
					d.errorf(ik, "option %q must have a scalar value, got %s", item.Content[0].Value, describe(val))
					continue
				}
				*dst = append(*dst, InitdbOption{Key: item.Content[0].Value, Value: val.Value})
			default:
				d.errorf(ik, "must be a string (- data-checksums) or a single-key map (- encoding: UTF8), got %s", describe(item))
			}
		}
	}
}

func (d *decoder) users(dst *map[string]User) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		n := resolve(v)
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(key, "must be a map of user name to {password, options}, got %s", describe(n))
			return
		}
		*dst = map[string]User{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			uk := join(key, name)
			var u User
			var opts []string
			d.mapping(n.Content[i+1], uk, []field{
				{"password", d.str(&u.Password)},
				{"options", d.strList(&opts)},
			}, nil)
			for j, o := range opts {
				lo := strings.ToLower(strings.TrimSpace(o))
				if !contains(roleOptions, lo) {
					d.unknownOption(fmt.Sprintf("%s.options[%d]", uk, j), o, lo)
					continue
				}
				u.Options = append(u.Options, lo)
			}
			(*dst)[name] = u
		}
	}
}

func (d *decoder) unknownOption(key, raw, lower string) {
	msg := fmt.Sprintf("unknown role option %q; use one of %s", raw, strings.Join(roleOptions, ", "))
	if s := fsm.ClosestKey(lower, roleOptions); s != "" {
		msg = fmt.Sprintf("unknown role option %q (did you mean %q?)", raw, s)
	}
	d.errorf(key, "%s", msg)
}

func (d *decoder) postgresql(p *PostgreSQL) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		methods := replicaMethodNames(v)
		d.mapping(v, key, []field{
			{"listen", d.str(&p.Listen)},
			{"connect_address", d.str(&p.ConnectAddress)},
			{"data_dir", d.str(&p.DataDir)},
			{"bin_dir", d.str(&p.BinDir)},
			{"config_dir", d.str(&p.ConfigDir)},
			{"pgpass", d.str(&p.Pgpass)},
			{"authentication", func(k string, v *yaml.Node) {
				d.mapping(v, k, []field{
					{"superuser", d.credentials(&p.Authentication.Superuser)},
					{"replication", d.credentials(&p.Authentication.Replication)},
					{"rewind", d.credentials(&p.Authentication.Rewind)},
				}, nil)
			}},
			{"parameters", d.parameters(&p.Parameters)},
			{"pg_hba", d.strList(&p.PgHBA)},
			{"callbacks", d.callbacks(&p.Callbacks)},
			{"pre_promote", d.str(&p.PrePromote)},
			{"before_stop", d.str(&p.BeforeStop)},
			{"use_pg_rewind", d.boolPtr(&p.UsePgRewind)},
			{"create_replica_methods", d.strList(&p.CreateReplicaMethods)},
			{"basebackup", d.anyValue(&p.Basebackup)},
			{"remove_data_directory_on_rewind_failure", d.boolean(&p.RemoveDataDirectoryOnRewindFailure)},
			{"remove_data_directory_on_diverged_timelines", d.boolean(&p.RemoveDataDirectoryOnDivergedTimelines)},
			{"pg_ctl_timeout", d.integer(&p.PgCtlTimeout, 1)},
			{"use_unix_socket", d.boolean(&p.UseUnixSocket)},
		}, func(name, k string, v *yaml.Node) bool {
			// postgresql.<method>: the section of a create_replica_methods entry.
			if !methods[name] || name == "basebackup" {
				return false
			}
			var m map[string]any
			d.anyMap(&m)(k, v)
			if p.MethodSections == nil {
				p.MethodSections = map[string]map[string]any{}
			}
			p.MethodSections[name] = m
			return true
		})
	}
}

func (d *decoder) callbacks(dst *map[string]string) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		m := map[string]string{}
		fields := make([]field, len(knownCallbacks))
		vals := make([]string, len(knownCallbacks))
		for i, name := range knownCallbacks {
			fields[i] = field{name, d.str(&vals[i])}
		}
		d.mapping(v, key, fields, nil)
		for i, name := range knownCallbacks {
			if vals[i] != "" {
				m[name] = vals[i]
			}
		}
		*dst = m
	}
}

func (d *decoder) tags(t *Tags) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		d.mapping(v, key, []field{
			{"nofailover", d.boolean(&t.NoFailover)},
			{"noloadbalance", d.boolean(&t.NoLoadBalance)},
			{"clonefrom", d.boolean(&t.CloneFrom)},
			{"nosync", d.boolean(&t.NoSync)},
			{"nostream", d.boolean(&t.NoStream)},
			{"failover_priority", d.integer(&t.FailoverPriority, 0)},
			{"replicatefrom", d.str(&t.ReplicateFrom)},
		}, nil)
	}
}

func (d *decoder) watchdog(w *Watchdog) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		d.mapping(v, key, []field{
			{"mode", func(k string, v *yaml.Node) {
				// "mode: off" is a string in YAML 1.2 but false in YAML 1.1 files.
				if n := resolve(v); n.Tag == "!!bool" && n.Value == "false" {
					w.Mode = "off"
					return
				}
				d.str(&w.Mode)(k, v)
			}},
			{"device", d.str(&w.Device)},
			{"safety_margin", d.integer(&w.SafetyMargin, -1)},
		}, nil)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
