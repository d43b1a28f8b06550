package pgctl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// connectTimeout bounds connecting to our own server.
const connectTimeout = 3 * time.Second

// sqlConn is the part of *pgx.Conn pgctl uses; tests substitute a fake.
type sqlConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
	Close(ctx context.Context) error
	IsClosed() bool
}

// connString is how pgctl reaches its own server: the unix socket when
// SocketDir is set, else ConnectHost:ConnectPort; as the superuser, to
// database postgres.
func (i *Instance) connString() string {
	ci := ConnInfo{
		Host: i.cfg.ConnectHost, Port: i.cfg.ConnectPort,
		User: i.cfg.Superuser.Username, Password: i.cfg.Superuser.Password,
		DBName: "postgres", AppName: "conclave",
	}
	if d := i.socketDir(); d != "" {
		ci.Host, ci.Port = d, i.cfg.Port
	}
	return ci.String() + " connect_timeout=" + strconv.Itoa(int(connectTimeout/time.Second))
}

func (i *Instance) dialPgx(ctx context.Context) (sqlConn, error) {
	cfg, err := pgx.ParseConfig(i.connString())
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = connectTimeout
	return pgx.ConnectConfig(ctx, cfg)
}

// withConn runs fn on the cached connection, connecting first if needed.
// The connection is dropped after any error that is not a server-side SQL
// error, so the next call reconnects.
func (i *Instance) withConn(ctx context.Context, fn func(c sqlConn) error) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.conn != nil && i.conn.IsClosed() {
		i.conn = nil
	}
	if i.conn == nil {
		c, err := i.dial(ctx)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		i.conn = c
	}
	err := fn(i.conn)
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) {
		_ = i.conn.Close(context.Background())
		i.conn = nil
	}
	return err
}

func (i *Instance) closeConn() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.conn != nil {
		_ = i.conn.Close(context.Background())
		i.conn = nil
	}
}

// closeConnIfIdle is closeConn unless a call holds the connection right now.
func (i *Instance) closeConnIfIdle() {
	if !i.mu.TryLock() {
		return
	}
	defer i.mu.Unlock()
	if i.conn != nil {
		_ = i.conn.Close(context.Background())
		i.conn = nil
	}
}

// Close drops the cached SQL connection. The Instance stays usable.
func (i *Instance) Close() error {
	i.closeConn()
	return nil
}

// Exec runs one statement on the local server as the superuser.
func (i *Instance) Exec(ctx context.Context, sql string, args ...any) error {
	err := i.withConn(ctx, func(c sqlConn) error {
		_, err := c.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("exec %s: %w", i.cfg.DataDir, err)
	}
	return nil
}

// QueryRow runs a query returning one row and scans it into dest.
func (i *Instance) QueryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	err := i.withConn(ctx, func(c sqlConn) error {
		return c.QueryRow(ctx, sql, args...).Scan(dest...)
	})
	if err != nil {
		return fmt.Errorf("query %s: %w", i.cfg.DataDir, err)
	}
	return nil
}

// Checkpoint runs CHECKPOINT.
func (i *Instance) Checkpoint(ctx context.Context) error {
	err := i.withConn(ctx, func(c sqlConn) error {
		_, err := c.Exec(ctx, qCheckpoint)
		return err
	})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", i.cfg.DataDir, err)
	}
	return nil
}

func (i *Instance) inRecovery(ctx context.Context) (bool, error) {
	var rec bool
	err := i.withConn(ctx, func(c sqlConn) error {
		return c.QueryRow(ctx, qInRecovery).Scan(&rec)
	})
	return rec, err
}

// EnsureSlots makes the physical replication slots equal to want: missing
// ones are created (reserving WAL at once), physical slots not in want are
// dropped when inactive (an active one is kept and dropped on a later
// call). Names must be valid slot names (see SlotName).
func (i *Instance) EnsureSlots(ctx context.Context, want []string) error {
	wanted := map[string]bool{}
	for _, s := range want {
		if !validSlotName(s) {
			return fmt.Errorf("ensure slots %s: invalid slot name %q", i.cfg.DataDir, s)
		}
		wanted[s] = true
	}
	err := i.withConn(ctx, func(c sqlConn) error {
		rows, err := c.Query(ctx, qPhysicalSlots)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		var inactive []string
		for rows.Next() {
			var name string
			var active bool
			if err := rows.Scan(&name, &active); err != nil {
				rows.Close()
				return err
			}
			have[name] = true
			if !active && !wanted[name] {
				inactive = append(inactive, name)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var errs []error
		for _, s := range want {
			if have[s] {
				continue
			}
			var got string
			if err := c.QueryRow(ctx, qCreatePhysicalSlot, s).Scan(&got); err != nil {
				errs = append(errs, fmt.Errorf("create slot %s: %w", s, err))
			} else {
				i.logger.Info("created replication slot", "slot", s)
			}
		}
		for _, s := range inactive {
			if _, err := c.Exec(ctx, qDropSlot, s); err != nil {
				errs = append(errs, fmt.Errorf("drop slot %s: %w", s, err))
			} else {
				i.logger.Info("dropped replication slot", "slot", s)
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return fmt.Errorf("ensure slots %s: %w", i.cfg.DataDir, err)
	}
	return nil
}
