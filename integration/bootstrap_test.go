//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Three fresh agents form one Raft cluster, one runs initdb, the others
// clone and stream; a row written on the primary is read on both replicas;
// `conclave list` shows the patronictl table; bootstrap users exist.
func TestThreeNodes_BootstrapToOneLeaderAndTwoStreamingReplicas(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	c.startAll()
	leader := c.waitHealthy(90 * time.Second)

	leader.exec(t, "CREATE TABLE kv (k text PRIMARY KEY, v text)")
	leader.exec(t, "INSERT INTO kv VALUES ('hello', 'world')")
	for _, n := range c.nodes {
		if n == leader {
			continue
		}
		waitFor(t, 30*time.Second, n.name+" replays the row", func() error {
			v, err := n.queryString("SELECT v FROM kv WHERE k = 'hello'")
			if err != nil {
				return err
			}
			if v != "world" {
				return fmt.Errorf("got %q", v)
			}
			return nil
		})
		inRecovery, err := n.queryString("SELECT pg_is_in_recovery()::text")
		if err != nil || inRecovery != "true" {
			t.Errorf("%s: pg_is_in_recovery = %q, %v; want true", n.name, inRecovery, err)
		}
	}

	// Bootstrap users exist with their options.
	opts, err := leader.queryString("SELECT rolcreatedb::text || ',' || rolcanlogin::text FROM pg_roles WHERE rolname = 'app'")
	if err != nil || opts != "true,true" {
		t.Errorf("bootstrap user app: %q, %v; want createdb and login", opts, err)
	}

	out, err := c.nodes[0].conclave("list")
	if err != nil {
		t.Fatalf("conclave list: %v\n%s", err, out)
	}
	t.Logf("conclave list:\n%s", out)
	cl, _ := leader.cluster()
	header := regexp.MustCompile(`^\+ Cluster: ` + c.scope + ` \(` + cl.SystemIdentifier + `\) -+\+`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if cl.SystemIdentifier == "" || !header.MatchString(lines[0]) {
		t.Errorf("list header %q does not name scope %s and system id %q", lines[0], c.scope, cl.SystemIdentifier)
	}
	if !strings.Contains(lines[1], "| Member ") || !strings.Contains(lines[1], "| Lag in MB |") {
		t.Errorf("list columns: %q", lines[1])
	}
	leaders, replicas := 0, 0
	for _, l := range lines[3 : len(lines)-1] {
		cells := strings.Split(l, "|")
		role, state := strings.TrimSpace(cells[3]), strings.TrimSpace(cells[4])
		switch {
		case role == "Leader" && state == "running":
			leaders++
		case role == "Replica" && state == "streaming":
			replicas++
		}
	}
	if leaders != 1 || replicas != 2 {
		t.Errorf("list shows %d running leaders and %d streaming replicas, want 1 and 2:\n%s", leaders, replicas, out)
	}

	code, _ := getJSON(leader.apiURL()+"/primary", nil)
	if code != 200 {
		t.Errorf("leader /primary = %d, want 200", code)
	}
	for _, n := range c.nodes {
		if n == leader {
			continue
		}
		if code, _ := getJSON(n.apiURL()+"/primary", nil); code != 503 {
			t.Errorf("%s /primary = %d, want 503", n.name, code)
		}
		if code, _ := getJSON(n.apiURL()+"/replica", nil); code != 200 {
			t.Errorf("%s /replica = %d, want 200", n.name, code)
		}
	}
}

// Stopping all three agents and starting them again keeps the system
// identifier and the data, and never runs initdb again.
func TestRestartAll_KeepsSystemIdentifierAndData(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	c.startAll()
	leader := c.waitHealthy(90 * time.Second)
	leader.exec(t, "CREATE TABLE survive (id int)")
	leader.exec(t, "INSERT INTO survive SELECT generate_series(1, 100)")
	before, err := leader.cluster()
	if err != nil {
		t.Fatal(err)
	}
	controlBefore := controlFiles(t, c)

	for _, n := range c.nodes {
		n.stop()
	}
	for _, n := range c.nodes {
		if pid := n.postmasterPID(); pid != 0 {
			t.Fatalf("%s: PostgreSQL (pid %d) still running after the agent stopped", n.name, pid)
		}
	}
	c.startAll()
	leader = c.waitHealthy(90 * time.Second)
	after, err := leader.cluster()
	if err != nil {
		t.Fatal(err)
	}
	if before.SystemIdentifier == "" || after.SystemIdentifier != before.SystemIdentifier {
		t.Fatalf("system identifier %q before, %q after restart", before.SystemIdentifier, after.SystemIdentifier)
	}
	for _, n := range c.nodes {
		waitFor(t, 30*time.Second, n.name+" has all rows", func() error {
			v, err := n.queryString("SELECT count(*)::text FROM survive")
			if err != nil {
				return err
			}
			if v != "100" {
				return fmt.Errorf("count = %s", v)
			}
			return nil
		})
	}
	for name, id := range controlFiles(t, c) {
		if controlBefore[name] != id {
			t.Errorf("%s: data directory identity changed (%q -> %q): initdb ran again?", name, controlBefore[name], id)
		}
	}
	for _, n := range c.nodes {
		if n.logs.contains("running initdb") && n != c.byName(before.leaderName()) {
			t.Errorf("%s ran initdb", n.name)
		}
	}
}

func (c clusterJSON) leaderName() string {
	for _, m := range c.Members {
		if m.Role == "leader" {
			return m.Name
		}
	}
	return ""
}

// controlFiles returns each node's system identifier from pg_controldata.
func controlFiles(t *testing.T, c *cluster) map[string]string {
	t.Helper()
	ids := map[string]string{}
	re := regexp.MustCompile(`Database system identifier:\s+(\d+)`)
	for _, n := range c.nodes {
		out, err := asPostgres(filepath.Join(pgBin, "pg_controldata"), "-D", n.dataDir()).CombinedOutput()
		if err != nil {
			t.Fatalf("pg_controldata %s: %v\n%s", n.name, err, out)
		}
		m := re.FindSubmatch(out)
		if m == nil {
			t.Fatalf("pg_controldata %s: no system identifier in\n%s", n.name, out)
		}
		ids[n.name] = string(m[1])
	}
	return ids
}

// A fourth agent whose data directory belongs to another PostgreSQL
// cluster is refused: it exits with a clear message, never becomes a Raft
// voter, and its data directory is left untouched.
func TestForeignDataDirectory_RefusedToJoin(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	c.startAll()
	c.waitHealthy(90 * time.Second)

	stranger := c.newNode("node4")
	c.nodes = append(c.nodes, stranger)
	c.writeConfig(stranger, clusterOptions{})
	initdb := asPostgres(filepath.Join(pgBin, "initdb"), "-D", stranger.dataDir(), "-U", "postgres", "--auth=trust")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb for the stranger: %v\n%s", err, out)
	}
	idBefore, err := os.ReadFile(filepath.Join(stranger.dataDir(), "global", "pg_control"))
	if err != nil || len(idBefore) == 0 {
		t.Fatalf("the stranger's pg_control: %v", err)
	}

	stranger.start()
	err = stranger.wait(60 * time.Second)
	var exitErr *exec.ExitError
	if err == nil || !errors.As(err, &exitErr) {
		t.Fatalf("the stranger's agent exited with %v, want a non-zero exit", err)
	}
	if !stranger.logs.contains("another cluster") {
		t.Errorf("no clear message naming the other cluster in the stranger's output")
	}
	idAfter, err := os.ReadFile(filepath.Join(stranger.dataDir(), "global", "pg_control"))
	if err != nil || string(idBefore) != string(idAfter) {
		t.Errorf("the stranger's data directory was modified (pg_control read: %v)", err)
	}
	c.nodes = c.nodes[:3]
	cl, err := c.nodes[0].cluster()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range cl.Members {
		if m.Name == "node4" {
			t.Error("node4 appears in the member list")
		}
	}
	var patroni struct {
		Raft struct {
			Voters int `json:"voters"`
		} `json:"raft"`
	}
	if _, err := getJSON(c.nodes[0].apiURL()+"/patroni", &patroni); err != nil || patroni.Raft.Voters != 3 {
		t.Errorf("raft voters = %d (%v), want 3", patroni.Raft.Voters, err)
	}
}

// A bad configuration is refused at start with one clear line naming the
// key, and nothing is created.
func TestBadConfig_RefusedWithClearMessage(t *testing.T) {
	c := newCluster(t, 1, clusterOptions{dcs: "    loop_wait: 10\n    retry_timeout: 10\n    ttl: 20"})
	n := c.nodes[0]
	out, err := asPostgres(binary, "-c", n.cfgPath, "run").CombinedOutput()
	if err == nil {
		t.Fatalf("agent accepted loop_wait + 2*retry_timeout > ttl:\n%s", out)
	}
	if !strings.Contains(string(out), "ttl") || !strings.Contains(string(out), n.cfgPath) {
		t.Errorf("message does not name the key and file:\n%s", out)
	}
	for _, p := range []string{n.dataDir(), filepath.Join(n.dir, "raft")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was created by a refused start", p)
		}
	}

	data, _ := os.ReadFile(n.cfgPath)
	bad := strings.Replace(string(data), "data_dir:", "datadir:", 1)
	os.WriteFile(n.cfgPath, []byte(bad), 0o600)
	out, err = exec.Command(binary, "-c", n.cfgPath, "run").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown key "raft.datadir"`) {
		t.Errorf("unknown key not named (err %v):\n%s", err, out)
	}
}
