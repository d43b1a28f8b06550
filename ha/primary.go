package ha

import (
	"context"
	"fmt"
	"time"
)

// PrimaryUntil is until when this node may present itself to clients as
// the primary (the floating IP, package vip): the trust deadline of its
// lease as the watchdog is armed with it (Lease.Deadline, so a suspend
// counts), while the state names this node as the holder of that tenure,
// PostgreSQL was last seen running as a primary and no planned stop of it
// is under way (withdrawEndpoint). Zero otherwise: no key, a lease dropped
// or revoked (demotion, fence, release, lost key, hand-over), a PostgreSQL
// that is down or a standby, a hand-over or restart in place running.
//
// The deadline is FenceMargin before any other node may take the key
// (ha/lease.go), so whoever acts on it before it passes acts before a new
// primary can exist. It may be read from any goroutine.
func (l *Loop) PrimaryUntil() time.Time {
	st := l.cluster.State()
	if st.Leader == nil || st.Leader.Member != l.cfg.Name {
		return time.Time{}
	}
	if epoch, _ := l.lease.TrustUntil(); epoch != st.Leader.Epoch {
		return time.Time{}
	}
	l.mu.Lock()
	pg, withdrawn := l.snap.PG, l.withdrawn
	l.mu.Unlock()
	if withdrawn || !pg.Running || pg.InRecovery {
		return time.Time{}
	}
	return l.lease.Deadline(l.cfg.Clock.Now(), l.cfg.Boottime())
}

// withdrawEndpoint runs before a planned stop of this node's writable
// primary (a hand-over, a restart in place): PrimaryUntil answers zero from
// here until the turn publishes what it observed after the step, and
// Config.Withdraw has removed the floating IP when it returns. So the
// address is gone while PostgreSQL still runs as primary under the lease,
// strictly before the stop, and a hand-over's candidate, which may take the
// key only after the HandOver proposed after this commits, adds it later in
// every interleaving. After a restart in place the address comes back only
// once the turn observed PostgreSQL running as primary again under a
// trusted lease (DESIGN.md, "The service endpoint").
func (l *Loop) withdrawEndpoint(ctx context.Context) error {
	l.mu.Lock()
	l.withdrawn = true
	l.mu.Unlock()
	if l.cfg.Withdraw == nil {
		return nil
	}
	if err := l.cfg.Withdraw(ctx); err != nil {
		return fmt.Errorf("removing the floating IP before stopping the primary: %w", err)
	}
	return nil
}
