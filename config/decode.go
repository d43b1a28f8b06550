package config

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/conclave-ha/conclave/fsm"
)

// decoder walks the YAML tree. origin maps every key path ("postgresql.listen",
// "bootstrap.initdb[1]") to where its value came from ("conclave.yml:12" or
// "environment CONCLAVE_NAME"), so that every message can say where to look.
type decoder struct {
	file   string
	origin map[string]string
	errs   []error
	unused []Unused // keys found not acted on while validating (log.loggers of no module)
}

type field struct {
	name string
	fn   func(key string, v *yaml.Node)
}

// The DCS sections Patroni supports and Conclave replaces with raft:.
var otherDCS = []string{"etcd", "etcd3", "consul", "zookeeper", "exhibitor", "kubernetes"}

// Keys Patroni knows that Conclave refuses rather than silently ignores.
var unsupported = map[string]string{
	"citus":                           "Citus clusters are not supported",
	"restapi.ciphers":                 "choosing TLS ciphers is not supported: Go's TLS defaults are used",
	"postgresql.pg_ident":             "pg_ident is not managed by conclave",
	"postgresql.custom_conf":          "custom_conf is not supported",
	"postgresql.recovery_conf":        "set recovery settings in bootstrap.dcs.postgresql.recovery_conf",
	"postgresql.krbsrvname":           "Kerberos is not supported",
	"postgresql.proxy_address":        "proxy_address is not supported",
	"postgresql.use_unix_socket_repl": "use_unix_socket_repl is not supported",
	"postgresql.bin_name":             "custom binary names are not supported",
}

func (d *decoder) errorf(key, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s: key %q: %s", d.where(key), key, fmt.Sprintf(format, args...)))
}

// where returns the origin of key, or of its nearest ancestor, or the file.
func (d *decoder) where(key string) string {
	if o, ok := originOf(d.origin, key); ok {
		return o
	}
	return d.file + ":1"
}

// originOf is where key, or its nearest ancestor, was set.
func originOf(origin map[string]string, key string) (string, bool) {
	for k := key; k != ""; k = parentKey(k) {
		if o, ok := origin[k]; ok {
			return o, true
		}
	}
	return "", false
}

func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

// prepass records the line of every key and refuses duplicate keys.
func (d *decoder) prepass(n *yaml.Node, path string) {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			key := join(path, k.Value)
			if line, dup := first[k.Value]; dup {
				d.errs = append(d.errs, fmt.Errorf("%s:%d: duplicate key %q (first defined at line %d)", d.file, k.Line, key, line))
				continue
			}
			first[k.Value] = k.Line
			d.origin[key] = fmt.Sprintf("%s:%d", d.file, k.Line)
			d.prepass(n.Content[i+1], key)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", path, i)
			d.origin[key] = fmt.Sprintf("%s:%d", d.file, item.Line)
			d.prepass(item, key)
		}
	}
}

// mapping decodes a map node field by field. A null node (e.g. "restapi:"
// with nothing under it) counts as absent. extra, if set, may accept a key
// that is not in fields.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field, extra func(name, key string, v *yaml.Node) bool) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(path, "must be a map, got %s", describe(n))
		return
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
outer:
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, v := n.Content[i].Value, n.Content[i+1]
		key := join(path, name)
		for _, f := range fields {
			if f.name == name {
				f.fn(key, v)
				continue outer
			}
		}
		if extra != nil && extra(name, key, v) {
			continue
		}
		if msg, ok := unsupported[key]; ok {
			d.errorf(key, "%s; remove it", msg)
			continue
		}
		d.unknown(key, name, names)
	}
}

func (d *decoder) unknown(key, name string, known []string) {
	msg := fmt.Sprintf("%s: unknown key %q", d.where(key), key)
	if s := fsm.ClosestKey(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.errs = append(d.errs, fmt.Errorf("%s", msg))
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func (d *decoder) str(dst *string) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		v = resolve(v)
		if isNull(v) {
			return
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!bool" {
			d.errorf(key, "must be a string, got %s", describe(v))
			return
		}
		*dst = v.Value
	}
}

func (d *decoder) boolean(dst *bool) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		v = resolve(v)
		if isNull(v) {
			return
		}
		b, ok := yaml11Bool(v)
		if !ok {
			d.errorf(key, "must be true or false (yes/no, on/off), got %s", describe(v))
			return
		}
		*dst = b
	}
}

func (d *decoder) boolPtr(dst **bool) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		var b bool
		set := false
		d.boolean(&b)(key, v)
		if _, ok := yaml11Bool(resolve(v)); ok {
			set = true
		}
		if set {
			*dst = &b
		}
	}
}

// integer accepts an integer or an integral float within int32.
func (d *decoder) integer(dst *int, min int64) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		v = resolve(v)
		if isNull(v) {
			return
		}
		var raw any
		if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") || v.Decode(&raw) != nil {
			d.errorf(key, "must be an integer, got %s", describe(v))
			return
		}
		n, ok := fsm.DynamicInt(raw)
		if !ok {
			d.errorf(key, "must be an integer, got %s", describe(v))
			return
		}
		if n < min || n > math.MaxInt32 {
			d.errorf(key, "must be an integer >= %d and <= %d, got %d", min, math.MaxInt32, n)
			return
		}
		*dst = int(n)
	}
}

// collection resolves v and checks it is of kind: false when it is null
// (nothing to decode) or of another kind (reported as "must be <want>").
func (d *decoder) collection(key string, v *yaml.Node, kind yaml.Kind, want string) (*yaml.Node, bool) {
	v = resolve(v)
	if isNull(v) {
		return v, false
	}
	if v.Kind != kind {
		d.errorf(key, "must be %s, got %s", want, describe(v))
		return v, false
	}
	return v, true
}

func (d *decoder) strList(dst *[]string) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		v, ok := d.collection(key, v, yaml.SequenceNode, "a list of strings")
		if !ok {
			return
		}
		out := []string{}
		for i, item := range v.Content {
			var s string
			d.str(&s)(fmt.Sprintf("%s[%d]", key, i), item)
			out = append(out, s)
		}
		*dst = out
	}
}

// anyMap decodes a map into plain Go values (map[string]any, []any, scalars).
func (d *decoder) anyMap(dst *map[string]any) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		v, ok := d.collection(key, v, yaml.MappingNode, "a map")
		if !ok {
			return
		}
		var m map[string]any
		if err := v.Decode(&m); err != nil {
			d.errorf(key, "cannot decode: %v", err)
			return
		}
		*dst = m
	}
}

// headers decodes HTTP headers (restapi.http_extra_headers): a map of
// header names to scalar values, each checked as HTTP allows.
func (d *decoder) headers(dst *map[string]string) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		v, ok := d.collection(key, v, yaml.MappingNode, "a map of header names to values")
		if !ok {
			return
		}
		m := map[string]string{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			name, val := v.Content[i].Value, resolve(v.Content[i+1])
			switch {
			case !validHeaderName(name):
				d.errorf(key, "%q is not a valid HTTP header name", name)
			case val.Kind != yaml.ScalarNode || strings.ContainsAny(val.Value, "\r\n"):
				d.errorf(key, "header %s: the value must be one line of text", name)
			default:
				m[name] = val.Value
			}
		}
		*dst = m
	}
}

// validHeaderName: RFC 9110 token characters only.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// parameters decodes a map of scalar PostgreSQL parameters.
func (d *decoder) parameters(dst *map[string]any) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		var m map[string]any
		d.anyMap(&m)(key, v)
		names := make([]string, 0, len(m))
		for name := range m {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if val := m[name]; !fsm.IsScalarParameter(val) {
				d.errorf(key+"."+name, "must be a string, number or boolean, got %s", describeValue(m[name]))
				delete(m, name)
			}
		}
		if m != nil {
			*dst = m
		}
	}
}

func (d *decoder) anyValue(dst *any) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		if err := resolve(v).Decode(dst); err != nil {
			d.errorf(key, "cannot decode: %v", err)
		}
	}
}

func (d *decoder) credentials(c *Credentials) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		d.mapping(v, key, []field{
			{"username", d.str(&c.Username)},
			{"password", d.str(&c.Password)},
		}, nil)
	}
}

func describeValue(v any) string {
	switch v.(type) {
	case map[string]any, map[any]any:
		return "a map"
	case []any:
		return "a list"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", v)
}
