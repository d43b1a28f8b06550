package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "show the members of the cluster (patronictl list)",
		Action: func(c *cli.Context) error {
			view, err := fetchCluster(c)
			if err != nil {
				return err
			}
			renderList(os.Stdout, view, false)
			return nil
		},
	}
}

func topologyCommand() *cli.Command {
	return &cli.Command{
		Name:  "topology",
		Usage: "show the replication tree (patronictl topology)",
		Action: func(c *cli.Context) error {
			view, err := fetchCluster(c)
			if err != nil {
				return err
			}
			renderList(os.Stdout, view, true)
			return nil
		},
	}
}

func fetchCluster(c *cli.Context) (clusterView, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return clusterView{}, err
	}
	var view clusterView
	if err := newAPIClient(cfg).getJSON(c.Context, "/cluster", &view); err != nil {
		return clusterView{}, err
	}
	if view.Scope == "" {
		view.Scope = cfg.Scope
	}
	return view, nil
}

// renderList prints patronictl's list table; topology puts the leader
// first and indents the replicas under it.
func renderList(w io.Writer, view clusterView, topology bool) {
	title := "Cluster: " + view.Scope
	if view.SystemIdentifier != "" {
		title += " (" + view.SystemIdentifier + ")"
	}
	t := &table{title: title, headers: []string{"Member", "Host", "Role", "State", "TL", "Lag in MB"}, right: map[int]bool{4: true, 5: true}}
	members := append([]clusterMember(nil), view.Members...)
	sort.SliceStable(members, func(i, j int) bool {
		if topology && (members[i].Role == "leader") != (members[j].Role == "leader") {
			return members[i].Role == "leader"
		}
		return members[i].Name < members[j].Name
	})
	for _, m := range members {
		name := m.Name
		if topology && m.Role != "leader" {
			name = "+ " + name
		}
		t.add(name, fmt.Sprintf("%s:%d", m.Host, m.Port), roleTitle(m.Role), m.State, timelineCell(m.Timeline), lagCell(m))
	}
	t.write(w)
	if view.Pause {
		fmt.Fprintln(w, " Maintenance mode: on")
	}
	for _, m := range members {
		if m.Problem != "" {
			fmt.Fprintf(w, " %s not streaming: %s\n", m.Name, m.Problem)
		}
	}
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

func timelineCell(tl *int) string {
	if tl == nil || *tl == 0 {
		return ""
	}
	return strconv.Itoa(*tl)
}

// lagCell shows the lag in whole MB, as patronictl rounds it (Python's
// round(), which rounds halves to even).
func lagCell(m clusterMember) string {
	if m.Role == "leader" {
		return ""
	}
	switch v := m.Lag.(type) {
	case float64:
		return strconv.FormatInt(int64(math.RoundToEven(v/1024/1024)), 10)
	case string:
		return v
	}
	return ""
}
