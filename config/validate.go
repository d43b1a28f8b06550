package config

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/logfile"
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
	if f := strings.ToLower(c.Log.Format); f == "plain" || f == "json" {
		// log.format: plain|json is the older spelling of log.type.
		if c.Log.Type == "" {
			c.Log.Type = f
		}
		c.Log.Format = ""
	}
	if c.Log.Type == "" {
		c.Log.Type = DefaultLogFormat
	}
	if c.Log.TracebackLevel == "" {
		c.Log.TracebackLevel = DefaultTracebackLevel
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
		if c.Witness && strings.HasPrefix(r.key, "postgresql.") {
			continue // a witness runs no PostgreSQL
		}
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
		case strings.IndexFunc(c.Name, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0:
			// PostgreSQL rewrites any other character of application_name
			// ('?' up to 15, \xNN from 16): pg_stat_replication and
			// synchronous_standby_names would never match the member.
			d.errorf("name", "must be printable ASCII (it becomes application_name, which PostgreSQL rewrites otherwise); a member renamed joins as a new one, got %q", c.Name)
		case len(c.Name) > maxMemberNameLength:
			d.errorf("name", "must be at most %d characters (it becomes application_name), got %d", maxMemberNameLength, len(c.Name))
		}
	}
	if strings.Contains(c.Scope, "/") || strings.IndexFunc(c.Scope, unicode.IsSpace) >= 0 {
		d.errorf("scope", "must not contain '/' or whitespace, got %q", c.Scope)
	}
	d.validateLog(c)
	d.validateSecurity(c)
	d.validateAddrs(c)
	d.validatePostgreSQL(&c.PostgreSQL)
	d.validateBackup(c)
	d.validateBootstrapMethod(c)
	d.validateDCS(c.Bootstrap.DCS)
	d.validateVIP(c)
	switch m := strings.ToLower(c.Watchdog.Mode); m {
	case "off", "automatic", "required":
		c.Watchdog.Mode = m
	default:
		d.errorf("watchdog.mode", "must be off, automatic or required, got %q", c.Watchdog.Mode)
	}
}

func (d *decoder) validateLog(c *Config) {
	d.logLevel("log.level", &c.Log.Level)
	d.logLevel("log.traceback_level", &c.Log.TracebackLevel)
	if f := strings.ToLower(c.Log.Type); f == "plain" || f == "json" {
		c.Log.Type = f
	} else {
		d.errorf("log.type", "must be plain or json, got %q", c.Log.Type)
	}
	if c.Log.Format != "" {
		if _, err := logfile.ParseFormat(c.Log.Format); err != nil {
			d.errorf("log.format", "%v (a Python logging format such as \"%%(asctime)s %%(levelname)s: %%(message)s\", or plain or json)", err)
		}
	}
	if d.isSet("log.dateformat") || c.Log.DateFormat != "" {
		if _, err := logfile.ParseDateFormat(c.Log.DateFormat); err != nil {
			d.errorf("log.dateformat", "%v", err)
		}
	}
	names := make([]string, 0, len(c.Log.Loggers))
	for name := range c.Log.Loggers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key := "log.loggers." + name
		lvl := c.Log.Loggers[name]
		d.logLevel(key, &lvl)
		c.Log.Loggers[name] = lvl
		if !logfile.IsModule(name) {
			// Patroni's files name Python loggers (urllib3, patroni.postmaster):
			// accepted, and said to do nothing here.
			d.unused = append(d.unused, Unused{Key: key, Where: d.where(key),
				Why: "no module of that name; modules: " + strings.Join(logfile.Modules, ", ")})
		}
	}
}

// logLevel checks one of Patroni's level names and stores it upper case.
func (d *decoder) logLevel(key string, lvl *string) {
	l := strings.ToUpper(*lvl)
	if l == "WARN" {
		l = "WARNING"
	}
	if contains(logLevels, l) {
		*lvl = l
	} else {
		d.errorf(key, "must be one of %s, got %q", strings.Join(logLevels, ", "), *lvl)
	}
}

func (d *decoder) validatePostgreSQL(p *PostgreSQL) {
	d.validateReplicaMethods(p)
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
