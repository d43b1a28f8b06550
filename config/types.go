package config

import "fmt"

// Defaults applied by Parse and Load for keys the file and environment leave unset.
const (
	DefaultNamespace    = "/service/"
	DefaultBinDir       = "/usr/lib/postgresql/15/bin"
	DefaultPgCtlTimeout = 60 // seconds
	DefaultLogLevel     = "INFO"
	DefaultLogFormat    = "plain"
	DefaultWatchdogMode = "off" // accepted for compatibility; Conclave's process watchdog (package watchdog) always runs
	DefaultSafetyMargin = 5     // seconds, as Patroni
	DefaultFailoverPrio = 1     // as Patroni
	maxConfigFileBytes  = 1 << 20
	maxMemberNameLength = 63
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
}

// Log is the log: section. Level uses Patroni's names (DEBUG, INFO, WARNING,
// ERROR, CRITICAL), stored upper case. Format is plain or json (Conclave's
// extension; Patroni 4's log.type: json is accepted too, and a Patroni
// logging format string such as "%(asctime)s %(message)s" means plain).
type Log struct {
	Level, Format, Dir string
}

// Credentials is a username/password pair.
type Credentials struct {
	Username, Password string
}

// RestAPI is the restapi: section.
type RestAPI struct {
	Listen, ConnectAddress string
	Authentication         Credentials // optional basic auth for unsafe endpoints
}

// Raft is the raft: section (Patroni's raft DCS keys).
type Raft struct {
	DataDir      string
	SelfAddr     string   // advertised address of this Raft peer
	PartnerAddrs []string // the other peers
	BindAddr     string   // optional listen address, default SelfAddr
	Password     string   // stored; transport encryption is not implemented
}

// Bootstrap is the bootstrap: section.
type Bootstrap struct {
	DCS           map[string]any // dynamic configuration as written; see Config.Dynamic
	Initdb        []InitdbOption
	PgHBA         []string
	Users         map[string]User
	Method        string         // custom bootstrap method name, "" = initdb
	MethodConfig  map[string]any // the bootstrap.<method> section, stored untyped
	PostBootstrap string         // post_bootstrap or its older name post_init
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
	UsePgRewind                                                *bool             // nil = use the dynamic configuration
	CreateReplicaMethods                                       []string
	Basebackup                                                 any // list or map, as Patroni
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
