package agent

import (
	"reflect"
	"testing"

	"github.com/conclave-ha/conclave/config"
)

func TestRestartKeys_NamesOnlyKeysThatNeedAnAgentRestart(t *testing.T) {
	prev := &config.Config{Scope: "demo", Name: "n1"}
	prev.PostgreSQL.Parameters = map[string]any{"work_mem": "4MB"}
	next := *prev
	next.PostgreSQL.Parameters = map[string]any{"work_mem": "64MB", "unix_socket_directories": "/tmp"}
	next.PostgreSQL.PgHBA = []string{"local all all trust"}
	next.Tags.NoFailover = true
	next.RestAPI.Listen = "127.0.0.1:9000"
	next.Raft.PartnerAddrs = []string{"127.0.0.1:7000"}
	next.PostgreSQL.DataDir = "/elsewhere"
	want := []string{"postgresql.data_dir", "postgresql.parameters.unix_socket_directories", "raft", "restapi"}
	if got := restartKeys(prev, &next); !reflect.DeepEqual(got, want) {
		t.Fatalf("restart keys %v, want %v (parameters, pg_hba and tags apply live)", got, want)
	}
	if got := restartKeys(prev, prev); len(got) != 0 {
		t.Fatalf("unchanged file: %v", got)
	}
}
