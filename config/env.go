package config

import "strings"

// envPrefixes are read in order; a later prefix wins (CONCLAVE_ over PATRONI_).
var envPrefixes = []string{"PATRONI_", "CONCLAVE_"}

type envVar struct {
	suffix string
	key    string
	set    func(c *Config, v string)
}

var envVars = []envVar{
	{"NAME", "name", func(c *Config, v string) { c.Name = v }},
	{"SCOPE", "scope", func(c *Config, v string) { c.Scope = v }},
	{"NAMESPACE", "namespace", func(c *Config, v string) { c.Namespace = v }},
	{"RESTAPI_LISTEN", "restapi.listen", func(c *Config, v string) { c.RestAPI.Listen = v }},
	{"RESTAPI_CONNECT_ADDRESS", "restapi.connect_address", func(c *Config, v string) { c.RestAPI.ConnectAddress = v }},
	{"RAFT_DATA_DIR", "raft.data_dir", func(c *Config, v string) { c.Raft.DataDir = v }},
	{"RAFT_SELF_ADDR", "raft.self_addr", func(c *Config, v string) { c.Raft.SelfAddr = v }},
	{"RAFT_PARTNER_ADDRS", "raft.partner_addrs", func(c *Config, v string) { c.Raft.PartnerAddrs = splitAddrList(v) }},
	{"RAFT_PASSWORD", "raft.password", func(c *Config, v string) { c.Raft.Password = v }},
	{"RAFT_CERTFILE", "raft.certfile", func(c *Config, v string) { c.Raft.TLS.CertFile = v }},
	{"RAFT_KEYFILE", "raft.keyfile", func(c *Config, v string) { c.Raft.TLS.KeyFile = v }},
	{"RAFT_CAFILE", "raft.cafile", func(c *Config, v string) { c.Raft.TLS.CAFile = v }},
	{"POSTGRESQL_LISTEN", "postgresql.listen", func(c *Config, v string) { c.PostgreSQL.Listen = v }},
	{"POSTGRESQL_CONNECT_ADDRESS", "postgresql.connect_address", func(c *Config, v string) { c.PostgreSQL.ConnectAddress = v }},
	{"POSTGRESQL_DATA_DIR", "postgresql.data_dir", func(c *Config, v string) { c.PostgreSQL.DataDir = v }},
	{"POSTGRESQL_BIN_DIR", "postgresql.bin_dir", func(c *Config, v string) { c.PostgreSQL.BinDir = v }},
	{"POSTGRESQL_PGPASS", "postgresql.pgpass", func(c *Config, v string) { c.PostgreSQL.Pgpass = v }},
	{"SUPERUSER_USERNAME", "postgresql.authentication.superuser.username", func(c *Config, v string) { c.PostgreSQL.Authentication.Superuser.Username = v }},
	{"SUPERUSER_PASSWORD", "postgresql.authentication.superuser.password", func(c *Config, v string) { c.PostgreSQL.Authentication.Superuser.Password = v }},
	{"REPLICATION_USERNAME", "postgresql.authentication.replication.username", func(c *Config, v string) { c.PostgreSQL.Authentication.Replication.Username = v }},
	{"REPLICATION_PASSWORD", "postgresql.authentication.replication.password", func(c *Config, v string) { c.PostgreSQL.Authentication.Replication.Password = v }},
	{"REWIND_USERNAME", "postgresql.authentication.rewind.username", func(c *Config, v string) { c.PostgreSQL.Authentication.Rewind.Username = v }},
	{"REWIND_PASSWORD", "postgresql.authentication.rewind.password", func(c *Config, v string) { c.PostgreSQL.Authentication.Rewind.Password = v }},
	{"LOG_LEVEL", "log.level", func(c *Config, v string) { c.Log.Level = v }},
	{"LOG_FORMAT", "log.format", func(c *Config, v string) { c.Log.Format = v }},
	{"LOG_TYPE", "log.type", func(c *Config, v string) { c.Log.Type = v }},
	{"LOG_DATEFORMAT", "log.dateformat", func(c *Config, v string) { c.Log.DateFormat = v }},
	{"LOG_TRACEBACK_LEVEL", "log.traceback_level", func(c *Config, v string) { c.Log.TracebackLevel = v }},
	{"LOG_DIR", "log.dir", func(c *Config, v string) { c.Log.Dir = v }},
	{"RESTAPI_USERNAME", "restapi.authentication.username", func(c *Config, v string) { c.RestAPI.Authentication.Username = v }},
	{"RESTAPI_PASSWORD", "restapi.authentication.password", func(c *Config, v string) { c.RestAPI.Authentication.Password = v }},
	{"RESTAPI_CERTFILE", "restapi.certfile", func(c *Config, v string) { c.RestAPI.TLS.CertFile = v }},
	{"RESTAPI_KEYFILE", "restapi.keyfile", func(c *Config, v string) { c.RestAPI.TLS.KeyFile = v }},
	{"RESTAPI_KEYFILE_PASSWORD", "restapi.keyfile_password", func(c *Config, v string) { c.RestAPI.TLS.KeyFilePassword = v }},
	{"RESTAPI_CAFILE", "restapi.cafile", func(c *Config, v string) { c.RestAPI.TLS.CAFile = v }},
	{"RESTAPI_VERIFY_CLIENT", "restapi.verify_client", func(c *Config, v string) { c.RestAPI.VerifyClient = v }},
	{"CTL_CERTFILE", "ctl.certfile", func(c *Config, v string) { c.Ctl.TLS.CertFile = v }},
	{"CTL_KEYFILE", "ctl.keyfile", func(c *Config, v string) { c.Ctl.TLS.KeyFile = v }},
	{"CTL_KEYFILE_PASSWORD", "ctl.keyfile_password", func(c *Config, v string) { c.Ctl.TLS.KeyFilePassword = v }},
	{"CTL_CACERT", "ctl.cacert", func(c *Config, v string) { c.Ctl.TLS.CAFile = v }},
}

// applyEnv applies the PATRONI_* then CONCLAVE_* overrides. An empty
// variable counts as unset.
func (d *decoder) applyEnv(c *Config, getenv func(string) string) {
	for _, prefix := range envPrefixes {
		for _, e := range envVars {
			name := prefix + e.suffix
			if v := getenv(name); v != "" {
				e.set(c, v)
				d.origin[e.key] = "environment " + name
				if e.key == "raft.partner_addrs" {
					for k := range d.origin {
						if strings.HasPrefix(k, "raft.partner_addrs[") {
							delete(d.origin, k)
						}
					}
				}
			}
		}
	}
}

// splitAddrList accepts "h1:p1,h2:p2" and Patroni's "'h1:p1','h2:p2'" or
// "['h1:p1', 'h2:p2']".
func splitAddrList(v string) []string {
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	var out []string
	for _, part := range strings.Split(v, ",") {
		part = strings.Trim(strings.TrimSpace(part), `'"`)
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}
