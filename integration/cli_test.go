//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ctlRunner runs the conclave CLI as a user would, with its own member
// cache folder (the CLI's fallback when the local agent is down).
type ctlRunner struct {
	t     testing.TB
	cache string
}

func newCtl(t testing.TB) *ctlRunner { return &ctlRunner{t: t, cache: t.TempDir()} }

// run returns stdout, stderr and the exit error.
func (r *ctlRunner) run(stdin string, args ...string) (string, string, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(30*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "CONCLAVE_CACHE_DIR="+r.cache, "EDITOR=false")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r.t.Logf("$ conclave %s\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	return out.String(), errOut.String(), err
}

// One cluster for the CLI's read and write verbs: list as patronictl prints
// it, edit-config -s with its diff reaching every member, dsn --multi-host
// reaching the primary, and list on a node whose agent is dead.
func TestCLI_ListEditConfigDSN_AndListWhileTheLocalAgentIsDead(t *testing.T) {
	// node1's file sets a key Conclave accepts but does not act on, with a
	// YAML 1.1 boolean: the agent starts and names the key in one line.
	c := newCluster(t, 3, clusterOptions{extra: func(n *node) string {
		if n.name == "node1" {
			return "tags:\n  nostream: yes\n"
		}
		return ""
	}})
	c.startAll()
	leader := c.waitHealthy(60 * time.Second)
	ctl := newCtl(t)
	n1 := c.nodes[0]
	if !n1.logs.containsAll("accepted, not acted on", "tags.nostream") {
		t.Errorf("node1 did not name tags.nostream at start")
	}

	// list: patronictl's table, one row per member with the leader marked.
	out, _, err := ctl.run("", "-c", n1.cfgPath, "list")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !strings.HasPrefix(out, "+ Cluster: "+c.scope+" (") || !strings.Contains(out, "| Member | Host ") || !strings.Contains(out, "| Lag in MB |") {
		t.Fatalf("list is not patronictl's table:\n%s", out)
	}
	for _, n := range c.nodes {
		role := "Replica"
		if n == leader {
			role = "Leader "
		}
		if !strings.Contains(out, fmt.Sprintf("| %s  | 127.0.0.1:%d | %s", n.name, n.pgPort, role)) {
			t.Errorf("list has no row for %s as %s:\n%s", n.name, strings.TrimSpace(role), out)
		}
	}

	// edit-config -s: prints the diff, asks, and the value reaches every member.
	out, _, err = ctl.run("y\n", "edit-config", "-c", n1.cfgPath, "-s", "maximum_lag_on_failover=2097152", "-p", "work_mem=8MB")
	if err != nil {
		t.Fatalf("edit-config: %v", err)
	}
	for _, want := range []string{"--- \n+++ \n@@ ", "-maximum_lag_on_failover: 1048576\n+maximum_lag_on_failover: 2097152\n", "+    work_mem: 8MB\n", "Apply these changes? [y/N]: Configuration changed\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("edit-config output lacks %q:\n%s", want, out)
		}
	}
	waitFor(t, 10*time.Second, "the new maximum_lag_on_failover on every member", func() error {
		for _, n := range c.nodes {
			var cfg map[string]any
			if _, err := getJSON(n.apiURL()+"/config", &cfg); err != nil {
				return err
			}
			if cfg["maximum_lag_on_failover"] != float64(2097152) {
				return fmt.Errorf("%s: maximum_lag_on_failover %v", n.name, cfg["maximum_lag_on_failover"])
			}
		}
		return nil
	})
	// Read your writes across members: a change answered by one agent is
	// what the next command sees, whichever member it reads from. A Raft
	// follower applies a commit tens of milliseconds after the leader
	// answered, so the reads go to the followers.
	var followers []*node
	for _, n := range c.nodes {
		var p struct {
			Raft struct {
				State string `json:"state"`
			} `json:"raft"`
		}
		if _, err := getJSON(n.apiURL()+"/patroni", &p); err == nil && !strings.EqualFold(p.Raft.State, "leader") {
			followers = append(followers, n)
		}
	}
	if len(followers) == 0 {
		t.Fatal("no Raft follower found")
	}
	// edit-config twice in a row through a follower: the second reads the
	// first one's ETag (a stale one was refused as a concurrent change).
	for _, v := range []string{"3145728", "2097152", "3145728", "2097152"} {
		if _, errOut, err := ctl.run("", "edit-config", "-c", followers[0].cfgPath, "-s", "maximum_lag_on_failover="+v, "--force", "-q"); err != nil {
			t.Errorf("edit-config maximum_lag_on_failover=%s through %s right after the previous one: %v: %s", v, followers[0].name, err, errOut)
		}
	}
	// pause (sent to the primary's agent), then list from each follower.
	for round := 0; round < 2; round++ {
		if _, errOut, err := ctl.run("", "pause", "-c", n1.cfgPath); err != nil {
			t.Fatalf("pause: %v: %s", err, errOut)
		}
		for _, n := range followers {
			if out, _, err := ctl.run("", "list", "-c", n.cfgPath); err != nil || !strings.Contains(out, "Maintenance mode: on") {
				t.Errorf("list from %s right after pause (err %v) does not show maintenance mode:\n%s", n.name, err, out)
			}
		}
		if _, errOut, err := ctl.run("", "resume", "-c", n1.cfgPath); err != nil {
			t.Fatalf("resume: %v: %s", err, errOut)
		}
		for _, n := range followers {
			if out, _, err := ctl.run("", "list", "-c", n.cfgPath); err != nil || strings.Contains(out, "Maintenance mode: on") {
				t.Errorf("list from %s right after resume (err %v) still shows maintenance mode:\n%s", n.name, err, out)
			}
		}
	}

	// A value the API refuses: non-zero, the key named, nothing changed.
	_, errOut, err := ctl.run("", "edit-config", "-c", n1.cfgPath, "-s", "ttl=abc", "--force")
	if err == nil || !strings.Contains(errOut, "ttl") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("edit-config ttl=abc: err %v, stderr %q: want one line naming ttl", err, errOut)
	}
	out, _, err = ctl.run("", "show-config", "-c", n1.cfgPath)
	if err != nil || strings.Contains(out, "ttl") || !strings.Contains(out, "maximum_lag_on_failover: 2097152\n") {
		t.Errorf("show-config after the refused change (err %v):\n%s", err, out)
	}

	// dsn --multi-host: libpq finds the primary among all members.
	out, _, err = ctl.run("", "-c", n1.cfgPath, "dsn", c.scope, "--multi-host")
	if err != nil || !strings.Contains(out, "target_session_attrs=read-write") {
		t.Fatalf("dsn --multi-host: %v: %q", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, strings.TrimSpace(out)+" user=postgres password=super-secret dbname=postgres sslmode=disable")
	if err != nil {
		t.Fatalf("connect with %q: %v", out, err)
	}
	var inRecovery bool
	var port int
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery(), current_setting('port')::int").Scan(&inRecovery, &port); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if inRecovery || port != leader.pgPort {
		t.Errorf("multi-host DSN reached port %d (in recovery %v), want the primary %s on %d", port, inRecovery, leader.name, leader.pgPort)
	}

	// query runs SQL on the leader (as the file's superuser); version asks every member.
	out, _, err = ctl.run("", "-c", n1.cfgPath, "query", "-c", "SELECT pg_is_in_recovery(), current_setting('port')")
	if want := fmt.Sprintf("pg_is_in_recovery\tcurrent_setting\nFalse\t%d\n", leader.pgPort); err != nil || out != want {
		t.Errorf("query: %v: %q, want %q", err, out, want)
	}
	// history takes patronictl's --format too (a fresh cluster has no timeline switch).
	if out, _, err := ctl.run("", "-c", n1.cfgPath, "history", "-f", "json"); err != nil || out != "[]\n" {
		t.Errorf("history -f json: %v: %q, want []", err, out)
	}
	out, _, err = ctl.run("", "-c", n1.cfgPath, "version", c.scope)
	for _, n := range c.nodes {
		if !strings.Contains(out, "\n"+n.name+": Conclave ") || !strings.Contains(out, " PostgreSQL 15.") {
			t.Errorf("version (err %v) lacks %s's line:\n%s", err, n.name, out)
		}
	}

	// The agent of a replica dies: list on that node answers from another
	// member (known from the list above) and says which one on stderr.
	var dead *node
	for _, n := range c.nodes {
		if n != leader {
			dead = n
			break
		}
	}
	killAgent(t, dead)
	out, errOut, err = ctl.run("", "list", "-c", dead.cfgPath)
	if err != nil {
		t.Fatalf("list on %s with its agent dead: %v\n%s", dead.name, err, errOut)
	}
	if !strings.Contains(errOut, "does not answer; answered by ") || strings.Contains(errOut, "answered by "+dead.name+" ") {
		t.Errorf("stderr does not say which other member answered: %q", errOut)
	}
	for _, n := range c.nodes {
		if !strings.Contains(out, "| "+n.name+"  |") {
			t.Errorf("list from another member lacks %s:\n%s", n.name, out)
		}
	}
	out, _, err = ctl.run("", "list", "-c", dead.cfgPath, "-f", "json")
	var rows []map[string]any
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 3 || rows[0]["Cluster"] != c.scope {
		t.Errorf("list -f json with the agent dead: %v: %q", err, out)
	}
}

// validate-config checks a file without starting anything.
func TestCLI_ValidateConfig_GoodFileAndBadFile(t *testing.T) {
	c := newCluster(t, 1, clusterOptions{extra: func(*node) string { return "tags:\n  nostream: yes\n" }})
	n := c.nodes[0]
	ctl := newCtl(t)
	out, errOut, err := ctl.run("", "validate-config", n.cfgPath)
	if err != nil || out != "configuration is valid\n" {
		t.Fatalf("good file: err %v, stdout %q, stderr %q", err, out, errOut)
	}
	if !strings.Contains(errOut, "accepted, not acted on: tags.nostream") {
		t.Errorf("the key accepted but not acted on is not named: %q", errOut)
	}
	for _, p := range []string{n.dataDir(), n.dir + "/raft"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("validate-config created %s", p)
		}
	}

	data, _ := os.ReadFile(n.cfgPath)
	bad := strings.Replace(string(data), "  nostream: yes\n", "  nostream: yes\n  nofailover: n\n  failover_priority: high\n", 1)
	os.WriteFile(n.cfgPath, []byte(bad), 0o600)
	out, errOut, err = ctl.run("", "validate-config", n.cfgPath)
	if err == nil || out != "" {
		t.Fatalf("bad file accepted: stdout %q", out)
	}
	for _, key := range []string{`"tags.nofailover"`, `"tags.failover_priority"`} {
		if !strings.Contains(errOut, n.cfgPath+":") || !strings.Contains(errOut, key) {
			t.Errorf("stderr does not name %s in %s: %q", key, n.cfgPath, errOut)
		}
	}
}
