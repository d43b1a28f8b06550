package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode"

	"github.com/conclave-ha/conclave/fsm"
)

var logLevels = []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}

// withDefaults fills unset keys. isSet reports whether a key was written in
// the file or the environment (for keys whose zero value is meaningful).
func (c *Config) withDefaults(isSet func(key string) bool) {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if !strings.HasPrefix(c.Namespace, "/") {
		c.Namespace = "/" + c.Namespace
	}
	if !strings.HasSuffix(c.Namespace, "/") {
		c.Namespace += "/"
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" || strings.Contains(c.Log.Format, "%(") {
		c.Log.Format = DefaultLogFormat // a Patroni logging format string means plain
	}
	if c.RestAPI.ConnectAddress == "" && singleConnectable(c.RestAPI.Listen) {
		c.RestAPI.ConnectAddress = c.RestAPI.Listen
	}
	p := &c.PostgreSQL
	if p.ConnectAddress == "" && singleConnectable(p.Listen) {
		p.ConnectAddress = p.Listen
	}
	if p.BinDir == "" {
		p.BinDir = DefaultBinDir
	}
	if p.PgCtlTimeout == 0 {
		p.PgCtlTimeout = DefaultPgCtlTimeout
	}
	if p.Authentication.Rewind.Username == "" {
		p.Authentication.Rewind = p.Authentication.Superuser
	}
	if !isSet("tags.failover_priority") {
		c.Tags.FailoverPriority = DefaultFailoverPrio
	}
	if c.Watchdog.Mode == "" {
		c.Watchdog.Mode = DefaultWatchdogMode
	}
	if !isSet("watchdog.safety_margin") {
		c.Watchdog.SafetyMargin = DefaultSafetyMargin
	}
}

func (d *decoder) isSet(key string) bool {
	_, ok := d.origin[key]
	return ok
}

func (d *decoder) validate(c *Config) {
	required := []struct {
		key, val string
	}{
		{"scope", c.Scope},
		{"name", c.Name},
		{"restapi.listen", c.RestAPI.Listen},
		{"raft.data_dir", c.Raft.DataDir},
		{"raft.self_addr", c.Raft.SelfAddr},
		{"postgresql.listen", c.PostgreSQL.Listen},
		{"postgresql.data_dir", c.PostgreSQL.DataDir},
		{"postgresql.authentication.superuser.username", c.PostgreSQL.Authentication.Superuser.Username},
		{"postgresql.authentication.replication.username", c.PostgreSQL.Authentication.Replication.Username},
	}
	for _, r := range required {
		if strings.TrimSpace(r.val) == "" {
			d.errs = append(d.errs, fmt.Errorf("%s: missing required key %q", d.where(r.key), r.key))
		}
	}
	if c.Name != "" {
		switch {
		case strings.Contains(c.Name, "/"):
			d.errorf("name", "must not contain '/', got %q", c.Name)
		case strings.IndexFunc(c.Name, unicode.IsSpace) >= 0:
			d.errorf("name", "must not contain whitespace, got %q", c.Name)
		case len(c.Name) > maxMemberNameLength:
			d.errorf("name", "must be at most %d characters (it becomes application_name), got %d", maxMemberNameLength, len(c.Name))
		}
	}
	if strings.Contains(c.Scope, "/") || strings.IndexFunc(c.Scope, unicode.IsSpace) >= 0 {
		d.errorf("scope", "must not contain '/' or whitespace, got %q", c.Scope)
	}
	d.validateLog(c)
	d.validateAddrs(c)
	d.validatePostgreSQL(&c.PostgreSQL)
	d.validateDCS(c.Bootstrap.DCS)
	switch m := strings.ToLower(c.Watchdog.Mode); m {
	case "off", "automatic", "required":
		c.Watchdog.Mode = m
	default:
		d.errorf("watchdog.mode", "must be off, automatic or required, got %q", c.Watchdog.Mode)
	}
}

func (d *decoder) validateLog(c *Config) {
	lvl := strings.ToUpper(c.Log.Level)
	if lvl == "WARN" {
		lvl = "WARNING"
	}
	if contains(logLevels, lvl) {
		c.Log.Level = lvl
	} else {
		d.errorf("log.level", "must be one of %s, got %q", strings.Join(logLevels, ", "), c.Log.Level)
	}
	f := strings.ToLower(c.Log.Format)
	if f == "plain" || f == "json" {
		c.Log.Format = f
	} else {
		key := "log.format"
		if d.isSet("log.type") && !d.isSet("log.format") {
			key = "log.type"
		}
		d.errorf(key, "must be plain or json, got %q", c.Log.Format)
	}
}

func (d *decoder) validatePostgreSQL(p *PostgreSQL) {
	for i, m := range p.CreateReplicaMethods {
		if m != "basebackup" {
			d.errorf(fmt.Sprintf("postgresql.create_replica_methods[%d]", i), "replica method %q is not supported; only basebackup is", m)
		}
	}
}

// validateDCS checks bootstrap.dcs with fsm's rules and points each problem
// at its line.
func (d *decoder) validateDCS(dcs map[string]any) {
	err := fsm.ValidateDynamicConfig(dcs)
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var de *fsm.DynamicConfigError
		if !errors.As(e, &de) {
			d.errorf("bootstrap.dcs", "%v", e)
			continue
		}
		key := "bootstrap.dcs." + de.Key
		if de.Unknown {
			msg := fmt.Sprintf("%s: unknown key %q", d.where(key), key)
			if de.Suggestion != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", de.Suggestion)
			}
			d.errs = append(d.errs, errors.New(msg))
			continue
		}
		d.errorf(key, "%s", de.Problem)
	}
}

type bind struct {
	key, host string
	port      int
}

func (d *decoder) validateAddrs(c *Config) {
	var binds []bind
	if c.RestAPI.Listen != "" {
		if h, p, err := splitAddr(c.RestAPI.Listen, false); err != nil {
			d.errorf("restapi.listen", "%v", err)
		} else {
			binds = append(binds, bind{"restapi.listen", h, p})
		}
	}
	d.connectAddr("restapi.connect_address", "restapi.listen", c.RestAPI.ConnectAddress, c.RestAPI.Listen)
	if c.Raft.SelfAddr != "" {
		if h, p, err := splitAddr(c.Raft.SelfAddr, true); err != nil {
			d.errorf("raft.self_addr", "%v", err)
		} else if c.Raft.BindAddr == "" {
			binds = append(binds, bind{"raft.self_addr", h, p})
		}
	}
	if c.Raft.BindAddr != "" {
		if h, p, err := splitAddr(c.Raft.BindAddr, false); err != nil {
			d.errorf("raft.bind_addr", "%v", err)
		} else {
			binds = append(binds, bind{"raft.bind_addr", h, p})
		}
	}
	seen := map[string]int{}
	for i, a := range c.Raft.PartnerAddrs {
		key := fmt.Sprintf("raft.partner_addrs[%d]", i)
		if _, _, err := splitAddr(a, true); err != nil {
			d.errorf(key, "%v", err)
			continue
		}
		if a == c.Raft.SelfAddr {
			d.errorf(key, "%q is raft.self_addr; list only the other members", a)
			continue
		}
		if j, dup := seen[a]; dup {
			d.errorf(key, "%q is listed twice (also at raft.partner_addrs[%d])", a, j)
			continue
		}
		seen[a] = i
	}
	if c.PostgreSQL.Listen != "" {
		if hosts, p, ok := splitListen(c.PostgreSQL.Listen); !ok {
			d.errorf("postgresql.listen", "must be host:port or host1,host2:port with port 1-65535, got %q", c.PostgreSQL.Listen)
		} else {
			for _, h := range hosts {
				binds = append(binds, bind{"postgresql.listen", h, p})
			}
		}
	}
	d.connectAddr("postgresql.connect_address", "postgresql.listen", c.PostgreSQL.ConnectAddress, c.PostgreSQL.Listen)
	reported := map[string]bool{}
	for i := range binds {
		for j := i + 1; j < len(binds); j++ {
			a, b := binds[i], binds[j]
			if a.key == b.key || a.port != b.port || !sameHost(a.host, b.host) || reported[a.key+b.key] {
				continue
			}
			reported[a.key+b.key] = true
			d.errorf(b.key, "port %d is also used by %s on the same host; give each listener its own port", b.port, a.key)
		}
	}
}

// connectAddr checks an advertised address, or explains why the listen
// address could not be used as its default.
func (d *decoder) connectAddr(key, listenKey, addr, listen string) {
	if addr == "" {
		if listen != "" {
			d.errorf(key, "not set and %s %q is not one address other members can reach; set it to host:port", listenKey, listen)
		}
		return
	}
	if _, _, err := splitAddr(addr, true); err != nil {
		d.errorf(key, "%v", err)
	}
}

// splitAddr parses host:port. Advertised addresses need a concrete host.
func splitAddr(addr string, advertised bool) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("must be host:port, got %q", addr)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port must be 1-65535, got %q", addr)
	}
	if advertised && isWildcard(host) {
		return "", 0, fmt.Errorf("must name a host other members can reach, not %q", addr)
	}
	return host, port, nil
}

// splitListen parses postgresql.listen: "host:port" or "h1,h2:port".
func splitListen(listen string) ([]string, int, bool) {
	i := strings.LastIndex(listen, ":")
	if i < 0 {
		return nil, 0, false
	}
	port, err := strconv.Atoi(listen[i+1:])
	if err != nil || port < 1 || port > 65535 {
		return nil, 0, false
	}
	var hosts []string
	for _, h := range strings.Split(listen[:i], ",") {
		h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]")
		if h == "" {
			return nil, 0, false
		}
		hosts = append(hosts, h)
	}
	return hosts, port, true
}

// singleConnectable reports whether a listen address can double as the
// advertised address: one concrete host and a port.
func singleConnectable(listen string) bool {
	hosts, _, ok := splitListen(listen)
	return ok && len(hosts) == 1 && !isWildcard(hosts[0])
}

func isWildcard(h string) bool {
	return h == "" || h == "*" || h == "0.0.0.0" || h == "::" || h == "[::]"
}

func sameHost(a, b string) bool {
	norm := func(h string) string {
		if h == "localhost" {
			return "127.0.0.1"
		}
		return h
	}
	return isWildcard(a) || isWildcard(b) || norm(a) == norm(b)
}
