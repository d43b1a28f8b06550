package adapter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/backup"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/pgctl"
)

// backupNode is where pgBackRest finds the local PostgreSQL.
func backupNode(cfg *config.Config) backup.Node {
	pg := cfg.PostgreSQL
	n := backup.Node{DataDir: pg.DataDir, Port: pg.ListenPort(), User: pg.Authentication.Superuser.Username, ConfigFile: cfg.Backup.Config}
	if s, ok := pg.Parameters["unix_socket_directories"].(string); ok && s != "" {
		n.SocketDir = firstListItem(s)
	}
	return n
}

// backupEnv is the environment PostgreSQL and the method commands get:
// pgBackRest's pg1-* options for this node (package backup), so a
// cluster-wide archive_command finds the local data directory.
func backupEnv(cfg *config.Config) []string {
	return backupNode(cfg).Env()
}

// Backup returns the configured backup tool, or false when there is none.
func (p *Postgres) Backup() (backup.PgBackRest, bool) {
	cfg := p.local.Load()
	if !cfg.Backup.Enabled() {
		return backup.PgBackRest{}, false
	}
	return backup.PgBackRest{Command: cfg.Backup.Command, Stanza: cfg.Backup.Stanza, Node: backupNode(cfg),
		Runner: pgctl.ExecRunner{Logger: p.log.Named("pgbackrest")}, Logger: p.log.Named("pgbackrest")}, true
}

// Clone creates the data directory with postgresql.create_replica_methods
// in order (default: basebackup alone), falling back to the next method
// when one fails. Before each method a non-empty data directory (what a
// failed method left) is moved aside, never deleted, unless the method
// has keep_data. from is the running primary; its Host is "" when there is
// none, and then only no_leader methods run.
func (p *Postgres) Clone(ctx context.Context, from fsm.Member) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	cfg := p.local.Load()
	methods := cfg.PostgreSQL.ReplicaMethods
	if len(methods) == 0 {
		methods = []config.ReplicaMethod{{Name: "basebackup"}}
	}
	var errs []error
	for _, m := range methods {
		if from.Host == "" && !m.NoLeader {
			continue
		}
		if !m.KeepData {
			if err := p.moveAsideIfUsed(cfg.PostgreSQL.DataDir, m.Name); err != nil {
				return fmt.Errorf("create replica: %w", err) // nothing runs over a directory we could not move
			}
		}
		err := p.cloneWith(ctx, cfg, m, from)
		if err == nil {
			p.log.Info("replica created", "method", m.Name)
			// A fresh copy: no partly rewound or partly restored files are left.
			if err := p.clearRewindMarker(); err != nil {
				return err
			}
			return p.clearMarker(bootstrapMarkerName)
		}
		p.log.Warn("replica method failed; trying the next one", "method", m.Name, "error", err)
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return fmt.Errorf("create replica: no method of postgresql.create_replica_methods can run without a leader (set no_leader on one)")
	}
	return fmt.Errorf("create replica: every method failed: %w", errors.Join(errs...))
}

func (p *Postgres) cloneWith(ctx context.Context, cfg *config.Config, m config.ReplicaMethod, from fsm.Member) error {
	repl := cfg.PostgreSQL.Authentication.Replication
	src := pgctl.ConnInfo{Host: from.Host, Port: from.Port, User: repl.Username, AppName: cfg.Name}
	if m.Name == "basebackup" {
		src.Password = repl.Password
		return p.inst.Basebackup(ctx, src)
	}
	// The password never goes on a command line: a method reads it from
	// the pgpass file (PGPASSFILE) as pg_basebackup does.
	args := backup.ReplicaArgs(cfg.Scope, cfg.PostgreSQL.DataDir, src.String(), m.NoParams, m.Options)
	name, argv := backup.Shell(m.Command, args)
	return p.inst.RunMethod(ctx, m.Name, m.KeepData, true, name, argv...)
}

// moveAsideIfUsed renames a non-empty data directory (PostgreSQL is not
// running) to <dir>.before-<step>-<unix nanoseconds>.
func (p *Postgres) moveAsideIfUsed(dir, method string) error {
	st, err := p.inst.DataDirState()
	if err != nil {
		return err
	}
	if st == pgctl.DataDirMissing || st == pgctl.DataDirEmpty {
		return nil
	}
	if err := checkRenamable(dir, deviceOf); err != nil {
		return err
	}
	dest := fmt.Sprintf("%s.before-%s-%d", dir, method, time.Now().UnixNano())
	if err := os.Rename(dir, dest); err != nil {
		return fmt.Errorf("move %s aside: %w", dir, err)
	}
	p.log.Warn("moved the data directory aside", "before", method, "moved_to", dest)
	return nil
}

// discardCutShortBootstrap, when a custom bootstrap's marker says an
// earlier run was cut short (ha/bootstrap_marker.go), stops a postmaster
// still replaying from it, moves its directory aside and removes the
// marker: the bootstrap then starts over into an empty directory. Call
// with ops held.
func (p *Postgres) discardCutShortBootstrap(ctx context.Context, cfg *config.Config) error {
	left, err := p.bootstrapLeft()
	if err != nil {
		return err
	}
	if !left {
		return nil
	}
	p.log.Warn("an earlier custom bootstrap was cut short before reaching its recovery target: its directory is moved aside and the bootstrap starts over")
	if err := p.stop(ctx); err != nil {
		return fmt.Errorf("stopping the server of the cut-short bootstrap: %w", err)
	}
	if err := p.moveAsideIfUsed(cfg.PostgreSQL.DataDir, "cut-short-bootstrap"); err != nil {
		return err
	}
	return p.clearMarker(bootstrapMarkerName)
}

// discardFailedBootstrap moves what a failed custom bootstrap left aside
// (never deleted): the claim is given back, and a directory left here would
// be adopted as the cluster's data on the next turn. The marker goes only
// with the directory. Call with ops held.
func (p *Postgres) discardFailedBootstrap(ctx context.Context, cfg *config.Config, err error) error {
	if serr := p.stop(context.WithoutCancel(ctx)); serr != nil {
		return fmt.Errorf("%w; stopping the restored server: %v", err, serr)
	}
	if merr := p.moveAsideIfUsed(cfg.PostgreSQL.DataDir, "failed-"+cfg.Bootstrap.Method); merr != nil {
		return fmt.Errorf("%w; %v", err, merr)
	}
	if cerr := p.clearMarker(bootstrapMarkerName); cerr != nil {
		return fmt.Errorf("%w; %v", err, cerr)
	}
	return err
}

// bootstrapCustom is Patroni's custom bootstrap: the method's command
// restores the data directory (pgbackrest restore), PostgreSQL starts with
// the method's recovery_conf and recovery.signal, replays to the target
// and is promoted (recovery_target_action promote, or pg_promote when it
// pauses there). Only the member that won the initialize claim gets here
// (ha's bootstrap), so, as with initdb, no other member holds data of this
// cluster while it becomes writable. Call with ops held.
func (p *Postgres) bootstrapCustom(ctx context.Context, cfg *config.Config) error {
	m := cfg.Bootstrap.CustomMethod
	args := backup.BootstrapArgs(cfg.Scope, cfg.PostgreSQL.DataDir, m.NoParams, m.Options)
	name, argv := backup.Shell(m.Command, args)
	if err := p.inst.RunMethod(ctx, cfg.Bootstrap.Method, false, false, name, argv...); err != nil {
		return err
	}
	var recovery map[string]any
	if !m.KeepExistingRecoveryConf {
		// Only the method's recovery_conf counts: what the command wrote
		// (pgbackrest's restore_command and targets) is commented out.
		if err := p.inst.RemoveSignals(); err != nil {
			return err
		}
		if _, err := p.inst.ClearRecoverySettings(); err != nil {
			return err
		}
		recovery = map[string]any{}
		for k, v := range m.RecoveryConf {
			recovery[k] = v
		}
	}
	sc := p.serverConfig(cfg, nil)
	sc.Recovery = recovery
	if _, err := p.inst.WriteConfig(sc); err != nil {
		return err
	}
	p.log.Info("starting the restored data directory for recovery", "method", cfg.Bootstrap.Method)
	if err := p.inst.Start(ctx); err != nil {
		// pg_ctl gives up waiting when replay to a consistent state takes
		// longer than pg_ctl_timeout; the postmaster goes on.
		if _, alive := p.inst.PostmasterPID(); !alive {
			return err
		}
		p.log.Info("recovery continues after pg_ctl stopped waiting", "error", err)
	}
	if err := p.inst.WaitRecoveryEnd(ctx, func(lsn string) { p.log.Info("recovering", "lsn", lsn) }); err != nil {
		return err
	}
	// Promoted: the recovery settings must not reach the members that
	// clone from this one (pgctl.ClearRecoverySettings).
	if _, err := p.inst.ClearRecoverySettings(); err != nil {
		return err
	}
	if _, err := p.writeConfig(nil); err != nil {
		return err
	}
	if err := p.inst.Reload(ctx); err != nil {
		return err
	}
	return p.inst.Checkpoint(ctx)
}

// requeueReceivedWAL, right after a promotion with archiving on, has the
// new primary archive the complete segments of the old timeline it
// received as a standby (pgctl.ReceivedSegments): archiving stays
// continuous across a failover even when the old primary died before
// archiving its last segments. With a backup tool configured only the
// segments the repository lacks are queued (requeueMissing, beside the
// loop: the repository may be slow or down); without one, all of them.
// Failures are logged, never fatal: the promotion has happened. Call with
// ops held.
func (p *Postgres) requeueReceivedWAL(ctx context.Context) {
	var mode string
	var tl int
	err := p.inst.QueryRow(ctx, `SELECT pg_catalog.current_setting('archive_mode'),
		('x' || substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int`, nil, &mode, &tl)
	if err != nil {
		p.log.Warn("after promotion: cannot read archive_mode and the timeline; WAL received as a standby is not archived again", "error", err)
		return
	}
	if mode == "off" {
		return
	}
	names, err := p.inst.ReceivedSegments(tl)
	if err != nil {
		p.log.Warn("after promotion: listing WAL received as a standby", "error", err)
		return
	}
	if len(names) == 0 {
		return
	}
	if br, ok := p.Backup(); ok {
		go p.requeueMissing(context.WithoutCancel(ctx), br, names, tl)
		return
	}
	p.requeue(names, tl)
}

// requeueMissing asks the repository which of the received segments it
// already holds: an identical copy needs nothing, a missing one is queued,
// and one held with another checksum is not queued (pgBackRest would refuse
// it for ever and archiving would stall behind it) but reported: logged,
// in /patroni and as conclave_backup_archive_segment_conflict until the
// agent restarts or the node is promoted again. When the repository
// cannot be listed every segment is queued, as before (pgBackRest accepts
// an identical copy).
func (p *Postgres) requeueMissing(ctx context.Context, br backup.PgBackRest, names []string, tl int) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	archived, err := br.ArchivedSegments(ctx, names)
	if err != nil {
		p.log.Warn("after promotion: cannot list the backup repository; queueing every WAL segment received as a standby", "stanza", br.Stanza, "error", oneLine(err))
		p.requeue(names, tl)
		return
	}
	missing, conflicts := splitReceived(names, p.inst.SegmentSHA1, archived)
	p.archive.setConflicts(conflicts)
	for _, c := range conflicts {
		p.log.Error("WAL segment in the backup repository differs from the one this primary received: not archived again; the repository holds another history for it (two primaries or two clusters on one stanza): check before restoring across it",
			"segment", c, "stanza", br.Stanza)
	}
	if skipped := len(names) - len(missing) - len(conflicts); skipped > 0 {
		p.log.Info("after promotion: WAL segments received as a standby are already in the repository", "segments", skipped)
	}
	p.requeue(missing, tl)
}

// splitReceived sorts received segments by what the repository holds:
// missing (or not comparable: the local checksum could not be read; then
// pgBackRest compares) are to be archived again, conflicts are held with
// another checksum; identical ones are in neither.
func splitReceived(names []string, sum func(string) (string, error), archived map[string]string) (missing, conflicts []string) {
	for _, n := range names {
		repo, ok := archived[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		local, err := sum(n)
		switch {
		case err != nil:
			missing = append(missing, n)
		case local != repo:
			conflicts = append(conflicts, n)
		}
	}
	return missing, conflicts
}

func (p *Postgres) requeue(names []string, tl int) {
	n, err := p.inst.RequeueSegments(names)
	if err != nil {
		p.log.Warn("after promotion: re-queueing WAL received as a standby for archiving", "error", err)
	}
	if n > 0 {
		p.log.Info("after promotion: WAL received as a standby queued for archiving again (closes a gap the old primary may have left)", "segments", n, "timeline", tl)
	}
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
