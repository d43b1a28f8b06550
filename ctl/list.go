package ctl

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/config"
)

// listOptions is how the member table is printed.
type listOptions struct {
	topology, extended bool
	format             string // pretty, tsv, json, yaml
}

// ListOptions are list's and topology's flags.
type ListOptions struct {
	Topology, Extended bool
	Format             string  // pretty, tsv, json, yaml (yml)
	Timestamp          bool    // a timestamp before the table
	W                  bool    // refresh every 2 seconds
	Watch              float64 // refresh every Watch seconds
}

// outputFormat checks a --format value (pretty, tsv, json, yaml or yml)
// and returns it with yml spelled yaml.
func outputFormat(verb, format string) (string, error) {
	switch format {
	case "pretty", "tsv", "json", "yaml":
		return format, nil
	case "yml":
		return "yaml", nil
	}
	return "", UsageError{fmt.Errorf("%s: --format must be pretty, tsv, json or yaml, got %q", verb, format)}
}

// List is patronictl list (and topology): the member table, once or
// refreshed until ctx ends.
func List(ctx context.Context, env Env, o ListOptions) error {
	cfg, _, err := env.verbConfig(0)
	if err != nil {
		return err
	}
	format, err := outputFormat(env.Verb, o.Format)
	if err != nil {
		return err
	}
	opts := listOptions{topology: o.Topology, extended: o.Extended, format: format}
	every := time.Duration(o.Watch * float64(time.Second))
	if every < 0 {
		return UsageError{fmt.Errorf("%s: --watch must be a positive number of seconds, got %v", env.Verb, o.Watch)}
	}
	if o.W && every == 0 {
		every = 2 * time.Second
	}
	for {
		if every > 0 {
			clearScreen(env.Out)
		}
		if o.Timestamp {
			fmt.Fprintln(env.Out, time.Now().Format("2006-01-02 15:04:05.000000"))
		}
		view, err := readCluster(ctx, cfg, env.Err)
		if err != nil {
			return err
		}
		renderMembers(env.Out, view, opts)
		if every == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// clearScreen clears a terminal as click.clear() does; not a pipe.
func clearScreen(w io.Writer) {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(f, "\033[2J\033[1;1H")
		}
	}
}

// readCluster reads GET /cluster from the local agent or, when it is down,
// from another member (reachCluster).
func readCluster(ctx context.Context, cfg *config.Config, stderr io.Writer) (clusterView, error) {
	view, _, err := reachCluster(ctx, cfg, stderr)
	return view, err
}

// reachCluster reads GET /cluster from the local agent or, when it is down,
// from another member (askAnyMember), remembers the members for the next
// time, and returns a client of the agent that answered.
func reachCluster(ctx context.Context, cfg *config.Config, stderr io.Writer) (clusterView, *apiClient, error) {
	scope := cfg.Scope
	var view clusterView
	var from *apiClient
	who, err := askAnyMember(ctx, cfg, stderr, func(a *apiClient) error {
		view, from = clusterView{}, a
		return a.getJSON(ctx, "/cluster", &view)
	})
	if err != nil {
		return clusterView{}, nil, err
	}
	if view.Scope == "" {
		view.Scope = scope
	}
	if view.Scope != scope {
		return clusterView{}, nil, fmt.Errorf("%s at %s belongs to cluster %q, not %q (scope in %s)", who.name, who.base, view.Scope, scope, cfg.Path)
	}
	writeMemberCache(scope, view)
	return view, from, nil
}

// memberColumns are patronictl's columns; the last three appear with
// --extended or when any member has a value for them. --extended adds
// Conclave's Raft column (leader, voter or non-voter) and the Version and
// Protocol columns (each member's agent version and protocol level, what a
// rolling upgrade checks) when the agents report them, so the table stays
// patronictl's otherwise.
func memberColumns(view clusterView, extended bool) []string {
	cols := []string{"Cluster", "Member", "Host", "Role", "State", "TL", "Lag in MB"}
	var pending, scheduled, tags, raft, version bool
	for _, m := range view.Members {
		raft = raft || m.RaftRole != ""
		version = version || m.Version != ""
		pending = pending || m.PendingRestart
		scheduled = scheduled || m.ScheduledRestart != nil
		tags = tags || len(m.Tags) > 0
	}
	if extended || pending {
		cols = append(cols, "Pending restart")
	}
	if extended || scheduled {
		cols = append(cols, "Scheduled restart")
	}
	if extended || tags {
		cols = append(cols, "Tags")
	}
	if extended && raft {
		cols = append(cols, "Raft")
	}
	if extended && version {
		cols = append(cols, "Version", "Protocol")
	}
	return cols
}

// memberRow is one member's values by column name: a string, an int
// (TL, Lag in MB) or the tags map.
func memberRow(view clusterView, m clusterMember, name string, appendPort bool) map[string]any {
	host := m.Host
	if appendPort && m.Host != "" && m.Port != 0 {
		host = fmt.Sprintf("%s:%d", m.Host, m.Port)
	}
	row := map[string]any{
		"Cluster": view.Scope, "Member": name, "Host": host, "Role": roleTitle(m.Role),
		"State": m.State, "TL": "", "Lag in MB": lagValue(m), "Pending restart": "", "Scheduled restart": "", "Tags": "",
		"Raft": m.RaftRole, "Version": m.Version, "Protocol": m.Protocol,
	}
	if m.Timeline != nil && *m.Timeline != 0 {
		row["TL"] = *m.Timeline
	}
	if m.PendingRestart {
		row["Pending restart"] = "*"
	}
	if r := m.ScheduledRestart; r != nil {
		s := r.Schedule
		if r.PostgresVersion != "" {
			s += " if version < " + r.PostgresVersion
		}
		row["Scheduled restart"] = s
	}
	if len(m.Tags) > 0 {
		row["Tags"] = m.Tags
	}
	return row
}

// appendPort is patronictl's rule: show host:port when a member runs on a
// port other than 5432 or two members share a host.
func appendPort(members []clusterMember) bool {
	hosts := map[string]bool{}
	for _, m := range members {
		if m.Port != 0 && m.Port != 5432 {
			return true
		}
		hosts[m.Host] = true
	}
	return len(hosts) < len(members)
}

// renderMembers prints the members as patronictl's output_members does.
func renderMembers(w io.Writer, view clusterView, o listOptions) {
	cols := memberColumns(view, o.extended)
	port := appendPort(view.Members)
	var rows []map[string]any
	for _, e := range orderMembers(view.Members, o.topology) {
		rows = append(rows, memberRow(view, e.member, e.name, port))
	}
	switch o.format {
	case "json", "yaml":
		writeMachine(w, o.format, cols, rows)
		return
	case "tsv":
		writeTSV(w, cols, rows)
		return
	}
	title := "Cluster: " + view.Scope
	if view.SystemIdentifier != "" {
		title += " (" + view.SystemIdentifier + ")"
	}
	t := &table{title: title, headers: cols[1:], right: map[int]bool{}}
	for i, h := range t.headers {
		t.right[i] = h == "TL" || h == "Lag in MB"
	}
	for _, r := range rows {
		cells := make([]string, len(t.headers))
		for i, h := range t.headers {
			cells[i] = cellText(r[h], false)
		}
		t.add(cells...)
	}
	t.write(w)
	for _, line := range serviceInfo(view) {
		fmt.Fprintln(w, " "+line)
	}
	for _, e := range orderMembers(view.Members, o.topology) {
		if e.member.Problem != "" {
			fmt.Fprintf(w, " %s not streaming: %s\n", e.member.Name, e.member.Problem)
		}
		if e.member.Takeover != "" {
			fmt.Fprintf(w, " %s takeover: %s\n", e.member.Name, e.member.Takeover)
		}
	}
	if o.extended {
		for _, line := range serversWithoutMember(view) {
			fmt.Fprintln(w, " "+line)
		}
	}
}

// serversWithoutMember names the Raft servers no member record names,
// which the table cannot show: each counts in the quorum.
func serversWithoutMember(view clusterView) []string {
	var out []string
	for _, s := range view.RaftServersWithoutMember {
		out = append(out, fmt.Sprintf("Raft %s %s has no member record: a node joining, or one a failed eviction left (conclave leave %s --evict)",
			s.RaftRole, s.RaftAddr, s.RaftAddr))
	}
	return out
}

// serviceInfo is patronictl's get_cluster_service_info.
func serviceInfo(view clusterView) []string {
	var out []string
	if view.Pause {
		out = append(out, "Maintenance mode: on")
	}
	if s := view.ScheduledSwitchover; s != nil {
		info := "Switchover scheduled at: " + s.At
		if s.From != "" {
			info += fmt.Sprintf("\n%24s: %s", "from", s.From)
		}
		if s.To != "" {
			info += fmt.Sprintf("\n%24s: %s", "to", s.To)
		}
		out = append(out, info)
	}
	return out
}

// roleTitle spells a role as patronictl does (role.replace('_', ' ').title()):
// "leader" → "Leader", "sync_standby" → "Sync Standby", "standby_leader" → "Standby Leader".
func roleTitle(role string) string {
	words := strings.Fields(strings.ReplaceAll(role, "_", " "))
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + strings.ToLower(w[1:])
	}
	return strings.Join(words, " ")
}

// lagValue is the lag in whole MB, as patronictl rounds it (Python's
// round(), which rounds halves to even), or the API's string ("unknown").
func lagValue(m clusterMember) any {
	if m.Role == "leader" || m.Role == "standby_leader" {
		return ""
	}
	switch v := m.Lag.(type) {
	case float64:
		return int64(math.RoundToEven(v / 1024 / 1024))
	case string:
		return v
	}
	return ""
}
