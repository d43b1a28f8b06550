//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A typical Patroni tutorial patroni.yml (config/testdata/tutorial.yml: its
// etcd: section replaced by raft:) runs as it is. Only what three nodes on
// one machine cannot share is changed: the member name, the ports, and the
// pgpass and Raft folders; data_dir stays relative (data/postgresqlN) and
// everything else (ttl 30, loop_wait 10, use_slots false, md5 pg_hba
// without a local line, unix_socket_directories '.', the four tags, the
// admin user with createrole and createdb) is the tutorial's.
func TestPatroniTutorialConfig_StartsUnchangedAndCreatesItsUsers(t *testing.T) {
	runParallel(t) // builds its cluster by hand, not with newCluster
	tutorial, err := os.ReadFile("../config/testdata/tutorial.yml")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, scope: "postgres", dir: workDir(t), hbaNet: "127.0.0.1/32"}
	for i := 0; i < 3; i++ {
		n := c.newNode(fmt.Sprintf("postgresql%d", i))
		n.host, n.cwd = "127.0.0.1", c.dir
		c.nodes = append(c.nodes, n)
	}
	t.Cleanup(c.stopAll)
	for _, n := range c.nodes {
		cfg := string(tutorial)
		var partners []string
		for _, o := range c.nodes {
			if o != n {
				partners = append(partners, fmt.Sprintf("    - 127.0.0.1:%d", o.raftPort))
			}
		}
		replace := []string{
			"name: postgresql0", "name: " + n.name,
			"127.0.0.1:8008", fmt.Sprintf("127.0.0.1:%d", n.apiPort),
			"self_addr: 127.0.0.1:5010", fmt.Sprintf("self_addr: 127.0.0.1:%d", n.raftPort),
			"    - 127.0.0.1:5011\n    - 127.0.0.1:5012", strings.Join(partners, "\n"),
			"data_dir: /var/lib/conclave/raft", "data_dir: " + filepath.Join(n.dir, "raft"),
			"127.0.0.1:5432", fmt.Sprintf("127.0.0.1:%d", n.pgPort),
			"data_dir: data/postgresql0", "data_dir: data/" + n.name,
			"pgpass: /tmp/pgpass", "pgpass: " + filepath.Join(n.dir, "pgpass"),
		}
		for i := 0; i < len(replace); i += 2 {
			if !strings.Contains(cfg, replace[i]) {
				t.Fatalf("tutorial.yml no longer contains %q", replace[i])
			}
			cfg = strings.ReplaceAll(cfg, replace[i], replace[i+1])
		}
		if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(c.dir, "data"), 0o700)
	chownToPostgres(t, c.dir)
	c.startAll()
	leader := c.waitHealthy(150 * time.Second)

	for _, n := range c.nodes {
		if _, err := os.Stat(filepath.Join(c.dir, "data", n.name, "PG_VERSION")); err != nil {
			t.Errorf("%s: relative data_dir not used: %v", n.name, err)
		}
	}
	got, err := leader.queryStringAs("admin", "admin%", "SELECT rolcreaterole::text || ',' || rolcreatedb::text FROM pg_roles WHERE rolname = current_user")
	if err != nil || got != "true,true" {
		t.Errorf("bootstrap user admin: %q, %v; want login with createrole and createdb", got, err)
	}
}
