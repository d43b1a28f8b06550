package ctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/config"
)

func TestCandidates_LocalFirstThenCacheThenPartnerHostsWithOurRESTPort(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	dir := t.TempDir()
	path := filepath.Join(dir, "conclave.yml")
	conf := `scope: demo
name: node1
restapi: {listen: 127.0.0.1:8008}
raft: {data_dir: ` + dir + `/raft, self_addr: 127.0.0.1:15010, partner_addrs: [127.0.0.2:5010, 127.0.0.3:5010]}
postgresql:
  listen: 127.0.0.1:5432
  data_dir: ` + dir + `/data
  authentication: {superuser: {username: postgres}, replication: {username: replicator}}
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadWithEnv(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeMemberCache("demo", clusterView{Members: []clusterMember{
		{Name: "node1", APIURL: "http://127.0.0.1:8008/patroni"},
		{Name: "node3", APIURL: "http://127.0.0.3:8009/patroni"},
	}})
	var got []string
	for _, c := range candidates(cfg) {
		got = append(got, c.name+"="+c.base)
	}
	want := "node1=http://127.0.0.1:8008 node3=http://127.0.0.3:8009 raft partner 127.0.0.2=http://127.0.0.2:8008 raft partner 127.0.0.3=http://127.0.0.3:8008"
	if strings.Join(got, " ") != want {
		t.Fatalf("candidates\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}
