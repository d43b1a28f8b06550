package adapter

import (
	"testing"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/pgctl"
)

func TestServerConfig_LocalWinsExceptClusterWideParameters(t *testing.T) {
	dyn := fsm.DefaultDynamicConfig()
	dyn.Parameters = map[string]any{"work_mem": "4MB", "max_connections": 100}
	p := &Postgres{dynamic: func() fsm.DynamicConfig { return dyn }}
	cfg := &config.Config{}
	cfg.PostgreSQL.Parameters = map[string]any{"work_mem": "64MB", "max_connections": 20, "max_wal_senders": 12}
	got := p.serverConfig(cfg, nil).Parameters
	if got["work_mem"] != "64MB" {
		t.Errorf("work_mem %v: the local file must win", got["work_mem"])
	}
	if got["max_connections"] != 100 {
		t.Errorf("max_connections %v: the dynamic value must win for a cluster-wide parameter", got["max_connections"])
	}
	if got["max_wal_senders"] != 12 {
		t.Errorf("max_wal_senders %v: a local value applies when the dynamic configuration is silent", got["max_wal_senders"])
	}
}

func TestRaiseToControlData_StandbyKeepsThePrimarysValues(t *testing.T) {
	cd := pgctl.ControlData{Raw: map[string]string{
		"max_connections setting": "100", "max_worker_processes setting": "8", "max_wal_senders setting": "10",
		"max_prepared_xacts setting": "5", "max_locks_per_xact setting": "64",
	}}
	params := map[string]any{"max_connections": 40, "max_worker_processes": "16", "max_locks_per_transaction": "weird"}
	raiseToControlData(params, cd)
	want := map[string]any{"max_connections": 100, "max_worker_processes": "16", "max_locks_per_transaction": "weird", "max_prepared_transactions": 5}
	for k, v := range want {
		if params[k] != v {
			t.Errorf("%s = %v, want %v", k, params[k], v)
		}
	}
	if _, set := params["max_wal_senders"]; set {
		t.Errorf("max_wal_senders set to %v although the primary's equals the default", params["max_wal_senders"])
	}
}
