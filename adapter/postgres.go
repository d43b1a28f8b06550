package adapter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
	"github.com/conclave-ha/conclave/ha"
	"github.com/conclave-ha/conclave/pgctl"
)

// Postgres adapts pgctl to ha.Postgres. It owns the merge of the local and
// dynamic configuration into the files PostgreSQL reads, and caches the last
// full status for the REST API.
//
// Threading model (the package doc has the why):
//   - ops serializes every operation that changes PostgreSQL or its files:
//     Bootstrap, Clone, Start, Follow, Promote, Demote, Rewind, MoveAside,
//     SetSyncStandbys, Stop, SyncSlots and SetLocalConfig's rewrite. At most
//     one of them runs at a time, whichever goroutine calls it (the HA loop,
//     the SIGHUP reload, the shutdown path), so two goroutines never write the
//     configuration files or drive pg_ctl at once.
//   - Fence does not take ops: it must never wait behind a slow step (crash
//     recovery in pg_ctl start -w, promote, checkpoint). It only asks for an
//     immediate shutdown of whatever postmaster runs, writes no file and
//     reads no configuration, and it makes a Start in progress give up its
//     retries (fences counter).
//   - The local configuration file is an immutable snapshot: SetLocalConfig
//     swaps in a new *config.Config under ops, and nobody modifies one in
//     place, so one operation sees one snapshot from start to end and a
//     reader outside ops (none today) would see an old or a new one whole.
//   - mu guards the small state below (whom we follow, the synchronous
//     standby names, the last status); it is never held across I/O.
type Postgres struct {
	inst    *pgctl.Instance // immutable after New; safe for concurrent use
	dynamic func() fsm.DynamicConfig
	log     hclog.Logger
	local   atomic.Pointer[config.Config]
	ops     sync.Mutex    // see the threading model above
	fences  atomic.Uint64 // Fence calls so far

	mu        sync.Mutex
	followed  *fsm.Member // whom the standby configuration points at; nil = primary
	syncNames []string    // synchronous_standby_names the primary must wait for
	syncAny   bool        // '*' (strict synchronous mode without a recorded standby)
	syncKnown bool        // syncNames set by SetSyncStandbys or read from the server
	last      pgctl.Status
	lastState pgctl.DataDirState
	logMark   int64 // end of the server log at the last start or change of upstream
	standbyTL standbyTimeline

	archive archiveSetup // the stanza set up for the running archiving (archive.go)
}

// New builds the adapter for cfg's PostgreSQL. dynamic returns the current
// dynamic configuration (postgresql.parameters, use_slots, strict mode).
func New(cfg *config.Config, dynamic func() fsm.DynamicConfig, logger hclog.Logger) (*Postgres, error) {
	return newWithRunner(cfg, dynamic, logger, pgctl.ExecRunner{Logger: logger.Named("pgctl").Named("exec")})
}

// newWithRunner is New with the Runner that runs PostgreSQL's programs
// (tests pass a fake).
func newWithRunner(cfg *config.Config, dynamic func() fsm.DynamicConfig, logger hclog.Logger, runner pgctl.Runner) (*Postgres, error) {
	pg := cfg.PostgreSQL
	// As Patroni, the agent's own connections use TCP to postgresql.listen
	// unless postgresql.use_unix_socket is set.
	socketDir := ""
	if s, ok := pg.Parameters["unix_socket_directories"].(string); ok && s != "" && pg.UseUnixSocket {
		socketDir = firstListItem(s)
	}
	inst, err := pgctl.New(pgctl.Config{
		Name:         cfg.Name,
		DataDir:      pg.DataDir,
		BinDir:       pg.BinDir,
		ListenHosts:  pg.ListenHosts(),
		Port:         pg.ListenPort(),
		SocketDir:    socketDir,
		Superuser:    pgctl.Credentials(pg.Authentication.Superuser),
		Replication:  pgctl.Credentials(pg.Authentication.Replication),
		Rewind:       pgctl.Credentials(pg.Authentication.Rewind),
		PgpassPath:   pg.Pgpass,
		StartTimeout: time.Duration(pg.PgCtlTimeout) * time.Second,
		Env:          backupEnv(cfg),
		Runner:       runner,
		Logger:       logger, // pgctl names its lines "pgctl"
	})
	if err != nil {
		return nil, fmt.Errorf("postgresql: %w", err)
	}
	p := &Postgres{inst: inst, dynamic: dynamic, log: logger.Named("postgres")}
	p.local.Store(cfg)
	return p, nil
}

func firstListItem(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return s[:i]
		}
	}
	return s
}

// PostmasterRunning reports whether the postmaster named in postmaster.pid
// is alive.
func (p *Postgres) PostmasterRunning() bool {
	_, alive := p.inst.PostmasterPID()
	return alive
}

// Last returns the last full status, for the REST API.
func (p *Postgres) Last() pgctl.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// RanAMember reports whether the data directory shows that this host ran a
// member before (pgctl.Instance.RanAMember); Raft formation asks it.
func (p *Postgres) RanAMember() (bool, error) { return p.inst.RanAMember() }

func (p *Postgres) Observe(ctx context.Context) ha.PGStatus {
	dd, err := p.inst.DataDirState()
	cutShort, merr := p.bootstrapLeft()
	if err == nil {
		err = merr // an unreadable marker: the data directory's state is unknown
	}
	out := ha.PGStatus{DataDir: dataDirState(dd, err), Err: err, Rewind: p.rewindLeft(), BootstrapCutShort: cutShort}
	if out.DataDir != ha.DataDirValid {
		p.remember(pgctl.Status{}, dd)
		return out
	}
	p.mu.Lock()
	if p.followed != nil {
		out.Following = p.followed.Name
	}
	p.mu.Unlock()
	out.Unmanaged = !p.inst.ConfigManaged()
	if _, alive := p.inst.PostmasterPID(); alive {
		octx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		st, err := p.inst.Observe(octx)
		if err == nil {
			if st.InRecovery {
				p.mu.Lock()
				st.Timeline = p.standbyTL.observe(st.PostmasterStartTime, st.Timeline)
				p.mu.Unlock()
			}
			p.remember(st, dd)
			out.Running, out.InRecovery, out.Timeline, out.SystemID = st.Running, st.InRecovery, st.Timeline, st.SystemID
			out.WALPosition, out.ReceivedLSN, out.ReplayedLSN = st.WALPosition, st.ReceiveLSN, st.ReplayLSN
			out.Streaming = st.WALReceiverStatus == "streaming"
			out.PendingRestart, out.ServerVersion, out.StartedAt = st.PendingRestart, st.ServerVersion, st.PostmasterStartTime
			out.ForeignConfig = p.foreignConfig(st.ConfigFile) // takeover.go
			for _, r := range st.Replication {
				out.Replicas = append(out.Replicas, ha.Replica{Name: r.ApplicationName, State: r.State, SyncState: r.SyncState, FlushLSN: r.FlushLSN})
			}
			if !st.InRecovery {
				out.SyncStandbys, out.SyncAny = p.currentSyncNames(octx)
				p.adoptSyncNames(out.SyncStandbys, out.SyncAny)
			}
			p.observeHistory(&out)
			return out
		}
		// A live postmaster that does not answer (starting, crash recovery,
		// shutting down) counts as running so nobody starts a second one.
		out.Running = true
		out.Err = err
	}
	cd, err := p.inst.ControlData(ctx)
	if err != nil {
		out.Err = err
		return out
	}
	out.SystemID, out.Timeline = cd.SystemID, cd.Timeline
	// A stopped standby has replayed at least to its minimum recovery point,
	// whose timeline can be newer than its last restartpoint's.
	out.Timeline = max(out.Timeline, cd.MinRecoveryEndTimeline)
	out.InRecovery = p.inst.HasStandbySignal() || cd.ClusterState == pgctl.StateShutDownInRecovery || cd.ClusterState == pgctl.StateInArchiveRecovery
	out.WALPosition = cd.CheckpointLSN
	if !out.Running {
		p.remember(pgctl.Status{SystemID: cd.SystemID, Timeline: cd.Timeline}, dd)
	}
	p.observeHistory(&out)
	return out
}

// observeHistory adds what ha's rule 4 checks need: where the local
// timeline forked, and for a standby that does not stream, why, as its log
// says.
func (p *Postgres) observeHistory(out *ha.PGStatus) {
	if lsn, err := p.inst.TimelineForkLSN(out.Timeline); err == nil {
		out.ForkLSN = lsn
	}
	if m, err := p.inst.ReadTimelineMark(); err == nil && m.Timeline == out.Timeline && out.Timeline > 1 {
		out.TimelineEpoch = m.Epoch
	}
	if out.Running && out.InRecovery && !out.Streaming {
		p.mu.Lock()
		mark := p.logMark
		p.mu.Unlock()
		problem, detail := p.inst.DiagnoseStreaming(mark)
		switch problem {
		case pgctl.StreamWALRemoved:
			out.StreamProblem = ha.StreamWALRemoved
		case pgctl.StreamTimeline:
			out.StreamProblem = ha.StreamTimeline
		}
		out.StreamDetail = detail
	}
}

func (p *Postgres) remember(st pgctl.Status, dd pgctl.DataDirState) {
	p.mu.Lock()
	p.last, p.lastState = st, dd
	p.mu.Unlock()
}

func dataDirState(s pgctl.DataDirState, err error) ha.DataDirState {
	if err != nil {
		return ha.DataDirUnknown
	}
	switch s {
	case pgctl.DataDirMissing:
		return ha.DataDirMissing
	case pgctl.DataDirEmpty:
		return ha.DataDirEmpty
	case pgctl.DataDirValid:
		return ha.DataDirValid
	case pgctl.DataDirInvalid:
		return ha.DataDirInvalid
	}
	return ha.DataDirUnknown
}

// DefaultMaxSlotWALKeepSize bounds the WAL a replication slot may hold back
// when the user sets no max_slot_wal_keep_size: a dead member's slot pins at
// most this much beyond max_wal_size and wal_keep_size until
// member_slots_ttl drops it. A replica further behind loses its slot's WAL
// and must be re-cloned. Why 4GB: DESIGN.md ("Members that are gone").
const DefaultMaxSlotWALKeepSize = "4GB"

// serverConfig merges the dynamic postgresql.parameters with the local ones
// (local wins) and picks pg_hba lines: local, then dynamic, then bootstrap.
func (p *Postgres) serverConfig(cfg *config.Config, follow *fsm.Member) pgctl.ServerConfig {
	dyn := p.dynamic()
	params := map[string]any{}
	for k, v := range dyn.Parameters {
		params[k] = v
	}
	for k, v := range cfg.PostgreSQL.Parameters {
		if _, dynSet := dyn.Parameters[k]; dynSet && clusterWideParams[k] {
			continue // the dynamic value wins, as in Patroni (adapter/dynamic.go)
		}
		params[k] = v
	}
	if _, set := params["max_slot_wal_keep_size"]; !set {
		// PostgreSQL's default (-1) lets the slot of a member that never
		// comes back keep WAL until the disk is full (DESIGN.md, rule 6).
		params["max_slot_wal_keep_size"] = DefaultMaxSlotWALKeepSize
	}
	hba := cfg.PostgreSQL.PgHBA
	if len(hba) == 0 {
		hba = dyn.PgHBA
	}
	// Lines the file does not set (postgresql.pg_hba, local or dynamic)
	// are a fallback: a hand-made cluster's pg_hba.conf is kept (takeover).
	fallback := len(hba) == 0
	if len(hba) == 0 {
		hba = cfg.Bootstrap.PgHBA
	}
	if len(hba) == 0 {
		hba = defaultHBA(cfg)
	}
	sc := pgctl.ServerConfig{Parameters: params, PgHBA: hba, KeepUserHBA: fallback}
	// A standby gets the same synchronous_standby_names it must start
	// with after a promotion: none, or '*' in strict mode.
	p.mu.Lock()
	names, any := p.syncNames, p.syncAny
	p.mu.Unlock()
	if follow != nil {
		names, any = nil, any && dyn.SynchronousModeStrict
	}
	params["synchronous_standby_names"] = renderSyncNames(names, any)
	if follow != nil {
		for _, k := range standbyRecoveryKeys {
			if v, ok := dyn.RecoveryConf[k]; ok {
				params[k] = v
			}
		}
		sc.Standby = &pgctl.StandbyConfig{}
		if follow.Host != "" {
			repl := cfg.PostgreSQL.Authentication.Replication
			sc.Standby.Primary = pgctl.ConnInfo{Host: follow.Host, Port: follow.Port, User: repl.Username, Password: repl.Password, AppName: cfg.Name}
			if dyn.UseSlots {
				sc.Standby.SlotName = pgctl.SlotName(cfg.Name)
			}
		}
	}
	return sc
}

// standbyRecoveryKeys are the keys of the dynamic postgresql.recovery_conf
// written on standbys (Patroni's use: fetch WAL from the backup repository
// when streaming falls behind). Recovery targets are not among them: a
// standby would stop replaying at one.
var standbyRecoveryKeys = []string{"restore_command", "archive_cleanup_command", "recovery_end_command", "recovery_min_apply_delay"}

// defaultHBA lets the replication and superuser roles in with passwords
// when neither the local, dynamic nor bootstrap configuration gives pg_hba.
func defaultHBA(cfg *config.Config) []string {
	return []string{
		"local all all trust",
		"host replication " + cfg.PostgreSQL.Authentication.Replication.Username + " all md5",
		"host all all all md5",
	}
}

// writeConfig renders the configuration files from the current snapshot.
// Call with ops held.
func (p *Postgres) writeConfig(follow *fsm.Member) (bool, error) {
	sc := p.serverConfig(p.local.Load(), follow)
	if follow != nil {
		p.standbyFloor(sc.Parameters)
	}
	changed, err := p.inst.WriteConfig(sc)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	p.followed = nil
	if follow != nil {
		f := *follow
		p.followed = &f
	}
	p.mu.Unlock()
	return changed, nil
}

func (p *Postgres) Bootstrap(ctx context.Context) (string, error) {
	p.ops.Lock()
	defer p.ops.Unlock()
	cfg := p.local.Load()
	if err := p.discardCutShortBootstrap(ctx, cfg); err != nil {
		return "", err
	}
	if cfg.Bootstrap.Custom() {
		if err := p.writeMarker(bootstrapMarkerName, cfg.Bootstrap.Method); err != nil {
			return "", err
		}
		if err := p.bootstrapCustom(ctx, cfg); err != nil {
			return "", p.discardFailedBootstrap(ctx, cfg, err)
		}
	} else if err := p.initdb(ctx, cfg); err != nil {
		return "", err
	}
	users := map[string]pgctl.User{}
	for name, u := range cfg.Bootstrap.Users {
		users[name] = pgctl.User{Password: u.Password, Options: u.Options}
	}
	if err := p.inst.CreateRoles(ctx, users); err != nil {
		return "", err
	}
	st, err := p.inst.Observe(ctx)
	if err != nil {
		return "", err
	}
	if cfg.Bootstrap.Custom() {
		// Reached the target, promoted, roles created: only now may the
		// directory become the cluster's (ha/bootstrap_marker.go).
		if err := p.clearMarker(bootstrapMarkerName); err != nil {
			return "", p.discardFailedBootstrap(ctx, cfg, err)
		}
	}
	// Creating and checking the stanza waits for a WAL segment to reach
	// the repository: it runs beside the loop, which takes the leader key
	// meanwhile, and a repository that is down never holds the primary up.
	go p.EnsureArchive(context.WithoutCancel(ctx))
	return st.SystemID, nil
}

// initdb creates a new cluster and starts it as a primary. Call with ops held.
func (p *Postgres) initdb(ctx context.Context, cfg *config.Config) error {
	flags := make([]string, 0, len(cfg.Bootstrap.Initdb))
	for _, o := range cfg.Bootstrap.Initdb {
		flags = append(flags, o.Flag())
	}
	if err := p.inst.Initdb(ctx, flags); err != nil {
		return err
	}
	if _, err := p.writeConfig(nil); err != nil {
		return err
	}
	return p.inst.Start(ctx)
}

func (p *Postgres) Start(ctx context.Context, follow *fsm.Member) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	return p.start(ctx, follow)
}

// start writes the configuration and starts PostgreSQL. Call with ops held.
func (p *Postgres) start(ctx context.Context, follow *fsm.Member) error {
	fences := p.fences.Load()
	if _, err := p.writeConfig(follow); err != nil {
		return err
	}
	p.markLog()
	// Right after a postmaster crash its backends may still hold the shared
	// memory for a moment and the first start fails; retry briefly rather
	// than wait a whole loop_wait.
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := p.inst.Start(ctx)
		if errors.Is(err, pgctl.ErrAlreadyRunning) {
			return nil
		}
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		if p.fences.Load() != fences {
			// A fence came in meanwhile: do not bring PostgreSQL back
			// behind its back; the loop decides again.
			return fmt.Errorf("start abandoned after a fence: %w", err)
		}
		p.log.Warn("start failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *Postgres) Follow(ctx context.Context, primary fsm.Member) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	changed, err := p.writeConfig(&primary)
	if err != nil || !changed {
		return err
	}
	p.markLog()
	// primary_conninfo and primary_slot_name are reloadable since PostgreSQL 13.
	return p.inst.Reload(ctx)
}

// MarkTimeline writes the data directory's timeline marker (rule 4).
func (p *Postgres) MarkTimeline(_ context.Context, timeline int, epoch uint64) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	return p.inst.WriteTimelineMark(pgctl.TimelineMark{Timeline: timeline, Epoch: epoch, Member: p.local.Load().Name})
}

// markLog remembers the end of the server log: the stuck-standby diagnosis
// reads only what follows, so an earlier upstream's errors (the old
// leader's "WAL removed") are never charged to the new one (rule 4).
func (p *Postgres) markLog() {
	mark := p.inst.LogMark()
	p.mu.Lock()
	p.logMark = mark
	p.mu.Unlock()
}

func (p *Postgres) Promote(ctx context.Context) (uint64, error) {
	p.ops.Lock()
	defer p.ops.Unlock()
	if err := p.inst.Promote(ctx); err != nil {
		return 0, err
	}
	if _, err := p.writeConfig(nil); err != nil {
		return 0, err
	}
	p.requeueReceivedWAL(ctx)
	return p.switchPoint(ctx), nil
}

// switchPoint reads where the current timeline forked off its parent from
// the timeline history file PostgreSQL wrote at promotion (0 if unknown).
func (p *Postgres) switchPoint(ctx context.Context) uint64 {
	var content string
	err := p.inst.QueryRow(ctx, `SELECT pg_catalog.pg_read_file('pg_wal/' || lpad(upper(to_hex(timeline_id)), 8, '0') || '.history')
		FROM pg_catalog.pg_control_checkpoint()`, nil, &content)
	if err != nil {
		p.log.Warn("reading the timeline history file failed", "error", err)
		return 0
	}
	return pgctl.LastSwitchPoint(content)
}

// Demote stops the primary at once (another member holds the key) and
// starts it as a standby of primary. If its history diverged, the next turn
// sees it and rewinds (ha's rule 4).
func (p *Postgres) Demote(ctx context.Context, primary *fsm.Member) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	if err := p.inst.Stop(ctx, pgctl.StopOptions{Mode: pgctl.StopImmediate, Timeout: 30 * time.Second}); err != nil && !errors.Is(err, pgctl.ErrNotRunning) {
		return err
	}
	p.mu.Lock()
	p.syncNames, p.syncAny = nil, false
	p.mu.Unlock()
	return p.start(ctx, primary)
}

// Rewind stops PostgreSQL (fast, then immediate) if it runs, then rewinds
// onto primary's timeline. Start rewrites the configuration afterwards,
// since pg_rewind copies the source's postgresql.conf.
func (p *Postgres) Rewind(ctx context.Context, primary fsm.Member) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	if err := p.stop(ctx); err != nil {
		return err
	}
	// The marker goes first: without it an agent killed during the run
	// would start a partly rewritten directory (adapter/rewindmarker.go).
	if err := p.writeRewindMarker(rewindRunning); err != nil {
		return fmt.Errorf("not rewinding: %w", err)
	}
	rw := p.local.Load().PostgreSQL.Authentication.Rewind
	err := p.inst.Rewind(ctx, pgctl.ConnInfo{Host: primary.Host, Port: primary.Port, User: rw.Username, Password: rw.Password})
	switch {
	case err == nil:
		if cerr := p.clearRewindMarker(); cerr != nil {
			p.log.Warn("pg_rewind completed but its marker could not be removed: the directory will be moved aside and cloned", "error", cerr)
		}
		return nil
	case errors.Is(err, pgctl.ErrSourceUnreachable):
		if merr := p.writeRewindMarker(rewindSourceLost); merr != nil {
			p.log.Warn("recording the pg_rewind outcome", "error", merr)
		}
		return fmt.Errorf("%w: %w", ha.ErrRewindSourceUnreachable, err)
	}
	if merr := p.writeRewindMarker(rewindFailedState); merr != nil {
		p.log.Warn("recording the pg_rewind outcome", "error", merr)
	}
	return err
}

// MoveAside renames the data directory to <data_dir>.diverged-<unix time>;
// nothing is deleted.
func (p *Postgres) MoveAside(ctx context.Context) (string, error) {
	p.ops.Lock()
	defer p.ops.Unlock()
	dir := p.local.Load().PostgreSQL.DataDir
	if err := checkRenamable(dir, deviceOf); err != nil {
		return "", err // checked first: PostgreSQL keeps running (and serving reads)
	}
	if err := p.stop(ctx); err != nil {
		return "", err
	}
	dest := fmt.Sprintf("%s.diverged-%d", dir, time.Now().Unix())
	if err := os.Rename(dir, dest); err != nil {
		return "", fmt.Errorf("move %s aside: %w", dir, err)
	}
	for _, name := range []string{rewindMarkerName, bootstrapMarkerName} {
		if err := p.clearMarker(name); err != nil {
			p.log.Warn("the directory was moved aside but its marker remains", "error", err)
		}
	}
	return dest, nil
}

// SetSyncStandbys writes synchronous_standby_names and reloads.
func (p *Postgres) SetSyncStandbys(ctx context.Context, names []string, strict bool) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	p.mu.Lock()
	p.syncNames = append([]string(nil), names...)
	p.syncAny = strict && len(names) == 0
	p.syncKnown = true
	follow := p.followed
	p.mu.Unlock()
	changed, err := p.writeConfig(follow)
	if err != nil {
		return err
	}
	if _, alive := p.inst.PostmasterPID(); !alive || (follow != nil && !changed) {
		return nil
	}
	if follow != nil {
		return p.inst.Reload(ctx)
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	want := renderSyncNames(sorted, strict && len(names) == 0)
	if !changed && p.showSyncNames(ctx) == want {
		return nil
	}
	if err := p.inst.Reload(ctx); err != nil {
		return err
	}
	return p.waitSyncNames(ctx, want)
}

// syncNamesWait bounds waitSyncNames. A reload takes effect in
// milliseconds; the bound stays well inside the lease's trust (2.25 s with
// ttl 3) because the HA loop waits here. Past it the call fails and the next
// turn reloads and waits again.
const syncNamesWait = 500 * time.Millisecond

// waitSyncNames returns once SHOW synchronous_standby_names gives want: a
// reload takes effect a moment after it is asked for, and ha reads the WAL
// position at which a standby was added only after this (rule 2).
func (p *Postgres) waitSyncNames(ctx context.Context, want string) error {
	deadline := time.Now().Add(syncNamesWait)
	for {
		got := p.showSyncNames(ctx)
		if got == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("synchronous_standby_names not in effect after reload: shows %q, want %q", got, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// showSyncNames is the server's synchronous_standby_names in the form
// renderSyncNames writes ("<error>" when it cannot be read).
func (p *Postgres) showSyncNames(ctx context.Context) string {
	var v string
	if err := p.inst.QueryRow(ctx, "SHOW synchronous_standby_names", nil, &v); err != nil {
		return "<error>"
	}
	return renderSyncNames(parseSyncNames(v))
}

// currentSyncNames reads synchronous_standby_names from the server.
func (p *Postgres) currentSyncNames(ctx context.Context) ([]string, bool) {
	var v string
	if err := p.inst.QueryRow(ctx, "SHOW synchronous_standby_names", nil, &v); err != nil {
		return nil, false
	}
	return parseSyncNames(v)
}

// renderSyncNames lists every name with a count equal to their number, so
// each listed standby must confirm each commit.
func renderSyncNames(names []string, any bool) string {
	if len(names) == 0 {
		if any {
			return "*"
		}
		return ""
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
	}
	return fmt.Sprintf("%d (%s)", len(names), strings.Join(quoted, ", "))
}

// parseSyncNames reads "", "*", "a", "N (a, b)", "FIRST N (...)" or "ANY N (...)".
func parseSyncNames(v string) ([]string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, false
	}
	if open := strings.Index(v, "("); open >= 0 && strings.HasSuffix(v, ")") {
		v = v[open+1 : len(v)-1]
	}
	var names []string
	any := false
	for _, part := range strings.Split(v, ",") {
		n := strings.TrimSpace(part)
		if len(n) >= 2 && n[0] == '"' && n[len(n)-1] == '"' {
			n = strings.ReplaceAll(n[1:len(n)-1], `""`, `"`)
		}
		switch n {
		case "":
		case "*":
			any = true
		default:
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, any
}

// Fence asks for an immediate shutdown at once. It deliberately does not
// take ops (see Postgres): a fence never waits behind a slow step.
//
// It also stops a postmaster that has no postmaster.pid yet (a start whose
// pg_ctl was cancelled leaves its detached child coming up: pgctl/stray.go),
// so a fence that returns nil leaves no postmaster of this data directory,
// listed or not.
func (p *Postgres) Fence(ctx context.Context) error {
	p.fences.Add(1)
	err := p.inst.Stop(ctx, pgctl.StopOptions{Mode: pgctl.StopImmediate, Timeout: 10 * time.Second})
	if errors.Is(err, pgctl.ErrNotRunning) {
		err = nil
	}
	if serr := p.inst.KillStrays(ctx, 2*time.Second); serr != nil {
		return errors.Join(err, serr)
	}
	if err == nil {
		if pid, alive := p.inst.PostmasterPID(); alive {
			// A stray that wrote postmaster.pid before it got SIGQUIT is gone
			// now; one listed and alive is not.
			return fmt.Errorf("fence: postmaster pid %d still running", pid)
		}
	}
	return err
}

func (p *Postgres) Stop(ctx context.Context) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	return p.stop(ctx)
}

// stop shuts PostgreSQL down (fast, then immediate). Call with ops held.
func (p *Postgres) stop(ctx context.Context) error {
	if _, alive := p.inst.PostmasterPID(); !alive {
		return nil
	}
	return p.inst.StopEscalating(ctx, time.Duration(p.local.Load().PostgreSQL.PgCtlTimeout)*time.Second)
}

// SetLocalConfig takes a reloaded configuration file (SIGHUP) and applies
// its PostgreSQL parameters and pg_hba with a reload when they changed. next
// must not be modified afterwards. It waits for an operation in progress.
// What pgctl took at New (listen address and port, socket directory,
// credentials for the agent's own connections, the start timeout) keeps its
// startup value until the agent restarts.
func (p *Postgres) SetLocalConfig(next *config.Config) {
	p.ops.Lock()
	defer p.ops.Unlock()
	p.local.Store(next)
	p.mu.Lock()
	follow := p.followed
	p.mu.Unlock()
	if _, alive := p.inst.PostmasterPID(); !alive {
		return
	}
	if !p.inst.ConfigManaged() || (follow == nil && p.inst.HasStandbySignal()) {
		return // not adopted or not configured by this agent yet: see ApplyDynamic
	}
	if changed, err := p.writeConfig(follow); err != nil {
		p.log.Error("writing configuration after reload failed", "error", err)
	} else if changed {
		if err := p.inst.Reload(context.Background()); err != nil {
			p.log.Error("reloading PostgreSQL failed", "error", err)
		}
	}
}

func (p *Postgres) SyncSlots(ctx context.Context, members, permanent []string) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	want := append([]string(nil), permanent...)
	for _, m := range members {
		want = append(want, pgctl.SlotName(m))
	}
	return p.inst.EnsureSlots(ctx, want)
}

// adoptSyncNames takes the running primary's synchronous_standby_names as
// the starting point after an agent restart, so a later rewrite of the
// configuration (SIGHUP, restart) never empties it behind the loop's back.
func (p *Postgres) adoptSyncNames(names []string, any bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.syncKnown {
		p.syncNames, p.syncAny, p.syncKnown = names, any, true
	}
}

// Adopt writes Conclave's configuration for the running primary it just
// took over and reloads: no restart. The user's postgresql.conf becomes the
// included base file (pgctl); a setting that needs a restart shows as
// pending restart (pg_settings.pending_restart) until the operator restarts.
func (p *Postgres) Adopt(ctx context.Context) error {
	p.ops.Lock()
	defer p.ops.Unlock()
	if _, alive := p.inst.PostmasterPID(); !alive {
		return errors.New("adopt: PostgreSQL is not running")
	}
	changed, err := p.writeConfig(nil)
	if err != nil || !changed {
		return err
	}
	return p.inst.Reload(ctx)
}
