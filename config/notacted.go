package config

import (
	"sort"
	"strings"

	"github.com/conclave-ha/conclave/dynconfig"
)

// Honest configuration: every key Conclave accepts is either acted on or
// named at start, in one warning line, and by `conclave validate-config`.
// notActedOn is the one list of keys Conclave accepts (so that a Patroni
// file starts unchanged) but does not act on. When a key starts being
// acted on, delete its row here and from the README's list.
var notActedOn = append([]struct{ key, why string }{
	{"namespace", "one Raft cluster holds one scope; there is no shared DCS to divide"},
	{"raft.bind_addr", "the Raft port listens on raft.self_addr"},
	{"restapi.request_queue_size", "the REST API's listen backlog is the kernel's (net.core.somaxconn)"},
	{"bootstrap.post_bootstrap", "post_bootstrap scripts are not run"},
	{"bootstrap.post_init", "post_bootstrap scripts are not run"},
	{"postgresql.config_dir", "configuration files are written into postgresql.data_dir"},
	{"postgresql.remove_data_directory_on_rewind_failure", "a data directory is always moved aside, never removed"},
	{"postgresql.remove_data_directory_on_diverged_timelines", "a data directory is always moved aside, never removed"},
	{"tags.nostream", "every replica streams"},
	{"tags.replicatefrom", "shown as a tag; every replica streams from the primary (no cascading)"},
	{"watchdog", "Conclave's own process watchdog always runs; /dev/watchdog is not used"},
}, dcsNotActedOn()...)

// dcsNotActedOn is dynconfig's list of dynamic keys not acted on, as set in
// bootstrap.dcs (one list, which PATCH /config also names).
func dcsNotActedOn() []struct{ key, why string } {
	var out []struct{ key, why string }
	for _, row := range dynconfig.NotActedOn {
		out = append(out, struct{ key, why string }{"bootstrap.dcs." + row.Key, row.Why})
	}
	return out
}

// Unused is a key set in the file that Conclave accepts but does not act on.
type Unused struct {
	Key   string // dotted key, e.g. "postgresql.callbacks"
	Where string // "conclave.yml:30"
	Why   string
}

// notActedOnSet returns the rows of notActedOn whose key (or a key under
// it) is set in the file, in the table's order.
func (d *decoder) notActedOnSet() []Unused {
	var out []Unused
	for _, row := range notActedOn {
		if o, ok := d.origin[row.key]; ok {
			out = append(out, Unused{Key: row.key, Where: o, Why: row.why})
		}
	}
	return out
}

// UnusedKeys are the keys of c.Unused, in the table's order.
func (c *Config) UnusedKeys() []string {
	keys := make([]string, len(c.Unused))
	for i, u := range c.Unused {
		keys[i] = u.Key
	}
	return keys
}

// UnusedLine is the one warning line naming every key of c.Unused, or ""
// when there is none: "accepted, not acted on: postgresql.callbacks, watchdog".
func (c *Config) UnusedLine() string {
	if len(c.Unused) == 0 {
		return ""
	}
	return "accepted, not acted on: " + strings.Join(c.UnusedKeys(), ", ")
}

// NotActedOnKeys lists every key of the table, sorted (for documentation
// and tests).
func NotActedOnKeys() []string {
	out := make([]string, len(notActedOn))
	for i, r := range notActedOn {
		out[i] = r.key
	}
	sort.Strings(out)
	return out
}
