package pgctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Sentinel errors. Callers branch on them with errors.Is; pgctl always
// returns them wrapped with the operation and data directory.
var (
	// ErrAlreadyRunning: a live postmaster owns the data directory, so the
	// operation (Start, Rewind) would be unsafe.
	ErrAlreadyRunning = errors.New("postgres is already running")
	// ErrNotRunning: the operation (Reload, Promote) needs a running postmaster.
	ErrNotRunning = errors.New("postgres is not running")
	// ErrNotEmpty: initdb or pg_basebackup target holds data; pgctl never
	// overwrites a data directory.
	ErrNotEmpty = errors.New("data directory is not empty")
	// ErrSourceUnreachable: pg_rewind could not connect to its source, or
	// lost it while it ran. In the first case the target was not touched;
	// in the second it is partly rewritten and must be rewound again (or
	// cloned anew) before it starts. Either way it is no verdict on the
	// target: rewinding it again later is right.
	ErrSourceUnreachable = errors.New("rewind source unreachable")
)

// DefaultBinDir is where Debian/Ubuntu install PostgreSQL 15.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// Credentials are a PostgreSQL role name and its password.
type Credentials struct {
	Username string
	Password string
}

// Config describes one local PostgreSQL instance. Zero fields take the
// defaults documented on each field (see withDefaults).
type Config struct {
	Name    string // member name: application_name, and via SlotName the slot name; required
	DataDir string // required, absolute
	BinDir  string // default DefaultBinDir

	ListenHosts []string // listen_addresses; empty: no TCP listener
	Port        int      // default 5432
	ConnectHost string   // TCP host for our own SQL when SocketDir is ""; default first concrete ListenHosts entry, else 127.0.0.1
	ConnectPort int      // default Port
	// SocketDir is unix_socket_directories' first entry; "" means no unix
	// socket. A relative path is relative to DataDir, as PostgreSQL does.
	// When set, pgctl's own SQL connections use it.
	SocketDir string

	Superuser   Credentials // Username default "postgres"
	Replication Credentials // role for pg_basebackup and streaming; Username default "replicator"
	Rewind      Credentials // role for pg_rewind; Username default Superuser's

	PgpassPath   string        // pgpass file written before pg_basebackup/pg_rewind; default <dir of DataDir>/pgpass-<Name>
	LogFile      string        // pg_ctl -l target; default <dir of DataDir>/postgresql-<Name>.log
	StartTimeout time.Duration // pg_ctl start/promote wait; default 60s

	// Env is added to the environment of the postmaster (pg_ctl start) and
	// of the replica and bootstrap method commands: archive_command and
	// restore_command inherit it (e.g. PGBACKREST_PG1_PATH).
	Env []string

	Runner Runner       // default ExecRunner
	Logger hclog.Logger // default hclog.NewNullLogger()
}

func (c Config) withDefaults() Config {
	if c.BinDir == "" {
		c.BinDir = DefaultBinDir
	}
	if c.Port == 0 {
		c.Port = 5432
	}
	if c.ConnectPort == 0 {
		c.ConnectPort = c.Port
	}
	if c.ConnectHost == "" {
		c.ConnectHost = "127.0.0.1"
		for _, h := range c.ListenHosts {
			if h != "*" && h != "0.0.0.0" && h != "::" && h != "" {
				c.ConnectHost = h
				break
			}
		}
	}
	if c.Superuser.Username == "" {
		c.Superuser.Username = "postgres"
	}
	if c.Replication.Username == "" {
		c.Replication.Username = "replicator"
	}
	if c.Rewind.Username == "" {
		c.Rewind = c.Superuser
	}
	if c.PgpassPath == "" {
		c.PgpassPath = filepath.Join(filepath.Dir(c.DataDir), "pgpass-"+c.Name)
	}
	if c.LogFile == "" {
		c.LogFile = filepath.Join(filepath.Dir(c.DataDir), "postgresql-"+c.Name+".log")
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Runner == nil {
		c.Runner = ExecRunner{Logger: c.Logger.Named("exec")}
	}
	return c
}

// Instance drives one local PostgreSQL instance. It decides nothing: it runs
// the binaries and queries it is asked to. Methods are safe for concurrent
// use, but lifecycle calls should be serialised by the caller.
type Instance struct {
	cfg    Config
	logger hclog.Logger

	mu   sync.Mutex // guards conn and serialises SQL on it
	conn sqlConn
	dial func(ctx context.Context) (sqlConn, error) // replaced in tests
}

// New checks cfg and returns an Instance. It touches no files.
func New(cfg Config) (*Instance, error) {
	cfg = cfg.withDefaults()
	if cfg.Name == "" {
		return nil, errors.New("pgctl config: name is required")
	}
	if cfg.DataDir == "" || !filepath.IsAbs(cfg.DataDir) {
		return nil, fmt.Errorf("pgctl config: data_dir must be an absolute path, got %q", cfg.DataDir)
	}
	cfg.DataDir = filepath.Clean(cfg.DataDir)
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("pgctl config: port %d out of range", cfg.Port)
	}
	i := &Instance{cfg: cfg, logger: cfg.Logger.Named("pgctl")}
	i.dial = i.dialPgx
	return i, nil
}

// Config returns the effective configuration, defaults applied.
func (i *Instance) Config() Config { return i.cfg }

// DataDirState classifies a data directory without a running server.
type DataDirState int

const (
	DataDirMissing DataDirState = iota // does not exist
	DataDirEmpty                       // exists, has no entries
	DataDirValid                       // has PG_VERSION and global/pg_control
	DataDirInvalid                     // has entries but is not a PostgreSQL data directory
)

func (s DataDirState) String() string {
	switch s {
	case DataDirMissing:
		return "missing"
	case DataDirEmpty:
		return "empty"
	case DataDirValid:
		return "valid"
	case DataDirInvalid:
		return "invalid"
	}
	return "unknown"
}

// DataDirState reports what DataDir holds.
func (i *Instance) DataDirState() (DataDirState, error) {
	return dataDirState(i.cfg.DataDir)
}

func dataDirState(dir string) (DataDirState, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return DataDirMissing, nil
	}
	if err != nil {
		return 0, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("data dir %s: not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if len(ents) == 0 {
		return DataDirEmpty, nil
	}
	for _, f := range []string{"PG_VERSION", filepath.Join("global", "pg_control")} {
		_, err := os.Stat(filepath.Join(dir, f))
		switch {
		case errors.Is(err, os.ErrNotExist):
			return DataDirInvalid, nil
		case err != nil:
			// Unreadable (permissions, I/O) is not "no cluster": the
			// directory may hold the cluster's data (ha: data_unknown).
			return 0, fmt.Errorf("data dir %s: %w", dir, err)
		}
	}
	return DataDirValid, nil
}

// PostmasterPID reads the first line of DataDir/postmaster.pid. alive is
// true only when that process exists, is not a zombie and (when it can be
// checked) runs in DataDir; a stale file after a crash gives alive false.
// pid is 0 when there is no readable pid file.
func (i *Instance) PostmasterPID() (pid int, alive bool) {
	pid, why := LivePostmaster(i.cfg.DataDir)
	if why == "" {
		return pid, true
	}
	return pid, false
}

// LivePostmaster returns the postmaster that owns dataDir and "" when it is
// alive; otherwise why not (pid is still the one the file names, or 0 when
// there is no readable pid file). It is shared with the watchdog process.
func LivePostmaster(dataDir string) (pid int, why string) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err.Error()
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err = strconv.Atoi(strings.TrimSpace(first))
	if pid < 0 {
		pid = -pid // a single-user backend writes its pid negated
	}
	if err != nil || pid <= 1 {
		return 0, fmt.Sprintf("postmaster.pid first line %q is not a pid", first)
	}
	return pid, processGone(pid, dataDir)
}

// processGone returns "" when pid is a live process running in dataDir,
// otherwise why not.
func processGone(pid int, dataDir string) string {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return fmt.Sprintf("pid %d is not running (stale postmaster.pid)", pid)
	}
	// A zombie answers kill(pid, 0) but is dead (possible when nobody reaps
	// the detached postmaster).
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if s := string(st); strings.LastIndex(s, ")") > 0 {
			fields := strings.Fields(s[strings.LastIndex(s, ")")+1:])
			if len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X") {
				return fmt.Sprintf("pid %d is a zombie", pid)
			}
		}
	}
	// A recycled pid belonging to an unrelated process: the postmaster's
	// working directory is its data directory. When this cannot be checked
	// the pid is trusted.
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil {
		want, err := filepath.EvalSymlinks(dataDir)
		if err == nil && filepath.Clean(strings.TrimSuffix(cwd, " (deleted)")) != want {
			return fmt.Sprintf("pid %d runs in %s, not in the data directory (recycled pid)", pid, cwd)
		}
	}
	return ""
}

// HasStandbySignal reports whether DataDir/standby.signal exists.
func (i *Instance) HasStandbySignal() bool {
	_, err := os.Stat(filepath.Join(i.cfg.DataDir, "standby.signal"))
	return err == nil
}

func (i *Instance) bin(name string) string { return filepath.Join(i.cfg.BinDir, name) }

// socketDir returns the absolute unix socket directory, or "".
func (i *Instance) socketDir() string {
	d := i.cfg.SocketDir
	if d == "" || filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(i.cfg.DataDir, d)
}
