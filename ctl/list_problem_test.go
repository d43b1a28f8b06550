package ctl

import (
	"bytes"
	"testing"
)

func TestRenderList_ReplicaNotStreaming_SaysWhyBelowTheTable(t *testing.T) {
	want := `+ Cluster: anchor ---------+---------+---------+----+-----------+
| Member | Host            | Role    | State   | TL | Lag in MB |
+--------+-----------------+---------+---------+----+-----------+
| node1  | 127.0.0.1:25431 | Replica | running |  1 |         0 |
| node2  | 127.0.0.1:25432 | Leader  | running |  1 |           |
| node3  | 127.0.0.1:25433 | Replica | running |  1 |         0 |
+--------+-----------------+---------+---------+----+-----------+
 node3 not streaming: requested WAL segment 000000020000000000000003 has already been removed
`
	v := anchorView(t)
	v.Members[2].Problem = "requested WAL segment 000000020000000000000003 has already been removed"
	var b bytes.Buffer
	renderMembers(&b, v, listOptions{format: "pretty"})
	if b.String() != want {
		t.Fatalf("output differs\n--- got:\n%s--- want:\n%s", b.String(), want)
	}
}
