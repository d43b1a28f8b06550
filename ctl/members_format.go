package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// memberEntry is a member with the name shown for it (topology indents).
type memberEntry struct {
	member clusterMember
	name   string
}

// orderMembers sorts by name; topology puts the leader first and each
// replica under its upstream (tags.replicatefrom when that is another
// replica, else the leader), indented "+ ", "  + ", … as patronictl's
// topology_sort does.
func orderMembers(members []clusterMember, topology bool) []memberEntry {
	ms := append([]clusterMember(nil), members...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	if !topology {
		out := make([]memberEntry, len(ms))
		for i, m := range ms {
			out[i] = memberEntry{m, m.Name}
		}
		return out
	}
	isLeader := func(m clusterMember) bool { return strings.HasSuffix(m.Role, "leader") }
	leader := ""
	replicas := map[string]bool{}
	for _, m := range ms {
		if isLeader(m) {
			if leader == "" {
				leader = m.Name
			}
		} else {
			replicas[m.Name] = true
		}
	}
	children := map[string][]clusterMember{}
	for _, m := range ms {
		if isLeader(m) {
			continue
		}
		parent, _ := m.Tags["replicatefrom"].(string)
		if parent == "" || parent == m.Name || !replicas[parent] {
			parent = leader
		}
		children[parent] = append(children[parent], m)
	}
	var out []memberEntry
	done := map[string]bool{}
	var walk func(parent string, level int)
	walk = func(parent string, level int) {
		for _, m := range children[parent] {
			if done[m.Name] {
				continue
			}
			done[m.Name] = true
			out = append(out, memberEntry{m, strings.Repeat("  ", level) + "+ " + m.Name})
			walk(m.Name, level+1)
		}
	}
	for _, m := range ms {
		if isLeader(m) {
			out = append(out, memberEntry{m, m.Name})
			done[m.Name] = true
		}
	}
	walk(leader, 0)
	for _, m := range ms { // replicas in a replicatefrom cycle
		if !done[m.Name] {
			out = append(out, memberEntry{m, "+ " + m.Name})
		}
	}
	return out
}

// cellText renders a value for the pretty table or tsv. Tags are YAML:
// block style in the pretty table (one tag per line), flow style in tsv,
// as patronictl's format_config_for_editing.
func cellText(v any, flow bool) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case map[string]any:
		return tagsYAML(x, flow)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func tagsYAML(tags map[string]any, flow bool) string {
	parts := joinSorted(tags, func(k string, v any) string { return k + ": " + yamlScalar(v) })
	if flow {
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return strings.Join(parts, "\n")
}

func yamlScalar(v any) string {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		v = int64(f)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(out))
}

// writeTSV prints the columns (Cluster included) and rows tab-separated.
func writeTSV(w io.Writer, cols []string, rows []map[string]any) {
	fmt.Fprintln(w, strings.Join(cols, "\t"))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = cellText(r[c], true)
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
}

// writeMachine prints the rows as patronictl's json and yaml formats do: a
// list of objects, columns with an empty value left out; JSON keys in
// column order with Python's separators, YAML keys sorted.
func writeMachine(w io.Writer, format string, cols []string, rows []map[string]any) {
	if format == "yaml" {
		list := make([]map[string]any, 0, len(rows))
		for _, r := range rows {
			m := map[string]any{}
			for _, c := range cols {
				if s, ok := r[c].(string); !ok || s != "" {
					m[c] = r[c]
				}
			}
			list = append(list, m)
		}
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		_ = enc.Encode(list)
		w.Write(b.Bytes())
		return
	}
	var b strings.Builder
	b.WriteString("[")
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{")
		n := 0
		for _, c := range cols {
			if s, ok := r[c].(string); ok && s == "" {
				continue
			}
			if n > 0 {
				b.WriteString(", ")
			}
			n++
			b.WriteString(pyJSON(c) + ": " + pyJSON(r[c]))
		}
		b.WriteString("}")
	}
	b.WriteString("]")
	fmt.Fprintln(w, b.String())
}

// pyJSON encodes v as Python's json.dumps does by default (", " and ": "
// separators, non-ASCII escaped); map keys sorted.
func pyJSON(v any) string {
	switch x := v.(type) {
	case map[string]any:
		parts := joinSorted(x, func(k string, v any) string { return pyJSON(k) + ": " + pyJSON(v) })
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyJSON(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case string:
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range x {
			switch {
			case r == '"' || r == '\\':
				b.WriteString("\\" + string(r))
			case r == '\n':
				b.WriteString(`\n`)
			case r < 0x20 || r > 0x7e:
				if r > 0xffff {
					r -= 0x10000
					fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
				} else {
					fmt.Fprintf(&b, `\u%04x`, r)
				}
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
		return b.String()
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10)
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(out)
}

// joinSorted renders each entry of m with f, in key order.
func joinSorted(m map[string]any, f func(k string, v any) string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = f(k, m[k])
	}
	return parts
}
