package pgctl

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Status is what Observe reports about the running server.
type Status struct {
	Running             bool // a live postmaster owns DataDir
	InRecovery          bool
	Timeline            int
	SystemID            string
	ServerVersion       int // server_version_num, e.g. 150018
	PostmasterStartTime time.Time

	WALPosition     uint64 // primary: pg_current_wal_lsn(); replica: max(receive, replay)
	ReceiveLSN      uint64 // replica only
	ReplayLSN       uint64 // replica only
	ReplayTimestamp *time.Time
	ReplayPaused    bool

	WALReceiverStatus   string // pg_stat_wal_receiver.status ("streaming", ...); "" when none
	PrimaryConnInfoHost string // pg_stat_wal_receiver.sender_host

	Replication    []Replica // pg_stat_replication rows
	PendingRestart bool      // any pg_settings.pending_restart
	ConfigFile     string    // the config_file setting: where the server reads postgresql.conf
	Archiver       Archiver  // pg_stat_archiver and archive_mode
}

// Archiver is pg_stat_archiver with archive_mode, for backup health.
type Archiver struct {
	Mode             string // archive_mode: off, on, always
	ArchivedCount    int64
	FailedCount      int64
	LastArchivedWAL  string
	LastArchivedTime *time.Time
	LastFailedTime   *time.Time
	// LagBytes (primary, archiving on): WAL written past the end of the
	// last archived segment; what a lost primary would take with it.
	LagBytes uint64
}

// Replica is one pg_stat_replication row.
type Replica struct {
	Username        string
	ApplicationName string
	ClientAddr      string // "" for a unix-socket client
	State           string // "streaming", "catchup", ...
	SyncState       string // "async", "sync", "potential", "quorum"
	SyncPriority    int
	WriteLSN        uint64
	FlushLSN        uint64
	ReplayLSN       uint64
}

// Observe reports the server's state. When no live postmaster owns DataDir
// it returns Status{Running: false} and no error. When one does but the
// queries fail (starting up, shutting down), Running is true and the error
// says why.
func (i *Instance) Observe(ctx context.Context) (Status, error) {
	var st Status
	if _, alive := i.PostmasterPID(); !alive {
		return st, nil
	}
	st.Running = true
	err := i.withConn(ctx, func(c sqlConn) error {
		var pending bool
		if err := c.QueryRow(ctx, qStatus).Scan(&st.InRecovery, &st.SystemID,
			&st.ServerVersion, &st.PostmasterStartTime, &pending, &st.ConfigFile); err != nil {
			return err
		}
		st.PendingRestart = pending
		if !st.InRecovery {
			var lsn, walfile string
			if err := c.QueryRow(ctx, qPrimaryWAL).Scan(&lsn, &walfile); err != nil {
				return err
			}
			var err error
			if st.WALPosition, err = ParseLSN(lsn); err != nil {
				return err
			}
			if len(walfile) >= 8 {
				tl, err := strconv.ParseUint(walfile[:8], 16, 32)
				if err != nil {
					return fmt.Errorf("wal file name %q: %w", walfile, err)
				}
				st.Timeline = int(tl)
			}
		} else {
			var recv, replay string
			var ckptTL, minRecoveryTL int
			if err := c.QueryRow(ctx, qReplicaWAL).Scan(&recv, &replay,
				&st.ReplayTimestamp, &st.ReplayPaused, &ckptTL, &minRecoveryTL); err != nil {
				return err
			}
			st.ReceiveLSN = parseLSNOrZero(recv)
			st.ReplayLSN = parseLSNOrZero(replay)
			st.WALPosition = max(st.ReceiveLSN, st.ReplayLSN)
			st.Timeline = max(ckptTL, minRecoveryTL)
			rows, err := c.Query(ctx, qWALReceiver)
			if err != nil {
				return err
			}
			for rows.Next() {
				var tli int
				if err := rows.Scan(&st.WALReceiverStatus, &st.PrimaryConnInfoHost, &tli); err != nil {
					rows.Close()
					return err
				}
				if tli > st.Timeline {
					st.Timeline = tli
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		var segSize int64
		a := &st.Archiver
		if err := c.QueryRow(ctx, qArchiver).Scan(&a.Mode, &segSize, &a.ArchivedCount, &a.FailedCount,
			&a.LastArchivedWAL, &a.LastArchivedTime, &a.LastFailedTime); err != nil {
			return err
		}
		if !st.InRecovery && a.Mode != "off" {
			a.LagBytes = ArchiveLag(st.WALPosition, a.LastArchivedWAL, uint64(segSize))
		}
		rows, err := c.Query(ctx, qReplication)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Replica
			var w, f, p string
			if err := rows.Scan(&r.Username, &r.ApplicationName, &r.ClientAddr, &r.State,
				&r.SyncState, &r.SyncPriority, &w, &f, &p); err != nil {
				return err
			}
			r.WriteLSN, r.FlushLSN, r.ReplayLSN = parseLSNOrZero(w), parseLSNOrZero(f), parseLSNOrZero(p)
			st.Replication = append(st.Replication, r)
		}
		return rows.Err()
	})
	if err != nil {
		return st, fmt.Errorf("observe %s: %w", i.cfg.DataDir, err)
	}
	return st, nil
}

func parseLSNOrZero(s string) uint64 {
	n, err := ParseLSN(s)
	if err != nil {
		return 0
	}
	return n
}

// ArchiveLag is how many bytes of WAL lie past the end of segment
// lastArchived (a WAL file name such as 000000010000000000000003) at pos;
// everything from pos's start when nothing was archived yet. A history or
// backup file name counts as nothing known.
func ArchiveLag(pos uint64, lastArchived string, segSize uint64) uint64 {
	if segSize == 0 {
		return 0
	}
	if len(lastArchived) != 24 {
		return pos
	}
	hi, err1 := strconv.ParseUint(lastArchived[8:16], 16, 32)
	lo, err2 := strconv.ParseUint(lastArchived[16:24], 16, 32)
	if err1 != nil || err2 != nil {
		return pos
	}
	segsPerID := uint64(0x100000000) / segSize
	end := (hi*segsPerID + lo + 1) * segSize
	if pos <= end {
		return 0
	}
	return pos - end
}
