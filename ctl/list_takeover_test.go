package ctl

import (
	"bytes"
	"testing"
)

// patronictl list adds a "Pending restart" column (with "*") only when a
// member needs a restart; a takeover in progress is told under the table.
func TestRenderMembers_PendingRestartAndTakeover(t *testing.T) {
	v := anchorView(t)
	v.Members[1].PendingRestart = true
	v.Members[2].Takeover = "waiting for leader node2 to create its replication slot before following it"
	want := `+ Cluster: anchor ---------+---------+---------+----+-----------+-----------------+
| Member | Host            | Role    | State   | TL | Lag in MB | Pending restart |
+--------+-----------------+---------+---------+----+-----------+-----------------+
| node1  | 127.0.0.1:25431 | Replica | running |  1 |         0 |                 |
| node2  | 127.0.0.1:25432 | Leader  | running |  1 |           | *               |
| node3  | 127.0.0.1:25433 | Replica | running |  1 |         0 |                 |
+--------+-----------------+---------+---------+----+-----------+-----------------+
 node3 takeover: waiting for leader node2 to create its replication slot before following it
`
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "pretty"})
	assertOutput(t, b.String(), want)
}
