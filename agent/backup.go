package agent

import (
	"context"
	"sync"
	"time"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/backup"
)

// backupPollInterval is how often each agent reads the repository's
// backups (pgbackrest info): cheap, and the age of the last backup is
// measured in hours.
const backupPollInterval = time.Minute

// backupHealth is what the last `pgbackrest info` said. Owner: the
// pollBackups goroutine writes it, Status reads it, under mu.
type backupHealth struct {
	mu      sync.Mutex
	checked time.Time // last attempt
	err     string    // last attempt's error, "" when it worked
	last    *backup.Info
	count   int
}

// archiveCheckInterval is how often the agent looks whether the stanza
// must be set up for the running archiving (adapter.EnsureArchive: one
// query when nothing changed).
const archiveCheckInterval = 10 * time.Second

// pollBackups, while a backup tool is configured (a reload may add or
// remove one), sets the stanza up when archiving on the primary changed
// and reads the repository's backups every backupPollInterval.
func (a *Agent) pollBackups(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	var lastInfo time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, ok := a.pg.Backup(); ok {
			a.pg.EnsureArchive(ctx)
			if time.Since(lastInfo) >= backupPollInterval {
				a.refreshBackups(ctx)
				lastInfo = time.Now()
			}
		}
		t.Reset(archiveCheckInterval)
	}
}

// refreshBackups runs `pgbackrest info` once and records the outcome.
func (a *Agent) refreshBackups(ctx context.Context) []backup.Info {
	br, ok := a.pg.Backup()
	if !ok {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := br.List(cctx)
	h := &a.backups
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checked = time.Now()
	if err != nil {
		h.err = err.Error()
		return nil
	}
	h.err, h.count, h.last = "", len(list), nil
	if len(list) > 0 {
		b := list[len(list)-1]
		h.last = &b
	}
	return list
}

// backupStatus is the backup part of /patroni and /metrics: the
// repository as last read, and this node's pg_stat_archiver.
func (a *Agent) backupStatus() *api.BackupStatus {
	br, ok := a.pg.Backup()
	if !ok {
		return nil
	}
	last := a.pg.Last()
	arch := last.Archiver
	st := &api.BackupStatus{
		Stanza: br.Stanza, ArchiveMode: arch.Mode,
		ArchivedCount: arch.ArchivedCount, FailedCount: arch.FailedCount, LastArchivedWAL: arch.LastArchivedWAL,
		LastArchivedTime: arch.LastArchivedTime, LastFailedTime: arch.LastFailedTime, ArchiveLagBytes: arch.LagBytes,
		ConflictingWAL: a.pg.ConflictingWAL(),
	}
	h := &a.backups
	h.mu.Lock()
	defer h.mu.Unlock()
	st.RepoError, st.Backups = h.err, h.count
	if !h.checked.IsZero() {
		c := h.checked
		st.RepoChecked = &c
	}
	if h.last != nil {
		st.LastBackupLabel, st.LastBackupType = h.last.Label, h.last.Type
		stop := h.last.Stop
		st.LastBackupTime = &stop
	}
	return st
}
