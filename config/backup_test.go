package config

import (
	"reflect"
	"testing"
)

func TestParse_BackupMethods_TypedInOrder(t *testing.T) {
	in := replace(t, "  data_dir: /tmp/data\n", `  data_dir: /tmp/data
  pgbackrest:
    command: pgbackrest --stanza=old --delta restore
    keep_data: true
    no_params: true
    no_master: true
    process-max: 2
  create_replica_methods: [pgbackrest, basebackup]
`) + `backup:
  stanza: new
bootstrap:
  method: pgbackrest
  pgbackrest:
    command: pgbackrest --stanza=old restore
    no_params: true
    recovery_conf:
      recovery_target_time: "2026-12-01 03:00:00+00"
      recovery_target_action: promote
`
	c, err := Parse([]byte(in), "conclave.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []ReplicaMethod{
		{Name: "pgbackrest", Command: "pgbackrest --stanza=old --delta restore", KeepData: true, NoParams: true, NoLeader: true,
			Options: []MethodOption{{Key: "process-max", Value: "2"}}},
		{Name: "basebackup"},
	}
	if !reflect.DeepEqual(c.PostgreSQL.ReplicaMethods, want) {
		t.Fatalf("replica methods\n got %+v\nwant %+v", c.PostgreSQL.ReplicaMethods, want)
	}
	m := c.Bootstrap.CustomMethod
	if m == nil || m.Command != "pgbackrest --stanza=old restore" || !m.NoParams || m.RecoveryConf["recovery_target_action"] != "promote" {
		t.Fatalf("bootstrap method %+v", m)
	}
	if c.Backup.Tool != "pgbackrest" || c.Backup.Command != "pgbackrest" || c.Backup.Stanza != "new" {
		t.Fatalf("backup %+v", c.Backup)
	}
	if got := c.UnusedLine(); got != "" {
		t.Fatalf("a custom bootstrap is acted on now, got %q", got)
	}
}
