package adapter

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/conclave-ha/conclave/backup"
)

// archiveRetry is how long a failed stanza set-up waits before it is tried
// again with unchanged settings (each try may force a WAL switch and wait
// for it to be archived).
const archiveRetry = 5 * time.Minute

// archiveSetup remembers the archiving settings the stanza was last set up
// for on this primary, so that EnsureArchive runs pgbackrest only when they
// change. Owner: EnsureArchive, serialized by run; the fields under mu.
type archiveSetup struct {
	run sync.Mutex // one set-up at a time (bootstrap's and the poller's)
	mu  sync.Mutex
	key string    // settings of the last attempt
	ok  bool      // it succeeded
	at  time.Time // when it ended
	// conflicts are received segments the repository holds with another
	// checksum, found after the last promotion (requeueMissing).
	conflicts []string
}

func (a *archiveSetup) setConflicts(c []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conflicts = c
}

// ConflictingWAL returns the WAL segments the backup repository holds with
// another checksum than the ones this node received before its last
// promotion (not archived again; see requeueMissing).
func (p *Postgres) ConflictingWAL() []string {
	p.archive.mu.Lock()
	defer p.archive.mu.Unlock()
	return append([]string(nil), p.archive.conflicts...)
}

// due reports whether settings key needs a set-up at now: never tried,
// changed, or failed more than archiveRetry ago.
func (a *archiveSetup) due(key string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return key != a.key || (!a.ok && now.Sub(a.at) >= archiveRetry)
}

func (a *archiveSetup) done(key string, ok bool, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.key, a.ok, a.at = key, ok, now
}

// EnsureArchive creates the backup stanza and checks archiving on a running
// primary whenever what archiving depends on changed: the first time after
// the agent started or this node became the primary, a backup: section
// added or changed by a reload, archive_mode or archive_command changed in
// the dynamic configuration (as the server runs them). stanza-create is
// idempotent for the same database, so running it again is harmless. It
// never runs on a standby and never stops or delays the primary: a
// repository that cannot be reached is logged with what to do, WAL then
// waits in pg_wal (pg_stat_archiver and the conclave_backup_* metrics show
// it). A stanza of another database (system identifier or version) is not
// upgraded: that is either a pg_upgrade (run stanza-upgrade by hand) or
// another cluster's stanza, which an automatic upgrade would take over.
func (p *Postgres) EnsureArchive(ctx context.Context) {
	br, ok := p.Backup()
	if !ok {
		return
	}
	if !p.PostmasterRunning() {
		return
	}
	p.archive.run.Lock()
	defer p.archive.run.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var rec bool
	var mode, command string
	err := p.inst.QueryRow(ctx, `SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('archive_mode'),
		pg_catalog.current_setting('archive_command')`, nil, &rec, &mode, &command)
	if err != nil || rec {
		return
	}
	key := strings.Join([]string{br.Stanza, br.Command, p.local.Load().Backup.Config, mode, command}, "\x00")
	if !p.archive.due(key, time.Now()) {
		return
	}
	p.archive.done(key, p.setUpStanza(ctx, br), time.Now())
}

// setUpStanza runs stanza-create and check once and logs the outcome.
func (p *Postgres) setUpStanza(ctx context.Context, br backup.PgBackRest) bool {
	if err := br.StanzaCreate(ctx); err != nil {
		if strings.Contains(err.Error(), "do not match") {
			p.log.Error("pgbackrest stanza-create failed: the stanza holds another database (system identifier or version); after a pg_upgrade run pgbackrest stanza-upgrade, else choose another backup.stanza", "stanza", br.Stanza, "error", oneLine(err))
			return false
		}
		p.log.Error("pgbackrest stanza-create failed: backups and archiving will fail until the repository is reachable; fix it, then run pgbackrest stanza-create", "stanza", br.Stanza, "error", oneLine(err))
		return false
	}
	if err := br.Check(ctx); err != nil {
		p.log.Error("pgbackrest check failed: WAL archiving does not reach the repository; check archive_mode and archive_command in the dynamic configuration", "stanza", br.Stanza, "error", oneLine(err))
		return false
	}
	p.log.Info("backup stanza ready: archiving reaches the repository", "stanza", br.Stanza)
	return true
}
