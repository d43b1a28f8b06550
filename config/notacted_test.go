package config

import (
	"strings"
	"testing"
)

func TestParse_KeysNotActedOn_NamedInOneLineWithTheirLines(t *testing.T) {
	data := minimal + `namespace: /db/
tags:
  nofailover: true
  nostream: true
watchdog:
  mode: required
bootstrap:
  dcs:
    ttl: 10
    standby_cluster:
      host: 10.0.0.9
`
	data = strings.Replace(data, "  data_dir: /tmp/data\n", "  data_dir: /tmp/data\n  callbacks:\n    on_start: /bin/true\n", 1)
	c, err := ParseWithEnv([]byte(data), "conclave.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "accepted, not acted on: namespace, tags.nostream, watchdog, bootstrap.dcs.standby_cluster"
	if got := c.UnusedLine(); got != want {
		t.Fatalf("UnusedLine\n got %q\nwant %q", got, want)
	}
	for _, u := range c.Unused {
		if !strings.HasPrefix(u.Where, "conclave.yml:") || u.Why == "" {
			t.Errorf("%+v: want a line and a reason", u)
		}
	}
}

func TestParse_ActedOnKeysOnly_NoWarning(t *testing.T) {
	c, err := ParseWithEnv([]byte(minimal+"tags:\n  nofailover: true\n"), "conclave.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.UnusedLine() != "" || len(c.Unused) != 0 {
		t.Fatalf("unexpected warning %q", c.UnusedLine())
	}
}

func TestNotActedOn_EveryRowIsAcceptedAndReported(t *testing.T) {
	// A row for a key the decoder refuses could never be reported.
	data := `scope: s
name: n1
namespace: /x/
log: {dateformat: "%Y", loggers: {a: DEBUG}}
restapi:
  listen: 127.0.0.1:8008
  request_queue_size: 5
raft:
  data_dir: /tmp/raft
  self_addr: 127.0.0.1:5010
  bind_addr: 127.0.0.1:5010
bootstrap:
  method: custom
  custom: {command: /bin/true}
  post_bootstrap: /bin/true
  post_init: /bin/true
  dcs:
    standby_cluster: {host: 10.0.0.9}
    maximum_lag_on_syncnode: 1
    master_stop_timeout: 1
    primary_stop_timeout: 1
    check_timeline: true
    max_timelines_history: 1
    ignore_slots: [{name: x}]
    postgresql:
      recovery_conf: {}
      remove_data_directory_on_rewind_failure: true
      remove_data_directory_on_diverged_timelines: true
postgresql:
  listen: 127.0.0.1:5432
  data_dir: /tmp/data
  config_dir: /tmp/conf
  callbacks: {on_start: /bin/true}
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  authentication:
    superuser: {username: postgres}
    replication: {username: replicator}
tags: {nostream: true, clonefrom: true, replicatefrom: n2}
watchdog: {mode: required}
`
	c, err := ParseWithEnv([]byte(data), "conclave.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, u := range c.Unused {
		got[u.Key] = true
	}
	for _, k := range NotActedOnKeys() {
		if !got[k] {
			t.Errorf("%s is in the table but was not reported", k)
		}
	}
}
