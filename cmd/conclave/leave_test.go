package main

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// leaveAgent is an opsAgent over selfCluster that also answers POST /leave
// and from then on lists the cluster without the member that left.
func leaveAgent(t *testing.T) (*opsAgent, string) { return leaveAgentOf(t, selfCluster) }

func leaveAgentOf(t *testing.T, cluster string) (*opsAgent, string) {
	a, conf := opsCluster(t, cluster)
	inner := a.srv.Config.Handler
	var mu sync.Mutex
	gone := ""
	a.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/leave":
			body, _ := io.ReadAll(r.Body)
			var req struct{ Member string }
			json.Unmarshal(body, &req)
			gone = req.Member
			a.mu.Lock()
			a.ops = append(a.ops, "POST /leave "+string(body))
			a.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "leaving the cluster")
		case r.URL.Path == "/cluster" && gone != "":
			io.WriteString(w, strings.ReplaceAll(clusterWithout(cluster, gone), "SELF", a.addr()))
		default:
			inner.ServeHTTP(w, r)
		}
	})
	return a, conf
}

// clusterWithout drops name's line from a cluster written one member a line.
func clusterWithout(cluster, name string) string {
	var keep []string
	for _, l := range strings.Split(cluster, "\n") {
		if !strings.Contains(l, `"name": "`+name+`"`) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// leave asks as patronictl's destructive verbs do; no, or no answer at
// all, sends nothing.
func TestLeave_AsksFirst_NoOrNoAnswerSendsNothing(t *testing.T) {
	a, conf := leaveAgent(t)
	for _, c := range []struct {
		stdin    string
		args     []string
		question string
		err      string
	}{
		{"n\n", []string{"leave", "node2"}, "Are you sure you want to take member node2 out of cluster demo? [y/N]: ", "Aborted leave"},
		{"", []string{"leave", "demo", "node2"}, "Are you sure you want to take member node2 out of cluster demo? [y/N]: ",
			"no answer on standard input; pass --force to skip the questions"},
		{"\n", []string{"leave", "node1"}, "Are you sure you want to take member node1 out of cluster demo, switching over first? [y/N]: ", "Aborted leave"},
		{"no\n", []string{"leave", "node3", "--evict"}, "Are you sure you want to evict member node3 from cluster demo? [y/N]: ", "Aborted leave"},
		{"y\n", []string{"leave", "--evict"}, "", "leave: --evict needs the MEMBER to evict"},
		{"y\n", []string{"leave", "node9"}, "", "leave: no member node9 in cluster demo"},
		{"n\n", []string{"leave", "10.0.0.4:5010", "--evict"}, "Are you sure you want to evict Raft server 10.0.0.4:5010 from cluster demo? [y/N]: ", "Aborted leave"},
		{"y\n", []string{"leave", "10.0.0.4:5010"}, "", "leave: no member 10.0.0.4:5010 in cluster demo"},
	} {
		out, _, err := runCLI(t, c.stdin, append([]string{"-c", conf}, c.args...)...)
		if err == nil || err.Error() != c.err {
			t.Errorf("%v: error %v, want %q", c.args, err, c.err)
		}
		if !strings.HasPrefix(out, c.question) || (c.question == "" && out != "") {
			t.Errorf("%v: output %q, want the question %q", c.args, out, c.question)
		}
	}
	if got := a.recorded(); len(got) != 0 {
		t.Fatalf("leave not confirmed sent %q", got)
	}
}

// yes, or --force without a question, leaves; a primary switches over
// first; --evict removes the member through any member.
func TestLeave_YesOrForce_LeavesOrEvicts(t *testing.T) {
	for _, c := range []struct {
		stdin string
		args  []string
		out   []string
		sent  []string
	}{
		{"y\n", []string{"leave", "node2"}, []string{"Are you sure you want to take member node2 out of cluster demo? [y/N]: ", "node2 left cluster demo in "},
			[]string{`POST /leave {"force":false,"member":"node2"}`}},
		{"", []string{"leave", "node1", "--force"}, []string{"node1 is the primary: switching over first\n", "node1 left cluster demo in "},
			[]string{`POST /leave {"check":true,"member":"node1"}`, `POST /switchover {"leader":"node1"}`, `POST /leave {"force":false,"member":"node1"}`}},
		{"yes\n", []string{"leave", "node3", "--evict"}, []string{"Are you sure you want to evict member node3 from cluster demo? [y/N]: ", "node3 evicted from cluster demo\n"},
			[]string{`POST /leave {"force":true,"member":"node3"}`}},
		{"", []string{"leave", "--force", "--evict", "node3"}, []string{"node3 evicted from cluster demo\n"},
			[]string{`POST /leave {"force":true,"member":"node3"}`}},
		// A Raft server that no member record names: by its address.
		{"y\n", []string{"leave", "10.0.0.4:5010", "--evict"}, []string{"Are you sure you want to evict Raft server 10.0.0.4:5010 from cluster demo? [y/N]: ",
			"10.0.0.4:5010 evicted from cluster demo\n"}, []string{`POST /leave {"force":true,"member":"10.0.0.4:5010"}`}},
		{"", []string{"leave", "10.0.0.4:5010", "--force"}, []string{"10.0.0.4:5010 evicted from cluster demo\n"},
			[]string{`POST /leave {"force":true,"member":"10.0.0.4:5010"}`}},
	} {
		a, conf := leaveAgent(t)
		out, _, err := runCLI(t, c.stdin, append([]string{"-c", conf}, c.args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out)
		}
		wantInOrder(t, out, c.out...)
		if c.stdin == "" && strings.Contains(out, "Are you sure") {
			t.Errorf("%v asked: %q", c.args, out)
		}
		if got := a.recorded(); !reflect.DeepEqual(got, c.sent) {
			t.Errorf("%v: requests %q, want %q", c.args, got, c.sent)
		}
	}
}

// `leave MEMBER --force` evicts a member whose own API does not answer
// (issue 11's meaning of --force), through a member that does.
func TestLeave_ForceOnAMemberThatDoesNotAnswer_Evicts(t *testing.T) {
	deadNode3 := strings.Replace(selfCluster, `"name": "node3", "role": "replica", "state": "streaming", "api_url": "http://SELF/patroni"`,
		`"name": "node3", "role": "replica", "state": "stopped", "api_url": "http://127.0.0.1:1/patroni"`, 1)
	if deadNode3 == selfCluster {
		t.Fatal("selfCluster changed: node3's line not found")
	}
	a, conf := leaveAgentOf(t, deadNode3)
	out, errOut, err := runCLI(t, "", "-c", conf, "leave", "node3", "--force")
	if err != nil {
		t.Fatalf("leave node3 --force: %v\n%s%s", err, out, errOut)
	}
	wantInOrder(t, out, "node3 evicted from cluster demo\n")
	if got, want := a.recorded(), []string{`POST /leave {"force":true,"member":"node3"}`}; !reflect.DeepEqual(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

// `leave HOST:PORT` without --evict sends nothing; when /cluster lists a
// Raft server without a member record there, it says how to evict it.
func TestLeave_RaftServerWithoutMemberRecord_WithoutEvict_SaysHow(t *testing.T) {
	listed := strings.Replace(selfCluster, `"members": [`,
		`"raft_servers_without_member": [{"raft_addr": "10.0.0.4:5010", "raft_role": "voter"}], "members": [`, 1)
	a, conf := leaveAgentOf(t, listed)
	_, _, err := runCLI(t, "y\n", "-c", conf, "leave", "10.0.0.4:5010")
	want := "leave: no member 10.0.0.4:5010 in cluster demo; 10.0.0.4:5010 is a Raft server without a member record: evict it with conclave leave 10.0.0.4:5010 --evict"
	if err == nil || err.Error() != want {
		t.Errorf("leave of a listed Raft server without --evict: %v, want %q", err, want)
	}
	if got := a.recorded(); len(got) != 0 {
		t.Errorf("requests %q, want none", got)
	}
}
