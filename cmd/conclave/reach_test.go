package main

import (
	"net"
	"strings"
	"testing"
)

const wantFakeList = `+ Cluster: demo -----+---------+-----------+----+-----------+
| Member | Host      | Role    | State     | TL | Lag in MB |
+--------+-----------+---------+-----------+----+-----------+
| node1  | 127.0.0.1 | Leader  | running   |  1 |           |
| node2  | 127.0.0.2 | Replica | streaming |  1 |         0 |
+--------+-----------+---------+-----------+----+-----------+
`

func TestList_LocalAgentDown_AnswersFromCachedMemberAndSaysWho(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	dead := deadAddr(t)
	node2 := newFakeAgent(t, "", strings.ReplaceAll(fakeCluster, "DEAD", dead))

	// A first list through node2 remembers the members.
	if out, _, err := runCLI(t, "", "-c", writeConf(t, node2.addr()), "list"); err != nil || out != wantFakeList {
		t.Fatalf("list through node2: %v\n%s", err, out)
	}
	// node1's agent is down: list on node1 answers from node2 and says so.
	conf1 := writeConf(t, dead)
	for _, verb := range [][]string{{"list"}, {"list", "demo"}, {"topology"}, {"history"}, {"show-config"}} {
		out, errOut, err := runCLI(t, "", append([]string{"-c", conf1}, verb...)...)
		if err != nil {
			t.Fatalf("%v: %v", verb, err)
		}
		if want := "answered by node2 at " + node2.srv.URL; !strings.Contains(errOut, want) || !strings.Contains(errOut, dead) {
			t.Errorf("%v: stderr %q does not say %q and name the local agent", verb, errOut, want)
		}
		if verb[0] == "list" && out != wantFakeList {
			t.Errorf("%v: output\n%s", verb, out)
		}
	}
}

func TestList_LocalAgentDownNothingKnown_OneLineSayingWhatToDo(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	_, _, err := runCLI(t, "", "list", "-c", writeConf(t, deadAddr(t)))
	if err == nil || !strings.Contains(err.Error(), "no other member is known") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v, want one line saying no other member is known", err)
	}
}

func TestList_LocalAgentDownNoCache_AsksPartnerHostOnOurRESTPort(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	var port string
	for tries := 0; ; tries++ { // a port free on 127.0.0.2 and on 127.0.0.1
		node2 := newFakeAgent(t, "127.0.0.2:0", fakeCluster)
		_, port, _ = net.SplitHostPort(node2.addr())
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err == nil {
			l.Close()
			break
		}
		if tries == 20 {
			t.Fatalf("no port free on both 127.0.0.1 and 127.0.0.2: %v", err)
		}
	}
	out, errOut, err := runCLI(t, "", "list", "-c", writeConf(t, "127.0.0.1:"+port, "127.0.0.2:5010"))
	if err != nil || !strings.Contains(out, "node2") || !strings.Contains(errOut, "answered by raft partner 127.0.0.2") {
		t.Fatalf("err %v\nstdout %s\nstderr %s", err, out, errOut)
	}
}

func TestList_MemberOfAnotherCluster_IsNotShown(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	other := newFakeAgent(t, "", strings.Replace(fakeCluster, `"demo"`, `"other"`, 1))
	_, _, err := runCLI(t, "", "list", "-c", writeConf(t, other.addr()))
	if err == nil || !strings.Contains(err.Error(), `belongs to cluster "other", not "demo"`) {
		t.Fatalf("error %v", err)
	}
}
