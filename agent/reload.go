package agent

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/ha"
)

// reload re-reads the configuration file (SIGHUP, POST /reload) and applies
// every key that can change while the agent runs: postgresql.parameters and
// pg_hba (written and reloaded by the adapter), tags and
// postgresql.use_pg_rewind (the HA loop, from its next turn). The keys that
// need an agent restart keep their running values and are named in one log
// line. An invalid file changes nothing.
func (a *Agent) reload(source string) error {
	next, err := config.Load(a.cfg.Path)
	if err != nil {
		a.log.Error(source+": configuration not reloaded; keeping the running one", "error", err)
		return fmt.Errorf("configuration not reloaded: %w", err)
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	prev := a.running()
	a.pg.SetLocalConfig(next)
	a.reloadCallbacks(next)
	a.loop.SetLocal(ha.Local{Tags: loopTags(next), MemberTags: memberTags(next.Tags), UsePgRewind: next.PostgreSQL.UsePgRewind})
	a.localFile.Store(next)
	if keys := restartKeys(prev, next); len(keys) > 0 {
		a.log.Warn(source+": configuration reloaded; these keys keep their running values until the agent restarts: "+strings.Join(keys, ", "),
			"file", next.Path)
	} else {
		a.log.Info(source+": configuration reloaded", "file", next.Path)
	}
	return nil
}

// running is the configuration file in effect (the last one reloaded).
func (a *Agent) running() *config.Config {
	if c := a.localFile.Load(); c != nil {
		return c
	}
	return a.cfg
}

// loopTags are the loop's local facts from the file: tags, and whether a
// replica method may run without a leader (no_leader).
func loopTags(c *config.Config) ha.Tags {
	t := c.Tags
	tags := ha.Tags{NoFailover: t.NoFailover, NoSync: t.NoSync, FailoverPriority: t.FailoverPriority}
	for _, m := range c.PostgreSQL.ReplicaMethods {
		tags.CloneWithoutLeader = tags.CloneWithoutLeader || m.NoLeader
	}
	return tags
}

// restartKeys names the changed keys that only an agent restart applies:
// the node's identity, its Raft peer, the REST API's listener and
// credentials, how the agent reaches PostgreSQL, log and watchdog settings.
// bootstrap.* is used only when the cluster is created and is not listed.
func restartKeys(prev, next *config.Config) []string {
	var keys []string
	diff := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			keys = append(keys, name)
		}
	}
	diff("scope", prev.Scope, next.Scope)
	diff("namespace", prev.Namespace, next.Namespace)
	diff("name", prev.Name, next.Name)
	diff("log", prev.Log, next.Log)
	diff("restapi", prev.RestAPI, next.RestAPI)
	diff("raft", prev.Raft, next.Raft)
	diff("watchdog", prev.Watchdog, next.Watchdog)
	diff("vip", prev.VIP, next.VIP)
	// PostgreSQL's environment (PGBACKREST_CONFIG for archive_command) is
	// set when the agent starts; its own pgbackrest calls use the new file.
	diff("backup.config", prev.Backup.Config, next.Backup.Config)
	p, n := prev.PostgreSQL, next.PostgreSQL
	diff("postgresql.listen", p.Listen, n.Listen)
	diff("postgresql.connect_address", p.ConnectAddress, n.ConnectAddress)
	diff("postgresql.data_dir", p.DataDir, n.DataDir)
	diff("postgresql.bin_dir", p.BinDir, n.BinDir)
	diff("postgresql.config_dir", p.ConfigDir, n.ConfigDir)
	diff("postgresql.pgpass", p.Pgpass, n.Pgpass)
	diff("postgresql.authentication", p.Authentication, n.Authentication)
	diff("postgresql.pg_ctl_timeout", p.PgCtlTimeout, n.PgCtlTimeout)
	diff("postgresql.use_unix_socket", p.UseUnixSocket, n.UseUnixSocket)
	if socketDir(p) != socketDir(n) {
		keys = append(keys, "postgresql.parameters.unix_socket_directories")
	}
	sort.Strings(keys)
	return keys
}

func socketDir(p config.PostgreSQL) string {
	s, _ := p.Parameters["unix_socket_directories"].(string)
	return s
}
