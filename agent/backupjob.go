package agent

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/backup"
)

// maxJobLines bounds the pgBackRest output a job keeps for GET /backup.
const maxJobLines = 500

// backupJobs runs one backup at a time for POST /backup. Owner: job is
// written by StartBackup and the job's goroutine, read by BackupState,
// always under mu.
type backupJobs struct {
	mu  sync.Mutex
	job *api.BackupJob
	ctx context.Context // the agent's run context: a backup ends with the agent
}

// backupsAPI implements api.Backups for the agent.
type backupsAPI struct{ a *Agent }

// backupsAPI is nil (503 on /backup) without a backup: section.
func (a *Agent) backupsAPI() api.Backups {
	if !a.cfg.Backup.Enabled() {
		return nil
	}
	return backupsAPI{a}
}

// StartBackup checks this node can run the backup (a streaming replica
// for from=replica, the primary holding the leader key for from=primary),
// then runs pgbackrest backup in the background.
func (b backupsAPI) StartBackup(r api.BackupRequest) error {
	a := b.a
	br, ok := a.pg.Backup()
	if !ok {
		return fmt.Errorf("%w: no backup: section on %s", api.ErrBackupRefused, a.cfg.Name)
	}
	snap := a.loop.Snapshot()
	switch r.From {
	case "replica":
		if snap.Role != "replica" || snap.State != "streaming" {
			return fmt.Errorf("%w: %s is %s/%s, not a streaming replica", api.ErrBackupRefused, a.cfg.Name, snap.Role, snap.State)
		}
	case "primary":
		if !snap.HoldsLeaderKey {
			return fmt.Errorf("%w: %s is not the primary", api.ErrBackupRefused, a.cfg.Name)
		}
	}
	opts := backup.BackupOptions{Type: r.Type}
	if r.From == "replica" {
		peer := *r.Primary
		if b.local(peer.Host) {
			peer.Host = ""
		}
		opts.Primary = &peer
	}
	j := &a.jobs
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.job != nil && j.job.State == "running" {
		return fmt.Errorf("%w: a %s backup started at %s is still running on %s", api.ErrBackupRefused, j.job.Type, j.job.Started.Format(time.RFC3339), a.cfg.Name)
	}
	job := &api.BackupJob{State: "running", Type: r.Type, From: r.From, Started: time.Now().UTC()}
	j.job = job
	ctx := j.ctx
	go func() {
		a.log.Info("backup started", "type", r.Type, "from", r.From, "stanza", br.Stanza)
		label, err := br.Backup(ctx, opts, func(line string) {
			j.mu.Lock()
			if len(job.Lines) < maxJobLines {
				job.Lines = append(job.Lines, line)
			}
			j.mu.Unlock()
		})
		j.mu.Lock()
		now := time.Now().UTC()
		job.Finished = &now
		if err != nil {
			job.State, job.Error = "failed", err.Error()
		} else {
			job.State, job.Label = "succeeded", label
		}
		j.mu.Unlock()
		if err != nil {
			a.log.Error("backup failed", "error", err)
			return
		}
		a.log.Info("backup finished", "label", label)
		a.refreshBackups(ctx)
	}()
	return nil
}

// local reports whether host is this node's own PostgreSQL host (or a
// loopback address): pgBackRest then reaches it without pg2-host.
func (b backupsAPI) local(host string) bool {
	if host == "" || host == connectHost(b.a.cfg) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// BackupState answers GET /backup: this node's location, the last job
// (a copy) and the repository's backups read now.
func (b backupsAPI) BackupState(ctx context.Context) api.BackupState {
	a := b.a
	br, _ := a.pg.Backup()
	n := br.Node
	st := api.BackupState{Stanza: br.Stanza, Node: backup.Peer{Host: connectHost(a.cfg), DataDir: n.DataDir, Port: n.Port, SocketDir: n.SocketDir}}
	list, err := br.List(ctx)
	if err != nil {
		st.RepoError = err.Error()
	}
	st.Backups = list
	j := &a.jobs
	j.mu.Lock()
	if j.job != nil {
		c := *j.job
		c.Lines = append([]string(nil), j.job.Lines...)
		st.Job = &c
	}
	j.mu.Unlock()
	return st
}
