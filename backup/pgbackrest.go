package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Runner runs a program; pgctl.ExecRunner implements it.
type Runner interface {
	Run(ctx context.Context, env []string, name string, args ...string) (stdout, stderr []byte, err error)
}

// Node says where the local PostgreSQL is, for pgBackRest's pg1-* options.
type Node struct {
	DataDir    string
	Port       int
	SocketDir  string // unix socket directory; "" = pgBackRest's default
	User       string // database superuser; "" = pgBackRest's default (postgres)
	ConfigFile string // pgbackrest.conf; "" = pgBackRest's default
}

// Env is the environment that points pgBackRest at this node
// (PGBACKREST_PG1_PATH and friends). The agent gives it to PostgreSQL too,
// so a cluster-wide archive_command or restore_command such as
// "pgbackrest --stanza=main archive-push %p" finds the local data
// directory on every member without a per-node pgbackrest.conf.
func (n Node) Env() []string {
	var env []string
	add := func(k, v string) {
		if v != "" {
			env = append(env, "PGBACKREST_"+k+"="+v)
		}
	}
	add("PG1_PATH", n.DataDir)
	if n.Port != 0 {
		add("PG1_PORT", strconv.Itoa(n.Port))
	}
	add("PG1_SOCKET_PATH", n.SocketDir)
	add("PG1_USER", n.User)
	add("CONFIG", n.ConfigFile)
	return env
}

// PgBackRest runs pgBackRest for one stanza on one node.
type PgBackRest struct {
	Command string // program; default "pgbackrest"
	Stanza  string
	Node    Node
	Runner  Runner
	Logger  hclog.Logger
}

// ErrRepoUnreachable: pgBackRest could not reach or use the repository.
var ErrRepoUnreachable = errors.New("backup repository unreachable")

func (p PgBackRest) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := p.Command
	if cmd == "" {
		cmd = "pgbackrest"
	}
	argv := append([]string{"--stanza=" + p.Stanza}, args...)
	out, stderr, err := p.Runner.Run(ctx, p.Node.Env(), cmd, argv...)
	if err != nil {
		verb := args[len(args)-1]
		for _, a := range args {
			if !strings.HasPrefix(a, "--") {
				verb = a
				break
			}
		}
		msg := strings.TrimSpace(string(out) + "\n" + string(stderr))
		if repoProblem(msg + err.Error()) {
			return out, fmt.Errorf("pgbackrest %s (stanza %s): %w: %w", verb, p.Stanza, ErrRepoUnreachable, err)
		}
		return out, fmt.Errorf("pgbackrest %s (stanza %s): %w: %s", verb, p.Stanza, err, lastLines(msg, 20))
	}
	return out, nil
}

// lastLines is the last n non-empty lines of s joined by " | ": pgBackRest's
// error and hints, on one line.
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// repoProblem tells a repository that cannot be reached or written from
// other failures, from pgBackRest's messages.
func repoProblem(s string) bool {
	for _, m := range []string{"unable to create path", "unable to open", "Permission denied", "No such file or directory",
		"unable to list file info", "repo1-path", "unable to get info for path", "unable to write"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// StanzaCreate creates the stanza (idempotent in pgBackRest: an existing
// stanza for the same database is accepted).
func (p PgBackRest) StanzaCreate(ctx context.Context) error {
	_, err := p.run(ctx, "stanza-create")
	return err
}

// Check runs pgbackrest check: the repository is reachable and the
// archive_command works (on a primary it forces a WAL switch and waits for
// the segment to reach the repository).
func (p PgBackRest) Check(ctx context.Context) error {
	_, err := p.run(ctx, "check")
	return err
}

// Info is one backup of the repository, as `pgbackrest info` shows it.
type Info struct {
	Label     string    `json:"label"`
	Type      string    `json:"type"` // full, diff, incr
	Start     time.Time `json:"start"`
	Stop      time.Time `json:"stop"`
	WALStart  string    `json:"wal_start"`
	WALStop   string    `json:"wal_stop"`
	SizeBytes int64     `json:"size_bytes"` // database size
	RepoBytes int64     `json:"repo_bytes"` // size in the repository
}

// infoJSON is the part of `pgbackrest info --output=json` we read.
type infoJSON []struct {
	Name   string `json:"name"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Backup []struct {
		Label   string `json:"label"`
		Type    string `json:"type"`
		Archive struct {
			Start string `json:"start"`
			Stop  string `json:"stop"`
		} `json:"archive"`
		Info struct {
			Size       int64 `json:"size"`
			Repository struct {
				Size int64 `json:"size"`
			} `json:"repository"`
		} `json:"info"`
		Timestamp struct {
			Start int64 `json:"start"`
			Stop  int64 `json:"stop"`
		} `json:"timestamp"`
	} `json:"backup"`
}

// List returns the stanza's backups, oldest first.
func (p PgBackRest) List(ctx context.Context) ([]Info, error) {
	out, err := p.run(ctx, "--output=json", "info")
	if err != nil {
		return nil, err
	}
	return parseInfo(out, p.Stanza)
}

func parseInfo(out []byte, stanza string) ([]Info, error) {
	var doc infoJSON
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("pgbackrest info: cannot read its output: %w", err)
	}
	var list []Info
	for _, s := range doc {
		if s.Name != stanza {
			continue
		}
		// code 1: missing stanza path, 2: no valid backups (not an error
		// here: an empty list), others: a problem worth showing.
		if s.Status.Code != 0 && s.Status.Code != 2 {
			return nil, fmt.Errorf("pgbackrest info: stanza %s: %s", stanza, s.Status.Message)
		}
		for _, b := range s.Backup {
			list = append(list, Info{
				Label: b.Label, Type: b.Type,
				Start: time.Unix(b.Timestamp.Start, 0).UTC(), Stop: time.Unix(b.Timestamp.Stop, 0).UTC(),
				WALStart: b.Archive.Start, WALStop: b.Archive.Stop,
				SizeBytes: b.Info.Size, RepoBytes: b.Info.Repository.Size,
			})
		}
	}
	return list, nil
}
