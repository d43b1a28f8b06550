package config

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func noEnv(string) string { return "" }

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func loadTestdata(t *testing.T, name string) *Config {
	t.Helper()
	c, err := LoadWithEnv(filepath.Join("testdata", name), noEnv)
	if err != nil {
		t.Fatalf("LoadWithEnv(%s): %v", name, err)
	}
	return c
}

func TestLoad_PatroniTutorialConfig_ParsesUnchanged(t *testing.T) {
	c := loadTestdata(t, "tutorial.yml")
	if c.Scope != "postgres" || c.Namespace != "/db/" || c.Name != "postgresql0" {
		t.Fatalf("globals: %+v", c)
	}
	if c.RestAPI.Listen != "127.0.0.1:8008" || c.APIURL() != "http://127.0.0.1:8008" {
		t.Fatalf("restapi: %+v", c.RestAPI)
	}
	want := []string{"127.0.0.1:5010", "127.0.0.1:5011", "127.0.0.1:5012"}
	if got := c.RaftServers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("RaftServers = %v", got)
	}
	wantInitdb := []InitdbOption{{Key: "encoding", Value: "UTF8"}, {Key: "data-checksums"}}
	if !reflect.DeepEqual(c.Bootstrap.Initdb, wantInitdb) {
		t.Fatalf("initdb %+v", c.Bootstrap.Initdb)
	}
	if got := c.Bootstrap.Users["admin"]; got.Password != "admin%" || !reflect.DeepEqual(got.Options, []string{"createrole", "createdb"}) {
		t.Fatalf("users %+v", c.Bootstrap.Users)
	}
	if len(c.Bootstrap.PgHBA) != 2 {
		t.Fatalf("bootstrap.pg_hba %v", c.Bootstrap.PgHBA)
	}
	p := c.PostgreSQL
	if p.Pgpass != "/tmp/pgpass" || p.Parameters["unix_socket_directories"] != "." || p.DataDir != mustAbs(t, "data/postgresql0") ||
		p.BinDir != DefaultBinDir || p.PgCtlTimeout != 60 || p.UsePgRewind != nil {
		t.Fatalf("postgresql %+v", p)
	}
	if p.Authentication.Rewind != (Credentials{"rewind_user", "rewind_password"}) ||
		p.Authentication.Superuser != (Credentials{"postgres", "zalando"}) ||
		p.Authentication.Replication != (Credentials{"replicator", "rep-pass"}) {
		t.Fatalf("authentication %+v", p.Authentication)
	}
	if c.Tags != (Tags{FailoverPriority: 1}) {
		t.Fatalf("tags %+v", c.Tags)
	}
	if !reflect.DeepEqual(c.Log, Log{Level: "INFO", Type: "plain", TracebackLevel: "ERROR", FileSize: DefaultLogFileSize, FileNum: DefaultLogFileNum}) || c.Watchdog != (Watchdog{Mode: "off", SafetyMargin: 5}) {
		t.Fatalf("log %+v watchdog %+v", c.Log, c.Watchdog)
	}
	d, err := c.Dynamic()
	if err != nil {
		t.Fatal(err)
	}
	if d.TTL != 30 || d.LoopWait != 10 || d.RetryTimeout != 10 || d.UseSlots || !d.UsePgRewind || d.PrimaryStartTimeout != 300 {
		t.Fatalf("dynamic %+v", d)
	}
}

func TestLoad_PatroniCompatConfigs_Parse(t *testing.T) {
	for _, name := range []string{"patroni-default-node1.yml", "patroni-raft-node1.yml"} {
		c := loadTestdata(t, name)
		d, err := c.Dynamic()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.PostgreSQL.ListenPort() != 25431 || d.TTL != 30 || d.Parameters["shared_buffers"] != "32MB" ||
			c.Raft.SelfAddr != "127.0.0.1:25901" || len(c.PostgreSQL.PgHBA) != 3 ||
			c.PostgreSQL.Authentication.Rewind.Username != "postgres" {
			t.Fatalf("%s: %+v %+v", name, c, d)
		}
	}
}

const minimal = `scope: s
name: n1
restapi:
  listen: 127.0.0.1:8008
raft:
  data_dir: /tmp/raft
  self_addr: 127.0.0.1:5010
  partner_addrs: [127.0.0.1:5011]
postgresql:
  listen: 127.0.0.1:5432
  data_dir: /tmp/data
  authentication:
    superuser: {username: postgres}
    replication: {username: replicator}
`

func TestParse_Minimal_AppliesDefaults(t *testing.T) {
	c, err := ParseWithEnv([]byte(minimal), "conclave.yml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Namespace != "/service/" || c.RestAPI.ConnectAddress != "127.0.0.1:8008" ||
		c.PostgreSQL.ConnectAddress != "127.0.0.1:5432" || c.PostgreSQL.BinDir != "/usr/lib/postgresql/15/bin" ||
		c.PostgreSQL.PgCtlTimeout != 60 || c.PostgreSQL.Authentication.Rewind.Username != "postgres" ||
		c.Log.Level != "INFO" || c.Log.Type != "plain" || c.Log.Format != "" || c.Log.TracebackLevel != "ERROR" || c.Path != "conclave.yml" {
		t.Fatalf("defaults not applied: %+v", c)
	}
	d, err := c.Dynamic()
	if err != nil || d.TTL != 3 || d.LoopWait != 1 {
		t.Fatalf("dynamic defaults %+v %v", d, err)
	}
}

// replace returns minimal with old replaced by new (old must occur).
func replace(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(minimal, old) {
		t.Fatalf("%q not in minimal", old)
	}
	return strings.Replace(minimal, old, new, 1)
}

func TestParse_BadInput_NamesKeyAndLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown key with suggestion", replace(t, "  data_dir: /tmp/data\n", "  datadir: /tmp/data\n"),
			[]string{`conclave.yml:11: unknown key "postgresql.datadir" (did you mean "data_dir"?)`}},
		{"unknown top-level key", minimal + "scop: x\n", []string{`conclave.yml:15: unknown key "scop" (did you mean "scope"?)`}},
		{"unknown key far from any", minimal + "banana: 1\n", []string{`conclave.yml:15: unknown key "banana"`}},
		{"wrong type dcs", minimal + "bootstrap:\n  dcs:\n    ttl: abc\n",
			[]string{`conclave.yml:17: key "bootstrap.dcs.ttl": must be an integer >= 2, got "abc"`}},
		{"wrong type string gets map", replace(t, "scope: s\n", "scope: {a: 1}\n"), []string{`conclave.yml:1: key "scope": must be a string, got a map`}},
		{"wrong type bool", minimal + "tags:\n  nofailover: n\n", []string{`conclave.yml:16: key "tags.nofailover": must be true or false (yes/no, on/off), got "n"`}},
		{"quoted yes is a string", minimal + "tags:\n  nofailover: \"yes\"\n", []string{`conclave.yml:16: key "tags.nofailover": must be true or false (yes/no, on/off), got "yes"`}},
		{"wrong type int", replace(t, "  data_dir: /tmp/data\n", "  data_dir: /tmp/data\n  pg_ctl_timeout: 1.5\n"),
			[]string{`conclave.yml:12: key "postgresql.pg_ctl_timeout": must be an integer, got 1.5`}},
		{"section not a map", minimal + "watchdog: [1]\n", []string{`conclave.yml:15: key "watchdog": must be a map, got a list`}},
		{"missing required key", replace(t, "  self_addr: 127.0.0.1:5010\n", ""),
			[]string{`conclave.yml:5: missing required key "raft.self_addr"`}},
		{"missing required top-level", replace(t, "name: n1\n", ""), []string{`conclave.yml:1: missing required key "name"`}},
		{"missing superuser", replace(t, "    superuser: {username: postgres}\n", ""),
			[]string{`missing required key "postgresql.authentication.superuser.username"`}},
		{"ttl rule", minimal + "bootstrap:\n  dcs:\n    ttl: 20\n    loop_wait: 10\n    retry_timeout: 10\n",
			[]string{`conclave.yml:17: key "bootstrap.dcs.ttl": loop_wait (10) + 2*retry_timeout (10) = 30 exceeds ttl (20)`}},
		{"dcs typo", minimal + "bootstrap:\n  dcs:\n    synchronus_mode: true\n",
			[]string{`conclave.yml:17: unknown key "bootstrap.dcs.synchronus_mode" (did you mean "synchronous_mode"?)`}},
		{"dcs nested", minimal + "bootstrap:\n  dcs:\n    postgresql:\n      use_slots: 'no'\n",
			[]string{`conclave.yml:18: key "bootstrap.dcs.postgresql.use_slots": must be true or false, got "no"`}},
		{"port collision", replace(t, "  listen: 127.0.0.1:5432\n", "  listen: 0.0.0.0:8008\n  connect_address: 10.0.0.1:8008\n"),
			[]string{`conclave.yml:10: key "postgresql.listen": port 8008 is also used by restapi.listen on the same host`}},
		{"raft port collision", replace(t, "  self_addr: 127.0.0.1:5010\n", "  self_addr: 127.0.0.1:8008\n"),
			[]string{`conclave.yml:7: key "raft.self_addr": port 8008 is also used by restapi.listen`}},
		{"partner is self", replace(t, "[127.0.0.1:5011]", "[127.0.0.1:5011, 127.0.0.1:5010]"),
			[]string{`conclave.yml:8: key "raft.partner_addrs[1]": "127.0.0.1:5010" is raft.self_addr`}},
		{"partner duplicate", replace(t, "[127.0.0.1:5011]", "[127.0.0.1:5011, 127.0.0.1:5011]"),
			[]string{`key "raft.partner_addrs[1]": "127.0.0.1:5011" is listed twice`}},
		{"bad port", replace(t, "  listen: 127.0.0.1:8008\n", "  listen: 127.0.0.1:70000\n"),
			[]string{`conclave.yml:4: key "restapi.listen": port must be 1-65535, got "127.0.0.1:70000"`}},
		{"no port", replace(t, "  self_addr: 127.0.0.1:5010\n", "  self_addr: 127.0.0.1\n"),
			[]string{`conclave.yml:7: key "raft.self_addr": must be host:port, got "127.0.0.1"`}},
		{"wildcard self_addr", replace(t, "  self_addr: 127.0.0.1:5010\n", "  self_addr: 0.0.0.0:5010\n"),
			[]string{`key "raft.self_addr": must name a host other members can reach`}},
		{"wildcard listen needs connect_address", replace(t, "  listen: 127.0.0.1:8008\n", "  listen: 0.0.0.0:8008\n"),
			[]string{`conclave.yml:3: key "restapi.connect_address": not set and restapi.listen "0.0.0.0:8008" is not one address`}},
		{"name with slash", replace(t, "name: n1\n", "name: a/b\n"), []string{`conclave.yml:2: key "name": must not contain '/'`}},
		{"name with space", replace(t, "name: n1\n", "name: 'a b'\n"), []string{`conclave.yml:2: key "name": must not contain whitespace`}},
		{"name not ASCII", replace(t, "name: n1\n", "name: nœud1\n"), []string{`conclave.yml:2: key "name": must be printable ASCII (it becomes application_name, which PostgreSQL rewrites otherwise); a member renamed joins as a new one, got "nœud1"`}},
		{"name too long", replace(t, "name: n1\n", "name: "+strings.Repeat("x", 64)+"\n"), []string{`conclave.yml:2: key "name": must be at most 63 characters`}},
		{"duplicate key", replace(t, "name: n1\n", "name: n1\nname: n2\n"),
			[]string{`conclave.yml:3: duplicate key "name" (first defined at line 2)`}},
		{"duplicate nested key", minimal + "bootstrap:\n  dcs:\n    ttl: 30\n    ttl: 31\n",
			[]string{`conclave.yml:18: duplicate key "bootstrap.dcs.ttl" (first defined at line 17)`}},
		{"empty file", "", []string{`conclave.yml: config file is empty`}},
		{"only comments", "# nothing\n", []string{`conclave.yml: config file has no content`}},
		{"invalid YAML", "scope: [\n", []string{`conclave.yml: invalid YAML: line`}},
		{"not a map", "- a\n", []string{`conclave.yml:1: the top level must be a map`}},
		{"two documents", minimal + "---\nscope: x\n", []string{`conclave.yml:15: more than one YAML document`}},
		{"non UTF-8", "scope: s\nname: \xff\n", []string{`conclave.yml:2: file is not valid UTF-8`}},
		{"bad initdb item", minimal + "bootstrap:\n  initdb:\n  - {a: 1, b: 2}\n",
			[]string{`conclave.yml:17: key "bootstrap.initdb[0]": must be a string (- data-checksums) or a single-key map`}},
		{"bad initdb value", minimal + "bootstrap:\n  initdb:\n  - encoding: [x]\n",
			[]string{`conclave.yml:17: key "bootstrap.initdb[0]": option "encoding" must have a scalar value, got a list`}},
		{"bad user option", minimal + "bootstrap:\n  users:\n    u:\n      options: [createrol]\n",
			[]string{`conclave.yml:18: key "bootstrap.users.u.options[0]": unknown role option "createrol" (did you mean "createrole"?)`}},
		{"unknown callback", replace(t, "  data_dir: /tmp/data\n", "  data_dir: /tmp/data\n  callbacks:\n    on_stat: /bin/true\n"),
			[]string{`conclave.yml:13: unknown key "postgresql.callbacks.on_stat" (did you mean "on_start"?)`}},
		{"bad log level", minimal + "log:\n  level: LOUD\n", []string{`conclave.yml:16: key "log.level": must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got "LOUD"`}},
		{"bad log format", minimal + "log:\n  format: xml\n", []string{`conclave.yml:16: key "log.format": no %(name)s field in "xml"`}},
		{"bad log format field", minimal + "log:\n  format: '%(asctime)s %(color)s'\n", []string{`conclave.yml:16: key "log.format": unknown field %(color)`}},
		{"bad log type", minimal + "log:\n  type: xml\n", []string{`conclave.yml:16: key "log.type": must be plain or json, got "xml"`}},
		{"bad traceback level", minimal + "log:\n  traceback_level: LOUD\n", []string{`conclave.yml:16: key "log.traceback_level": must be one of DEBUG`}},
		{"bad watchdog", minimal + "watchdog:\n  mode: sometimes\n", []string{`conclave.yml:16: key "watchdog.mode": must be off, automatic or required`}},
		{"unsupported ciphers", replace(t, "  listen: 127.0.0.1:8008\n", "  listen: 127.0.0.1:8008\n  ciphers: HIGH\n"),
			[]string{`conclave.yml:5: key "restapi.ciphers": choosing TLS ciphers is not supported: Go's TLS defaults are used; remove it`}},
		{"verify_client without tls", replace(t, "  listen: 127.0.0.1:8008\n", "  listen: 127.0.0.1:8008\n  verify_client: required\n"),
			[]string{`key "restapi.verify_client": required needs restapi.certfile`}},
		{"verify_client bad value", replace(t, "  listen: 127.0.0.1:8008\n", "  listen: 127.0.0.1:8008\n  verify_client: always\n"),
			[]string{`key "restapi.verify_client": must be none, optional or required, got "always"`}},
		{"allowlist bad cidr", replace(t, "  listen: 127.0.0.1:8008\n", "  listen: 127.0.0.1:8008\n  allowlist: [10.0.0.0/99]\n"),
			[]string{`key "restapi.allowlist": entry "10.0.0.0/99" is not a valid CIDR`}},
		{"log file_size too small", minimal + "log:\n  file_size: 10\n",
			[]string{`key "log.file_size": must be an integer >= 4096`}},
		{"replica method", replace(t, "  data_dir: /tmp/data\n", "  data_dir: /tmp/data\n  create_replica_methods: [wal_e]\n"),
			[]string{`conclave.yml:12: key "postgresql.create_replica_methods[0]": method "wal_e" needs a postgresql.wal_e section with its command`}},
		{"replica method without command", replace(t, "  data_dir: /tmp/data\n", "  data_dir: /tmp/data\n  create_replica_methods: [pgbackrest]\n  pgbackrest:\n    keep_data: true\n"),
			[]string{`key "postgresql.pgbackrest.command": missing: method "pgbackrest" needs the command`}},
		{"bootstrap method without section", minimal + "bootstrap:\n  method: pgbackrest\n",
			[]string{`key "bootstrap.method": names "pgbackrest" but there is no bootstrap.pgbackrest section`}},
		{"restore over its own stanza", minimal + "backup:\n  stanza: main\nbootstrap:\n  method: pgbackrest\n  pgbackrest:\n    command: pgbackrest --stanza=main restore\n",
			[]string{`key "backup.stanza": is "main", the stanza bootstrap.pgbackrest restores from`}},
		{"restore over its own stanza, single-quoted", minimal + "backup:\n  stanza: main\nbootstrap:\n  method: pgbackrest\n  pgbackrest:\n    command: pgbackrest --stanza='main' restore\n",
			[]string{`key "backup.stanza": is "main", the stanza bootstrap.pgbackrest restores from`}},
		{"local archive_command over the restored stanza", replace(t, "  data_dir: /tmp/data\n", "  data_dir: /tmp/data\n  parameters:\n    archive_command: pgbackrest --stanza=main archive-push %p\n") +
			"backup:\n  stanza: restored\nbootstrap:\n  method: pgbackrest\n  pgbackrest:\n    command: pgbackrest --stanza=main restore\n",
			[]string{`key "postgresql.parameters.archive_command": archives to stanza "main", the one bootstrap.pgbackrest restores from`}},
		{"two recovery targets", minimal + "bootstrap:\n  method: r\n  r:\n    command: x\n    recovery_conf:\n      recovery_target_time: '2026-01-01'\n      recovery_target_lsn: 0/1\n",
			[]string{`sets more than one of recovery_target`}},
		{"recovery target action shutdown", minimal + "bootstrap:\n  method: r\n  r:\n    command: x\n    recovery_conf:\n      recovery_target_action: shutdown\n",
			[]string{`recovery_target_action": must be promote or pause`}},
		{"backup without stanza", minimal + "backup:\n  tool: pgbackrest\n",
			[]string{`missing required key "backup.stanza"`}},
		{"backup unknown tool", minimal + "backup:\n  tool: walg\n  stanza: s\n",
			[]string{`key "backup.tool": must be pgbackrest`}},
		{"parameter not scalar", replace(t, "  data_dir: /tmp/data\n", "  data_dir: /tmp/data\n  parameters:\n    x: [1]\n"),
			[]string{`conclave.yml:13: key "postgresql.parameters.x": must be a string, number or boolean`}},
		{"quorum", minimal + "bootstrap:\n  dcs:\n    synchronous_mode: quorum\n",
			[]string{`key "bootstrap.dcs.synchronous_mode": "quorum" (Patroni 4 quorum commit) is not supported`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseWithEnv([]byte(tt.yaml), "conclave.yml", noEnv)
			if err == nil {
				t.Fatalf("want error, got config %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
			if strings.HasSuffix(err.Error(), ".") {
				t.Errorf("error ends with punctuation: %q", err)
			}
		})
	}
}

func TestParse_OtherDCSSection_RefusedWithRaftHint(t *testing.T) {
	for _, dcs := range []string{"etcd", "etcd3", "consul", "zookeeper"} {
		_, err := ParseWithEnv([]byte(minimal+dcs+":\n  hosts: 127.0.0.1:2379\n"), "conclave.yml", noEnv)
		want := `conclave.yml:15: key "` + dcs + `": conclave has no external DCS; replace the ` + dcs +
			`: section with a raft: section (data_dir, self_addr, partner_addrs)`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", dcs, err)
		}
	}
}

func TestParse_EnvOverrides_ConclaveWinsOverPatroni(t *testing.T) {
	env := envMap(map[string]string{
		"PATRONI_NAME":               "from-patroni",
		"CONCLAVE_NAME":              "from-conclave",
		"PATRONI_SCOPE":              "sc",
		"PATRONI_RAFT_PARTNER_ADDRS": "'127.0.0.1:6001','127.0.0.1:6002'",
		"CONCLAVE_RESTAPI_LISTEN":    "127.0.0.1:9000",
		"PATRONI_SUPERUSER_PASSWORD": "secret",
		"CONCLAVE_REWIND_USERNAME":   "rw",
		"CONCLAVE_LOG_LEVEL":         "debug",
		"CONCLAVE_LOG_FORMAT":        "json",
		"PATRONI_POSTGRESQL_BIN_DIR": "/opt/pg/bin",
	})
	c, err := ParseWithEnv([]byte(minimal), "conclave.yml", env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "from-conclave" || c.Scope != "sc" || c.RestAPI.Listen != "127.0.0.1:9000" ||
		c.RestAPI.ConnectAddress != "127.0.0.1:9000" || c.PostgreSQL.BinDir != "/opt/pg/bin" ||
		c.PostgreSQL.Authentication.Superuser.Password != "secret" ||
		c.PostgreSQL.Authentication.Rewind.Username != "rw" || c.Log.Level != "DEBUG" || c.Log.Type != "json" {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if !reflect.DeepEqual(c.Raft.PartnerAddrs, []string{"127.0.0.1:6001", "127.0.0.1:6002"}) {
		t.Fatalf("partner addrs %v", c.Raft.PartnerAddrs)
	}
}

func TestParse_BadEnvOverride_NamesVariable(t *testing.T) {
	_, err := ParseWithEnv([]byte(minimal), "conclave.yml", envMap(map[string]string{"CONCLAVE_RAFT_SELF_ADDR": "nope"}))
	want := `environment CONCLAVE_RAFT_SELF_ADDR: key "raft.self_addr": must be host:port, got "nope"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestParse_PatroniExtras_Accepted(t *testing.T) {
	y := minimal + `log:
  level: warning
  type: json
  format: '%(asctime)s %(levelname)s: %(message)s'
  traceback_level: debug
  dir: /var/log/conclave
  file_num: 4
bootstrap:
  method: clone
  clone:
    command: /bin/clone.sh
  post_init: /bin/post.sh
  initdb: [data-checksums, {locale: C.UTF-8}]
tags:
  failover_priority: 0
  replicatefrom: n2
  nostream: true
watchdog:
  mode: off
  safety_margin: -1
`
	c, err := ParseWithEnv([]byte(strings.Replace(y, "  listen: 127.0.0.1:5432\n", "  listen: 127.0.0.1,10.0.0.5:5432\n  connect_address: 10.0.0.5:5432\n  use_pg_rewind: false\n", 1)), "conclave.yml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Log, Log{Level: "WARNING", Type: "json", Format: "%(asctime)s %(levelname)s: %(message)s", TracebackLevel: "DEBUG", Dir: "/var/log/conclave", FileSize: DefaultLogFileSize, FileNum: 4}) ||
		c.Bootstrap.Method != "clone" || c.Bootstrap.MethodConfig["command"] != "/bin/clone.sh" ||
		c.Bootstrap.PostBootstrap != "/bin/post.sh" || c.Tags.FailoverPriority != 0 || !c.Tags.NoStream ||
		c.Watchdog.Mode != "off" || c.Watchdog.SafetyMargin != -1 || c.PostgreSQL.UsePgRewind == nil || *c.PostgreSQL.UsePgRewind {
		t.Fatalf("unexpected %+v", c)
	}
	if got := c.PostgreSQL.ListenHosts(); !reflect.DeepEqual(got, []string{"127.0.0.1", "10.0.0.5"}) || c.PostgreSQL.ListenPort() != 5432 {
		t.Fatalf("listen hosts %v port %d", got, c.PostgreSQL.ListenPort())
	}
	flags := []string{c.Bootstrap.Initdb[0].Flag(), c.Bootstrap.Initdb[1].Flag()}
	if !reflect.DeepEqual(flags, []string{"--data-checksums", "--locale=C.UTF-8"}) {
		t.Fatalf("flags %v", flags)
	}
}

func TestLoad_FileProblems_HaveClearMessages(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := write("big.yml", []byte("# "+strings.Repeat("x", 1<<20)+"\n"))
	empty := write("empty.yml", nil)
	tests := []struct{ path, want string }{
		{filepath.Join(dir, "missing.yml"), "does not exist"},
		{dir, "is a directory"},
		{big, "the limit is 1048576 (1 MiB)"},
		{empty, "config file is empty"},
	}
	if os.Getuid() != 0 {
		unreadable := write("unreadable.yml", []byte(minimal))
		if err := os.Chmod(unreadable, 0); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct{ path, want string }{unreadable, "not readable by the current user"})
	}
	for _, tt := range tests {
		_, err := LoadWithEnv(tt.path, noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("LoadWithEnv(%s) = %v, want message containing %q and the path", tt.path, err, tt.want)
		}
	}
}

func TestCheckEnvironment_ReportsEachProblem(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, b := range requiredBinaries {
		if b == "pg_ctl" {
			continue
		}
		if err := os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c := &Config{
		RestAPI:    RestAPI{Listen: busy.Addr().String()},
		Raft:       Raft{DataDir: filepath.Join(dir, "raft"), SelfAddr: "127.0.0.1:0"},
		PostgreSQL: PostgreSQL{DataDir: filepath.Join(dir, "no", "such", "data"), BinDir: bin},
	}
	err = c.CheckEnvironment()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, w := range []string{
		`postgresql.bin_dir "` + bin + `": pg_ctl not found; install PostgreSQL 15 server binaries (apt-get install postgresql-15) or set postgresql.bin_dir`,
		`postgresql.data_dir "` + filepath.Join(dir, "no", "such", "data") + `": parent directory`,
		`restapi.listen "` + busy.Addr().String() + `": the port is in use`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
		}
	}
	if strings.Contains(err.Error(), "raft.") {
		t.Errorf("raft checks should pass: %v", err)
	}
}

func mustAbs(t *testing.T, rel string) string {
	t.Helper()
	abs, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// validate-config and run name the file line of a key the machine cannot
// serve, and an address the machine does not have is not called a busy port.
func TestCheckEnvironment_NamesFileLine_AndAnAddressNotOnThisMachine(t *testing.T) {
	dir := t.TempDir()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free.Close()
	yml := strings.NewReplacer(
		"/tmp/raft", filepath.Join(dir, "raft"),
		"/tmp/data", filepath.Join(dir, "data"),
		"self_addr: 127.0.0.1:5010", "self_addr: 192.0.2.1:5010", // TEST-NET-1: on no machine
		"listen: 127.0.0.1:8008", "listen: "+free.Addr().String(),
	).Replace(minimal)
	c, err := ParseWithEnv([]byte(yml), "conclave.yml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c.PostgreSQL.BinDir = dir // no PostgreSQL binaries there; the key is not in the file: its section's line
	err = c.CheckEnvironment()
	if err == nil {
		t.Fatal("want errors")
	}
	want := `conclave.yml:7: raft.self_addr "192.0.2.1:5010": no network interface of this machine has that address`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error\n%v\ndoes not contain\n%s", err, want)
	}
	if strings.Contains(err.Error(), "stop whatever holds") {
		t.Errorf("an address not on this machine is reported as a busy port:\n%v", err)
	}
	if !strings.Contains(err.Error(), "conclave.yml:9: postgresql.bin_dir") {
		t.Errorf("a key left at its default is not named with its section's line (postgresql:, line 9):\n%v", err)
	}
}
