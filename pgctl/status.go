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
			&st.ServerVersion, &st.PostmasterStartTime, &pending); err != nil {
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
			var ckptTL int
			if err := c.QueryRow(ctx, qReplicaWAL).Scan(&recv, &replay,
				&st.ReplayTimestamp, &st.ReplayPaused, &ckptTL); err != nil {
				return err
			}
			st.ReceiveLSN = parseLSNOrZero(recv)
			st.ReplayLSN = parseLSNOrZero(replay)
			st.WALPosition = max(st.ReceiveLSN, st.ReplayLSN)
			st.Timeline = ckptTL
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
