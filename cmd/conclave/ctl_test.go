package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// opsAgent is a fakeAgent that also answers the operation endpoints,
// recording each as "METHOD PATH BODY".
type opsAgent struct {
	*fakeAgent
	mu  sync.Mutex
	ops []string
}

func newOpsAgent(t *testing.T, cluster string) *opsAgent {
	a := &opsAgent{fakeAgent: newFakeAgent(t, "", cluster)}
	inner := a.srv.Config.Handler
	a.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answers := map[string]struct {
			status int
			body   string
		}{
			"POST /switchover":   {200, `Successfully switched over to "node2"`},
			"POST /failover":     {200, `Successfully failed over to "node2"`},
			"POST /restart":      {200, "restarted successfully"},
			"POST /reload":       {202, "reload scheduled"},
			"POST /reinitialize": {200, "reinitialize started"},
			"DELETE /switchover": {200, "scheduled switchover deleted"},
			"DELETE /restart":    {200, "scheduled restart deleted"},
			"GET /patroni":       {200, `{"state": "running", "role": "replica", "pause": true}`},
		}
		key := r.Method + " " + r.URL.Path
		ans, ok := answers[key]
		if !ok {
			inner.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodGet {
			a.mu.Lock()
			a.ops = append(a.ops, strings.TrimSpace(key+" "+string(body)))
			a.mu.Unlock()
		}
		w.WriteHeader(ans.status)
		io.WriteString(w, ans.body)
	})
	return a
}

func (a *opsAgent) recorded() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ops...)
}

// selfCluster has node1 (leader) and node2, node3 (replicas), every api_url SELF.
const selfCluster = `{"scope": "demo", "members": [
 {"name": "node1", "role": "leader", "state": "running", "api_url": "http://SELF/patroni", "host": "127.0.0.1", "port": 5432, "timeline": 1},
 {"name": "node2", "role": "replica", "state": "streaming", "api_url": "http://SELF/patroni", "host": "127.0.0.2", "port": 5432, "timeline": 1, "lag": 0},
 {"name": "node3", "role": "replica", "state": "streaming", "api_url": "http://SELF/patroni", "host": "127.0.0.3", "port": 5432, "timeline": 1, "lag": 0}]}`

// cliCase is one command line and what its output or error must say.
type cliCase struct {
	args []string
	want string
}

// opsCluster starts an opsAgent for cluster and writes a configuration pointing at it.
func opsCluster(t *testing.T, cluster string) (*opsAgent, string) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newOpsAgent(t, cluster)
	return a, writeConf(t, a.addr())
}

func wantInOrder(t *testing.T, out string, parts ...string) {
	t.Helper()
	rest := out
	for _, p := range parts {
		i := strings.Index(rest, p)
		if i < 0 {
			t.Fatalf("%q not found (in order) in output:\n%s", p, out)
		}
		rest = rest[i+len(p):]
	}
}

func TestSwitchover_FlagsAfterClusterName_PromptsAsPatronictlThenPosts(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newOpsAgent(t, selfCluster)
	// Primary [node1] and When [now] take their defaults; then yes.
	out, _, err := runCLI(t, "\n\ny\n", "-c", writeConf(t, a.addr()), "switchover", "demo", "--candidate", "node2")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantInOrder(t, out, "Current cluster topology\n+ Cluster: demo ", "| node3 ", "Primary [node1]: ",
		"When should the switchover take place (e.g. ", " )  [now]: ",
		"Are you sure you want to switchover cluster demo, demoting current leader node1? [y/N]: ",
		`Successfully switched over to "node2"`, "+ Cluster: demo ")
	if got := a.recorded(); len(got) != 1 || got[0] != `POST /switchover {"candidate":"node2","leader":"node1","scheduled_at":null}` {
		t.Fatalf("requests %q", got)
	}
}

func TestSwitchover_Refusals_OneLineAndNothingSent(t *testing.T) {
	a, conf := opsCluster(t, selfCluster)
	for _, c := range []cliCase{
		{[]string{"switchover", "--leader", "node2", "--candidate", "node3", "--force"}, "Member node2 is not the leader of cluster demo"},
		{[]string{"switchover", "--candidate", "node9", "--force"}, "Member node9 does not exist in cluster demo"},
		{[]string{"switchover", "--candidate", "node1", "--leader", "node1", "--force"}, "Switchover target and source are the same."},
		{[]string{"failover", "--force"}, "Failover could be performed only to a specific candidate"},
		{[]string{"switchover", "--candidate", "node2", "--scheduled", "tomorrow", "--force"}, "Unable to parse scheduled timestamp (tomorrow)"},
		{[]string{"switchover", "--candidate", "node2"}, "no answer on standard input"},
	} {
		_, _, err := runCLI(t, "", append([]string{"-c", conf}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v, want one line with %q", c.args, err, c.want)
		}
	}
	if got := a.recorded(); len(got) != 0 {
		t.Fatalf("a refused command sent %q", got)
	}
}

func TestSwitchover_LocalAgentDown_SentThroughAnotherMember(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	dead := deadAddr(t)
	node2 := newOpsAgent(t, strings.ReplaceAll(fakeCluster, "DEAD", dead))
	if _, _, err := runCLI(t, "", "-c", writeConf(t, node2.addr()), "list"); err != nil {
		t.Fatal(err)
	}
	// node1 (the leader, whose agent is down) is asked first, then node2.
	out, errOut, err := runCLI(t, "", "-c", writeConf(t, dead), "switchover", "--candidate", "node2", "--force")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(errOut, "answered by node2") {
		t.Errorf("stderr %q does not say who answered", errOut)
	}
	if got := node2.recorded(); len(got) != 1 || !strings.HasPrefix(got[0], "POST /switchover ") {
		t.Fatalf("requests %q", got)
	}
}

func TestRestart_PromptsInPatronictlsOrder_SuccessLine(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newOpsAgent(t, selfCluster)
	out, _, err := runCLI(t, "\ny\n\n", "-c", writeConf(t, a.addr()), "restart", "node2", "--pending")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantInOrder(t, out, "+ Cluster: demo ", "When should the restart take place (e.g. ", ")  [now]: ",
		"Are you sure you want to restart members node2? [y/N]: ",
		"Restart if the PostgreSQL version is less than provided (e.g. 9.5.2)  []: ",
		"Success: restart on member node2\n")
	if got := a.recorded(); len(got) != 1 || got[0] != `POST /restart {"restart_pending":true}` {
		t.Fatalf("requests %q", got)
	}
}

func TestReloadReinitFlushPause_LinesAsPatronictl(t *testing.T) {
	a, conf := opsCluster(t, selfCluster)
	for _, c := range []cliCase{
		{[]string{"reload", "demo", "node3", "--force"}, "Reload request received for member node3 and will be processed within 10 seconds\n"},
		{[]string{"reinit", "node2", "--force"}, "Success: reinitialize for member node2\n"},
		{[]string{"flush", "demo", "node2", "restart", "--force"}, "No scheduled restart for member node2\n"},
		{[]string{"flush", "demo", "switchover"}, "No pending scheduled switchover\n"},
		{[]string{"pause", "--wait"}, "'pause' request sent, waiting until it is recognized by all nodes\nSuccess: cluster management is paused\n"},
	} {
		out, _, err := runCLI(t, "", append([]string{"-c", conf}, c.args...)...)
		if err != nil || !strings.HasSuffix(out, c.want) {
			t.Errorf("%v: %v, output\n%s\nwant it to end with %q", c.args, err, out, c.want)
		}
	}
	if _, _, err := runCLI(t, "", "-c", conf, "reinit", "node1", "--force"); err == nil || err.Error() != "No replica among provided members" {
		t.Errorf("reinit of the leader: %v", err)
	}
	want := []string{`POST /reload`, `POST /reinitialize {"force":true}`, `PATCH  {"pause":true}`}
	got := a.recorded()
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("requests %q, want %q", got, want[:2])
	}
	if len(a.writes) != 1 || a.writes[0] != want[2] {
		t.Errorf("config writes %q, want %q", a.writes, want[2:])
	}
}

func TestFailover_NoLeader_AsksOnlyForTheCandidateAndPostsToIt(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newOpsAgent(t, strings.Replace(selfCluster, `"role": "leader", "state": "running"`, `"role": "replica", "state": "stopped"`, 1))
	out, _, err := runCLI(t, "node3\ny\n", "-c", writeConf(t, a.addr()), "failover")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "Primary [") {
		t.Errorf("failover asked for the primary:\n%s", out)
	}
	wantInOrder(t, out, "Current cluster topology", "Candidate ['node1', 'node2', 'node3'] []: ",
		"Are you sure you want to failover cluster demo? [y/N]: ")
	if got := a.recorded(); len(got) != 1 || got[0] != `POST /failover {"candidate":"node3","leader":null}` {
		t.Fatalf("requests %q", got)
	}
}

func TestPausedCluster_RefusalsAsPatronictl_NothingSent(t *testing.T) {
	a, conf := opsCluster(t, strings.Replace(selfCluster, `{"scope": "demo",`, `{"scope": "demo", "pause": true,`, 1))
	later := "2030-01-02T03:04:05+00:00"
	for _, c := range []cliCase{
		{[]string{"pause"}, "Cluster is already paused"},
		{[]string{"switchover", "--candidate", "node2", "--scheduled", later, "--force"}, "Can't schedule switchover in the paused state"},
		{[]string{"restart", "node2", "--scheduled", later, "--force"}, "Can't schedule restart in the paused state"},
		{[]string{"restart", "node2", "--pg-version", "x.y", "--force"}, "Invalid PostgreSQL version format"},
		{[]string{"restart", "node2", "--role", "boss", "--force"}, "--role must be one of"},
		{[]string{"flush", "demo", "reboot"}, "TARGET must be restart or switchover"},
	} {
		out, _, err := runCLI(t, "", append([]string{"-c", conf}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || out != "" {
			t.Errorf("%v: error %v, output %q; want only one error line with %q", c.args, err, out, c.want)
		}
	}
	if got := a.recorded(); len(got) != 0 || len(a.writes) != 0 {
		t.Fatalf("a refused command sent %q %q", got, a.writes)
	}
	clusterNotPaused := newOpsAgent(t, selfCluster)
	if _, _, err := runCLI(t, "", "-c", writeConf(t, clusterNotPaused.addr()), "resume"); err == nil || err.Error() != "Cluster is not paused" {
		t.Errorf("resume of a cluster not paused: %v", err)
	}
}
