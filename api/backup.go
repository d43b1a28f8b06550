package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/backup"
)

// Backups runs and lists backups for POST and GET /backup (Conclave's
// own endpoints, for `conclave backup`); nil answers 503.
type Backups interface {
	// StartBackup starts a backup on this node and returns at once; the
	// job's progress is in BackupState. An ErrBackupRefused error says why
	// this node cannot run it now, worded for the operator.
	StartBackup(r BackupRequest) error
	// BackupState is this node's location for pgBackRest, its last backup
	// job and the repository's backups.
	BackupState(ctx context.Context) BackupState
}

// ErrBackupRefused: the node cannot run the backup now (412).
var ErrBackupRefused = errors.New("backup refused")

// BackupRequest is POST /backup's body.
type BackupRequest struct {
	Type string `json:"type"` // full, diff, incr
	From string `json:"from"` // replica or primary: the role this node must have
	// Primary is where the primary runs, for a backup from a replica.
	Primary *backup.Peer `json:"primary,omitempty"`
}

// BackupJob is the last backup this node ran.
type BackupJob struct {
	State    string     `json:"state"` // running, succeeded, failed
	Type     string     `json:"type"`
	From     string     `json:"from"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"`
	Label    string     `json:"label,omitempty"`
	Error    string     `json:"error,omitempty"`
	Lines    []string   `json:"lines"` // pgBackRest's output so far
}

// BackupState is GET /backup's body.
type BackupState struct {
	Stanza    string        `json:"stanza"`
	Node      backup.Peer   `json:"node"` // where this node's PostgreSQL is, for a backup from its standby
	Job       *BackupJob    `json:"job,omitempty"`
	Backups   []backup.Info `json:"backups"`
	RepoError string        `json:"repository_error,omitempty"`
}

var errNoBackups = errors.New("no backup tool is configured on this node: add a backup: section (stanza, and pgBackRest's repository in its own configuration) to every node's file and restart the agents (README, \"Backups and restore\")")

func (s *Server) postBackup(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Backups == nil {
		return errNoBackups
	}
	var req BackupRequest
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(raw)) != "" {
		if err := json.Unmarshal(raw, &req); err != nil {
			return fmt.Errorf("%w: body must be a JSON object with type and from", errBadRequest)
		}
	}
	if req.Type == "" {
		req.Type = "full"
	}
	if !slices.Contains(backup.Types, req.Type) {
		return writeText(w, http.StatusBadRequest, fmt.Sprintf("type must be one of %s, got %q", strings.Join(backup.Types, ", "), req.Type))
	}
	switch req.From {
	case "":
		req.From = "replica"
	case "replica", "primary":
	default:
		return writeText(w, http.StatusBadRequest, fmt.Sprintf("from must be replica or primary, got %q", req.From))
	}
	if req.From == "replica" && req.Primary == nil {
		return writeText(w, http.StatusBadRequest, "a backup from a replica needs the primary's location (primary)")
	}
	if err := s.cfg.Backups.StartBackup(req); err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, ErrBackupRefused) {
			code = http.StatusPreconditionFailed
		}
		return writeText(w, code, err.Error())
	}
	return writeText(w, http.StatusAccepted, "backup started")
}

func (s *Server) getBackup(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Backups == nil {
		return errNoBackups
	}
	ctx, cancel := context.WithTimeout(r.Context(), operationTimeout)
	defer cancel()
	writeJSON(w, http.StatusOK, s.cfg.Backups.BackupState(ctx))
	return nil
}
