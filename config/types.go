package config

import "fmt"

// Defaults applied by Parse and Load for keys the file and environment leave unset.
const (
	DefaultNamespace      = "/service/"
	DefaultBinDir         = "/usr/lib/postgresql/15/bin"
	DefaultPgCtlTimeout   = 60 // seconds
	DefaultLogLevel       = "INFO"
	DefaultLogFormat      = "plain"
	DefaultTracebackLevel = "ERROR"
	DefaultWatchdogMode   = "off" // accepted for compatibility; Conclave's process watchdog (package watchdog) always runs
	DefaultSafetyMargin   = 5     // seconds, as Patroni
	DefaultFailoverPrio   = 1     // as Patroni
	maxConfigFileBytes    = 1 << 20
	maxMemberNameLength   = 63
)

// Config is the agent's configuration file (patroni.yml key names).
type Config struct {
	Path                   string // file it was loaded from (not a YAML key)
	Scope, Namespace, Name string
	Log                    Log
	RestAPI                RestAPI
	Raft                   Raft
	Bootstrap              Bootstrap
	PostgreSQL             PostgreSQL
	Tags                   Tags
	Watchdog               Watchdog
	Unused                 []Unused // keys set in the file that are accepted but not acted on (notacted.go)
	VIP                    VIP      // vip: the floating IP (config/vip.go)
	Ctl                    Ctl      // the ctl: section, for the CLI (security.go)
	// Witness: the file has no postgresql: section, so the node runs a Raft
	// voter without PostgreSQL (`conclave witness`; not a YAML key).
	Witness bool
	Backup  Backup // backup: the backup tool (backup.go)
	// origin maps each key set in the file to "file:line" (or the
	// environment variable that set it), for CheckEnvironment's messages.
	origin map[string]string
}

// Log is the log: section. Level and TracebackLevel use Patroni's names
// (DEBUG, INFO, WARNING, ERROR, CRITICAL), stored upper case. Type is plain
// or json (Patroni 4's log.type; log.format: plain|json, this project's
// older spelling, sets it too). Format is Patroni's Python logging format
// string for plain lines ("" = hclog's own layout).
type Log struct {
	Level, Type, Format, Dir string
	// TracebackLevel is the level at which stack traces are logged
	// (Patroni's log.traceback_level, default ERROR).
	TracebackLevel string
	// FileSize and FileNum rotate the file in Dir (Patroni's keys): a
	// file over FileSize bytes is renamed, FileNum old files are kept.
	FileSize, FileNum int
	// DateFormat is Patroni's log.dateformat, a strftime format for the
	// date of plain lines and of %(asctime)s ("" = the usual layout).
	DateFormat string
	// Loggers is Patroni's log.loggers: a level (stored upper case) per
	// module of logfile.Modules; other names are reported as not acted on.
	Loggers map[string]string
}

// Credentials is a username/password pair.
type Credentials struct {
	Username, Password string
}

// RestAPI is the restapi: section.
type RestAPI struct {
	Listen, ConnectAddress  string
	Authentication          Credentials // optional basic auth for unsafe endpoints
	TLS                     TLSFiles    // certfile, keyfile, keyfile_password, cafile (security.go)
	VerifyClient            string      // none (default), optional or required
	Allowlist               []string    // IPs, CIDRs or host names allowed to send unsafe requests
	AllowlistIncludeMembers bool        // the members' hosts are added to Allowlist
	// HTTPExtraHeaders go on every answer; HTTPSExtraHeaders too when the
	// API serves TLS (Patroni's http_extra_headers, https_extra_headers).
	HTTPExtraHeaders, HTTPSExtraHeaders map[string]string
}

// Raft is the raft: section (Patroni's raft DCS keys).
type Raft struct {
	DataDir      string
	SelfAddr     string   // advertised address of this Raft peer
	PartnerAddrs []string // the other peers
	BindAddr     string   // optional listen address, default SelfAddr
	Password     string   // join secret: authenticates every connection to the Raft port (HMAC, never sent)
	TLS          TLSFiles // certfile, keyfile, keyfile_password, cafile: mutual TLS on the Raft port
}

// Bootstrap is the bootstrap: section.
type Bootstrap struct {
	DCS           map[string]any // dynamic configuration as written; see Config.Dynamic
	Initdb        []InitdbOption
	PgHBA         []string
	Users         map[string]User
	Method        string           // custom bootstrap method name, "" = initdb
	MethodConfig  map[string]any   // the bootstrap.<method> section as written
	CustomMethod  *BootstrapMethod // MethodConfig typed when Custom() (backup.go)
	PostBootstrap string           // post_bootstrap or its older name post_init
}

// InitdbOption is one bootstrap.initdb item: "- data-checksums" gives
// {Key: "data-checksums"}, "- encoding: UTF8" gives {Key: "encoding", Value: "UTF8"}.
type InitdbOption struct {
	Key, Value string
}

// Flag renders the option for initdb: "--data-checksums", "--encoding=UTF8".
func (o InitdbOption) Flag() string {
	if o.Value == "" {
		return "--" + o.Key
	}
	return fmt.Sprintf("--%s=%s", o.Key, o.Value)
}

// User is a bootstrap.users entry. Options are lower case role options.
type User struct {
	Password string
	Options  []string
}

// Authentication is postgresql.authentication. Rewind defaults to Superuser.
type Authentication struct {
	Superuser, Replication, Rewind Credentials
}

// PostgreSQL is the postgresql: section.
type PostgreSQL struct {
	Listen, ConnectAddress, DataDir, BinDir, ConfigDir, Pgpass string
	Authentication                                             Authentication
	Parameters                                                 map[string]any
	PgHBA                                                      []string
	Callbacks                                                  map[string]string // on_start, on_stop, on_restart, on_reload, on_role_change
	PrePromote, BeforeStop                                     string            // scripts run before a promotion (may veto it) and before a stop
	UsePgRewind                                                *bool             // nil = use the dynamic configuration
	CreateReplicaMethods                                       []string
	MethodSections                                             map[string]map[string]any // postgresql.<method> sections as written
	ReplicaMethods                                             []ReplicaMethod           // create_replica_methods typed, in order (backup.go)
	Basebackup                                                 any                       // list or map, as Patroni
	RemoveDataDirectoryOnRewindFailure                         bool
	RemoveDataDirectoryOnDivergedTimelines                     bool
	PgCtlTimeout                                               int // seconds
	UseUnixSocket                                              bool
}

// ListenHosts returns the hosts of postgresql.listen, which may be Patroni's
// "host1,host2:port" form. Brackets around IPv6 hosts are removed.
func (p PostgreSQL) ListenHosts() []string {
	hosts, _, ok := splitListen(p.Listen)
	if !ok {
		return nil
	}
	return hosts
}

// ListenPort returns the port of postgresql.listen, or 0 if it has none.
func (p PostgreSQL) ListenPort() int {
	_, port, ok := splitListen(p.Listen)
	if !ok {
		return 0
	}
	return port
}

// Tags is the tags: section.
type Tags struct {
	NoFailover, NoLoadBalance, CloneFrom, NoSync, NoStream bool
	FailoverPriority                                       int // default 1
	ReplicateFrom                                          string
}

// Watchdog is the watchdog: section, accepted and stored only.
type Watchdog struct {
	Mode         string // off, automatic or required
	Device       string
	SafetyMargin int // seconds
}
