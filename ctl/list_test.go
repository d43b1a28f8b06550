package ctl

import (
	"bytes"
	"strings"
	"testing"
)

func TestRenderMembers_Extended_MatchesPatronictlListE(t *testing.T) {
	want := `+ Cluster: anchor ---------+---------+---------+----+-----------+-----------------+-------------------+------+
| Member | Host            | Role    | State   | TL | Lag in MB | Pending restart | Scheduled restart | Tags |
+--------+-----------------+---------+---------+----+-----------+-----------------+-------------------+------+
| node1  | 127.0.0.1:25431 | Replica | running |  1 |         0 |                 |                   |      |
| node2  | 127.0.0.1:25432 | Leader  | running |  1 |           |                 |                   |      |
| node3  | 127.0.0.1:25433 | Replica | running |  1 |         0 |                 |                   |      |
+--------+-----------------+---------+---------+----+-----------+-----------------+-------------------+------+
`
	var b bytes.Buffer
	renderMembers(&b, anchorView(t), listOptions{extended: true, format: "pretty"})
	assertOutput(t, b.String(), want)
}

func TestRenderMembers_PendingRestartAndTags_ColumnsAppearWithBordersBetweenRows(t *testing.T) {
	// patronictl adds a column when any member has a value for it, and
	// prints tags as block YAML, which makes prettytable rule every row.
	v := anchorView(t)
	v.Members[0].PendingRestart = true
	v.Members[2].Tags = map[string]any{"nofailover": true, "failover_priority": float64(0)}
	v.Members[2].ScheduledRestart = &scheduledRestart{Schedule: "2026-12-01T10:00:00+00:00", PostgresVersion: "15.5"}
	want := `+ Cluster: anchor ---------+---------+---------+----+-----------+-----------------+---------------------------------------------+----------------------+
| Member | Host            | Role    | State   | TL | Lag in MB | Pending restart | Scheduled restart                           | Tags                 |
+--------+-----------------+---------+---------+----+-----------+-----------------+---------------------------------------------+----------------------+
| node1  | 127.0.0.1:25431 | Replica | running |  1 |         0 | *               |                                             |                      |
+--------+-----------------+---------+---------+----+-----------+-----------------+---------------------------------------------+----------------------+
| node2  | 127.0.0.1:25432 | Leader  | running |  1 |           |                 |                                             |                      |
+--------+-----------------+---------+---------+----+-----------+-----------------+---------------------------------------------+----------------------+
| node3  | 127.0.0.1:25433 | Replica | running |  1 |         0 |                 | 2026-12-01T10:00:00+00:00 if version < 15.5 | failover_priority: 0 |
|        |                 |         |         |    |           |                 |                                             | nofailover: true     |
+--------+-----------------+---------+---------+----+-----------+-----------------+---------------------------------------------+----------------------+
`
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "pretty"})
	assertOutput(t, b.String(), want)
}

func TestRenderMembers_JSON_AsPatronictlPrintsIt(t *testing.T) {
	want := `[{"Cluster": "anchor", "Member": "node1", "Host": "127.0.0.1:25431", "Role": "Replica", "State": "running", "TL": 1, "Lag in MB": 0}, ` +
		`{"Cluster": "anchor", "Member": "node2", "Host": "127.0.0.1:25432", "Role": "Leader", "State": "running", "TL": 1}, ` +
		`{"Cluster": "anchor", "Member": "node3", "Host": "127.0.0.1:25433", "Role": "Replica", "State": "running", "TL": 1, "Lag in MB": 0}]` + "\n"
	var b bytes.Buffer
	renderMembers(&b, anchorView(t), listOptions{format: "json"})
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestRenderMembers_YAMLAndTSV_AsPatronictlPrintsThem(t *testing.T) {
	v := anchorView(t)
	v.Members = v.Members[:2]
	v.Members[0].Tags = map[string]any{"nofailover": true}
	wantYAML := `- Cluster: anchor
  Host: 127.0.0.1:25431
  Lag in MB: 0
  Member: node1
  Role: Replica
  State: running
  TL: 1
  Tags:
    nofailover: true
- Cluster: anchor
  Host: 127.0.0.1:25432
  Member: node2
  Role: Leader
  State: running
  TL: 1
`
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "yaml"})
	if b.String() != wantYAML {
		t.Fatalf("yaml: got\n%s\nwant\n%s", b.String(), wantYAML)
	}
	wantTSV := "Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tTags\n" +
		"anchor\tnode1\t127.0.0.1:25431\tReplica\trunning\t1\t0\t{nofailover: true}\n" +
		"anchor\tnode2\t127.0.0.1:25432\tLeader\trunning\t1\t\t\n"
	b.Reset()
	renderMembers(&b, v, listOptions{format: "tsv"})
	if b.String() != wantTSV {
		t.Fatalf("tsv: got\n%q\nwant\n%q", b.String(), wantTSV)
	}
}

func TestRenderMembers_DistinctHostsOnPort5432_ShowHostWithoutPort(t *testing.T) {
	tl := 1
	v := clusterView{Scope: "s", Members: []clusterMember{
		{Name: "a", Role: "leader", State: "running", Host: "10.0.0.1", Port: 5432, Timeline: &tl},
		{Name: "b", Role: "replica", State: "streaming", Host: "10.0.0.2", Port: 5432, Timeline: &tl, Lag: float64(0)},
	}}
	want := `+ Cluster: s -------+---------+-----------+----+-----------+
| Member | Host     | Role    | State     | TL | Lag in MB |
+--------+----------+---------+-----------+----+-----------+
| a      | 10.0.0.1 | Leader  | running   |  1 |           |
| b      | 10.0.0.2 | Replica | streaming |  1 |         0 |
+--------+----------+---------+-----------+----+-----------+
`
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "pretty"})
	assertOutput(t, b.String(), want)
}

func TestRenderMembers_TopologyWithReplicatefrom_NestsCascadingReplica(t *testing.T) {
	v := anchorView(t)
	v.Members[0].Tags = map[string]any{"replicatefrom": "node3"}
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{topology: true, format: "tsv"})
	want := "Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tTags\n" +
		"anchor\tnode2\t127.0.0.1:25432\tLeader\trunning\t1\t\t\n" +
		"anchor\t+ node3\t127.0.0.1:25433\tReplica\trunning\t1\t0\t\n" +
		"anchor\t  + node1\t127.0.0.1:25431\tReplica\trunning\t1\t0\t{replicatefrom: node3}\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestRenderMembers_ScheduledSwitchover_PrintedAsPatronictl(t *testing.T) {
	v := anchorView(t)
	v.Pause = true
	v.ScheduledSwitchover = &scheduledSwitchover{At: "2026-12-01T10:00:00+00:00", From: "node2", To: "node3"}
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "pretty"})
	wantTail := "+\n Maintenance mode: on\n Switchover scheduled at: 2026-12-01T10:00:00+00:00\n                    from: node2\n                      to: node3\n"
	if !bytes.HasSuffix(b.Bytes(), []byte(wantTail)) {
		t.Fatalf("output does not end with\n%s\ngot\n%s", wantTail, b.String())
	}
}

func TestRenderMembers_Extended_ShowsRaftRoles(t *testing.T) {
	assertExtendedOnly(t, "Raft", []clusterMember{
		{Name: "node1", Role: "leader", State: "running", RaftRole: "leader"},
		{Name: "node2", Role: "replica", State: "streaming", RaftRole: "non-voter"},
	}, "| Raft ", "| leader ", "| non-voter ")
}

func TestRenderMembers_Extended_ShowsVersionAndProtocolLevel(t *testing.T) {
	assertExtendedOnly(t, "Version", []clusterMember{
		{Name: "node1", Role: "leader", State: "running", Version: "0.1.0+af651b5"},
		{Name: "node2", Role: "replica", State: "streaming", Version: "0.2.0", Protocol: 5},
	}, "| Version ", "| Protocol |", "| 0.1.0+af651b5 | 0        |", "| 0.2.0         | 5        |")
}

// assertExtendedOnly checks that list -e of members shows every one of
// wants and that list without -e has no column named column.
func assertExtendedOnly(t *testing.T, column string, members []clusterMember, wants ...string) {
	t.Helper()
	view := clusterView{Scope: "demo", Members: members}
	var b strings.Builder
	renderMembers(&b, view, listOptions{extended: true, format: "pretty"})
	for _, want := range wants {
		if !strings.Contains(b.String(), want) {
			t.Errorf("list -e output lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	renderMembers(&b, view, listOptions{format: "pretty"})
	if strings.Contains(b.String(), column) {
		t.Errorf("list without -e shows the %s column:\n%s", column, b.String())
	}
}

// list -e names a Raft server that no member record names under the
// table (it counts in the quorum, and the table cannot show it); the
// table stays patronictl's, and list without -e stays as it was.
func TestRenderMembers_Extended_NamesRaftServersWithoutMember(t *testing.T) {
	view := anchorView(t)
	view.RaftServersWithoutMember = []raftServer{{RaftAddr: "10.0.0.4:5010", RaftRole: "voter"}}
	want := " Raft voter 10.0.0.4:5010 has no member record: a node joining, or one a failed eviction left (conclave leave 10.0.0.4:5010 --evict)\n"
	var b strings.Builder
	renderMembers(&b, view, listOptions{extended: true, format: "pretty"})
	if !strings.HasSuffix(b.String(), "+\n"+want) {
		t.Errorf("list -e output does not end with the table, then %q:\n%s", want, b.String())
	}
	b.Reset()
	renderMembers(&b, view, listOptions{format: "pretty"})
	if strings.Contains(b.String(), "10.0.0.4:5010") {
		t.Errorf("list without -e names the Raft server:\n%s", b.String())
	}
}
