package dynconfig

import "strings"

// NotActedOn lists the dynamic configuration keys Conclave accepts (so that
// a Patroni document is stored as it is) but does not act on, with why. The
// agent names them when its file's bootstrap.dcs sets them (config), and
// PATCH/PUT /config names them in a Warning header that edit-config prints.
var NotActedOn = []struct{ Key, Why string }{
	{"standby_cluster", "standby clusters are not supported"},
	{"maximum_lag_on_syncnode", "a lagging synchronous standby is not replaced"},
	{"master_stop_timeout", "no stop timeout for the primary"},
	{"primary_stop_timeout", "no stop timeout for the primary"},
	{"check_timeline", "timelines are checked through the Raft state"},
	{"max_timelines_history", "the history is kept whole"},
	{"ignore_slots", "slots the agent did not create are left alone anyway"},
	{"postgresql.remove_data_directory_on_rewind_failure", "a data directory is always moved aside, never removed"},
	{"postgresql.remove_data_directory_on_diverged_timelines", "a data directory is always moved aside, never removed"},
}

// NotActedOnIn returns "key (why)" for each NotActedOn key doc sets to a
// non-null value, in the table's order.
func NotActedOnIn(doc map[string]any) []string {
	var out []string
	for _, row := range NotActedOn {
		if v, ok := lookup(doc, row.Key); ok && v != nil {
			out = append(out, row.Key+" ("+row.Why+")")
		}
	}
	return out
}

// lookup finds a dotted key in nested maps.
func lookup(doc map[string]any, dotted string) (any, bool) {
	parts := strings.Split(dotted, ".")
	cur := doc
	for i, p := range parts {
		v, ok := cur[p]
		if !ok {
			return nil, false
		}
		if i == len(parts)-1 {
			return v, true
		}
		if cur, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}
