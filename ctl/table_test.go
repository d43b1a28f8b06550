package ctl

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The expected outputs below are copied byte for byte from Patroni 3.0.2
// (shared/compat/patroni-3.0.2/patronictl_*.txt, without the "$ patronictl"
// line), except where a test says otherwise.

// anchorCluster is GET /cluster of the captured cluster (rest_leader_cluster.txt)
// with the scope the CLI adds from its configuration.
const anchorCluster = `{"members": [
 {"name": "node1", "role": "replica", "state": "running", "api_url": "http://127.0.0.1:25801/patroni", "host": "127.0.0.1", "port": 25431, "timeline": 1, "lag": 0},
 {"name": "node2", "role": "leader", "state": "running", "api_url": "http://127.0.0.1:25802/patroni", "host": "127.0.0.1", "port": 25432, "timeline": 1},
 {"name": "node3", "role": "replica", "state": "running", "api_url": "http://127.0.0.1:25803/patroni", "host": "127.0.0.1", "port": 25433, "timeline": 1, "lag": 0}]}`

func anchorView(t *testing.T) clusterView {
	t.Helper()
	var v clusterView
	if err := json.Unmarshal([]byte(anchorCluster), &v); err != nil {
		t.Fatal(err)
	}
	v.Scope = "anchor"
	return v
}

func assertOutput(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("output differs\n--- got:\n%s--- want:\n%s", got, want)
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	for _, l := range lines {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "|")) && len(l) != len(lines[0]) {
			t.Fatalf("line %q is %d long, the first line is %d", l, len(l), len(lines[0]))
		}
	}
}

func TestRenderList_ThreeMembers_MatchesPatronictlList(t *testing.T) {
	want := `+ Cluster: anchor ---------+---------+---------+----+-----------+
| Member | Host            | Role    | State   | TL | Lag in MB |
+--------+-----------------+---------+---------+----+-----------+
| node1  | 127.0.0.1:25431 | Replica | running |  1 |         0 |
| node2  | 127.0.0.1:25432 | Leader  | running |  1 |           |
| node3  | 127.0.0.1:25433 | Replica | running |  1 |         0 |
+--------+-----------------+---------+---------+----+-----------+
`
	var b bytes.Buffer
	renderMembers(&b, anchorView(t), listOptions{format: "pretty"})
	assertOutput(t, b.String(), want)
}

func TestRenderList_MembersOutOfOrder_AreSortedByName(t *testing.T) {
	v := anchorView(t)
	v.Members[0], v.Members[2] = v.Members[2], v.Members[0]
	var got, want bytes.Buffer
	renderMembers(&got, v, listOptions{format: "pretty"})
	renderMembers(&want, anchorView(t), listOptions{format: "pretty"})
	assertOutput(t, got.String(), want.String())
}

func TestRenderList_WithSystemIdentifier_TitleOverlaysBorderKeepingItsLength(t *testing.T) {
	// Patroni prints " Cluster: <scope> (<sysid>) " over the first border
	// once the cluster is initialized; the border keeps its length.
	want := `+ Cluster: anchor (7712594815253989143) -------+----+-----------+
| Member | Host            | Role    | State   | TL | Lag in MB |
+--------+-----------------+---------+---------+----+-----------+
| node1  | 127.0.0.1:25431 | Replica | running |  1 |         0 |
| node2  | 127.0.0.1:25432 | Leader  | running |  1 |           |
| node3  | 127.0.0.1:25433 | Replica | running |  1 |         0 |
+--------+-----------------+---------+---------+----+-----------+
`
	v := anchorView(t)
	v.SystemIdentifier = "7712594815253989143"
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "pretty"})
	assertOutput(t, b.String(), want)
}

func TestRenderList_TitleLongerThanBorder_IsCutLikePatronictl(t *testing.T) {
	// PatronictlPrettyTable keeps header[:len(border)-2] and the border's
	// last "+": the table never widens for its title.
	v := clusterView{Scope: strings.Repeat("s", 80), SystemIdentifier: "7712594815253989143", Members: []clusterMember{
		{Name: "n", Role: "leader", State: "running", Host: "h", Port: 1},
	}}
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "pretty"})
	lines := strings.Split(b.String(), "\n")
	border := "+--------+------+--------+---------+----+-----------+"
	wantTitle := "+ Cluster: " + strings.Repeat("s", len(border)-len("+ Cluster: ")-1) + "+"
	if lines[0] != wantTitle {
		t.Fatalf("title line\n got %q\nwant %q", lines[0], wantTitle)
	}
	if lines[2] != border || len(lines[0]) != len(border) {
		t.Fatalf("border %q, title length %d, want %q and %d", lines[2], len(lines[0]), border, len(border))
	}
}

func TestRenderList_Topology_MatchesPatronictlTopology(t *testing.T) {
	want := `+ Cluster: anchor ----------+---------+---------+----+-----------+
| Member  | Host            | Role    | State   | TL | Lag in MB |
+---------+-----------------+---------+---------+----+-----------+
| node2   | 127.0.0.1:25432 | Leader  | running |  1 |           |
| + node1 | 127.0.0.1:25431 | Replica | running |  1 |         0 |
| + node3 | 127.0.0.1:25433 | Replica | running |  1 |         0 |
+---------+-----------------+---------+---------+----+-----------+
`
	var b bytes.Buffer
	renderMembers(&b, anchorView(t), listOptions{topology: true, format: "pretty"})
	assertOutput(t, b.String(), want)
}

func TestRenderList_PausedCluster_PrintsMaintenanceModeAfterTable(t *testing.T) {
	v := anchorView(t)
	v.Pause = true
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "pretty"})
	if !strings.HasSuffix(b.String(), "+\n Maintenance mode: on\n") {
		t.Fatalf("output does not end with the maintenance line:\n%s", b.String())
	}
}

func TestRenderList_WideNumbers_HeadersAlignLikeTheirColumns(t *testing.T) {
	// prettytable aligns a header like its column: right for TL and Lag in MB.
	// Roles are spelled as patronictl's role.replace('_', ' ').title().
	tl := 12
	v := clusterView{Scope: "anchor", Members: []clusterMember{
		{Name: "node1", Role: "sync_standby", State: "streaming", Host: "127.0.0.1", Port: 25431, Timeline: &tl, Lag: float64(1 << 50)},
		{Name: "node2", Role: "standby_leader", State: "running", Host: "127.0.0.1", Port: 25432, Timeline: &tl},
	}}
	want := `+ Cluster: anchor ---------+----------------+-----------+----+------------+
| Member | Host            | Role           | State     | TL |  Lag in MB |
+--------+-----------------+----------------+-----------+----+------------+
| node1  | 127.0.0.1:25431 | Sync Standby   | streaming | 12 | 1073741824 |
| node2  | 127.0.0.1:25432 | Standby Leader | running   | 12 |            |
+--------+-----------------+----------------+-----------+----+------------+
`
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "pretty"})
	assertOutput(t, b.String(), want)
}

func TestLagCell_HalfMegabyte_RoundsToEvenLikePython(t *testing.T) {
	for _, c := range []struct {
		lag  any
		want string
	}{
		{float64(0), "0"},
		{float64(512 * 1024), "0"},     // round(0.5) == 0
		{float64(3 * 512 * 1024), "2"}, // round(1.5) == 2
		{float64(5 * 512 * 1024), "2"}, // round(2.5) == 2
		{float64(1024*1024 + 600*1024), "2"},
		{"unknown", "unknown"},
		{nil, ""},
	} {
		if got := cellText(lagValue(clusterMember{Role: "replica", Lag: c.lag}), false); got != c.want {
			t.Errorf("lag cell of %v = %q, want %q", c.lag, got, c.want)
		}
	}
}

func TestRenderHistory_TwoTimelines_MatchesPatronictlHistory(t *testing.T) {
	want := `+----+----------+------------------------------+----------------------------------+------------+
| TL |      LSN | Reason                       | Timestamp                        | New Leader |
+----+----------+------------------------------+----------------------------------+------------+
|  1 | 67109200 | no recovery target specified | 2026-11-26T21:51:36.728913+00:00 | node2      |
|  2 | 67109424 | no recovery target specified | 2026-11-26T21:52:18.284912+00:00 | node3      |
+----+----------+------------------------------+----------------------------------+------------+
`
	// As GET /history returns it (rest_leader_history_after_events.txt).
	body := `[[1, 67109200, "no recovery target specified", "2026-11-26T21:51:36.728913+00:00", "node2"], [2, 67109424, "no recovery target specified", "2026-11-26T21:52:18.284912+00:00", "node3"]]`
	var rows [][]any
	if err := json.Unmarshal([]byte(body), &rows); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	renderHistory(&b, rows)
	assertOutput(t, b.String(), want)

	// The same rows built in Go (ints, not float64) render the same.
	b.Reset()
	renderHistory(&b, [][]any{
		{1, 67109200, "no recovery target specified", "2026-11-26T21:51:36.728913+00:00", "node2"},
		{2, uint64(67109424), "no recovery target specified", "2026-11-26T21:52:18.284912+00:00", "node3"},
	})
	assertOutput(t, b.String(), want)
}

func TestRenderHistory_NoTimelines_PrintsHeaderOnly(t *testing.T) {
	want := `+----+-----+--------+-----------+------------+
| TL | LSN | Reason | Timestamp | New Leader |
+----+-----+--------+-----------+------------+
+----+-----+--------+-----------+------------+
`
	var b bytes.Buffer
	renderHistory(&b, nil)
	assertOutput(t, b.String(), want)
}

func TestRenderHistory_ShortRow_GetsEmptyCells(t *testing.T) {
	want := `+----+----------+--------+-----------+------------+
| TL |      LSN | Reason | Timestamp | New Leader |
+----+----------+--------+-----------+------------+
|  1 | 67109200 | x      |           |            |
+----+----------+--------+-----------+------------+
`
	var b bytes.Buffer
	renderHistory(&b, [][]any{{float64(1), float64(67109200), "x"}})
	assertOutput(t, b.String(), want)
}

func TestWriteHistory_MachineFormats_UsePatronictlColumnNames(t *testing.T) {
	body := `[[1, 67109200, "no recovery target specified", "2026-11-26T21:51:36.728913+00:00", "node2"]]`
	var rows [][]any
	if err := json.Unmarshal([]byte(body), &rows); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ format, want string }{
		{"json", `[{"TL": 1, "LSN": 67109200, "Reason": "no recovery target specified", "Timestamp": "2026-11-26T21:51:36.728913+00:00", "New Leader": "node2"}]` + "\n"},
		{"tsv", "TL\tLSN\tReason\tTimestamp\tNew Leader\n1\t67109200\tno recovery target specified\t2026-11-26T21:51:36.728913+00:00\tnode2\n"},
		{"yaml", "- LSN: 67109200\n  New Leader: node2\n  Reason: no recovery target specified\n  TL: 1\n  Timestamp: \"2026-11-26T21:51:36.728913+00:00\"\n"},
	} {
		var b bytes.Buffer
		writeHistory(&b, c.format, rows)
		if b.String() != c.want {
			t.Errorf("history -f %s:\n%q\nwant\n%q", c.format, b.String(), c.want)
		}
	}
	var b bytes.Buffer
	writeHistory(&b, "json", nil)
	if b.String() != "[]\n" {
		t.Errorf("history -f json without timelines: %q, want []", b.String())
	}
}
