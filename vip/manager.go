package vip

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Link adds and removes the address on the interface and announces it.
// Add of an address already there and Del of one already gone succeed.
type Link interface {
	Has() (bool, error)
	Add() error
	Del() error
	// Announce sends one gratuitous ARP for the address.
	Announce() error
}

// Defaults for Config.
const (
	// DefaultMargin: the address goes this long before the trust deadline.
	// The deadline itself is FenceMargin (750 ms) before any other node may
	// take the lease; the margin covers the poll and the netlink call.
	DefaultMargin = 250 * time.Millisecond
	// DefaultInterval is how often Until is looked at.
	DefaultInterval = 50 * time.Millisecond
	// verifyEvery: while held, the address is checked this often (someone,
	// the watchdog for one, may have removed it).
	verifyEvery = time.Second
	// announceEvery spaces the gratuitous ARP packets.
	announceEvery = 200 * time.Millisecond
)

// Config configures a Manager.
type Config struct {
	Addr      netip.Prefix
	Interface string
	ArpCount  int // gratuitous ARP packets after each add
	// Until returns until when this node may hold the address (zero: not now).
	Until    func() time.Time
	Now      func() time.Time // monotonic; default time.Now
	Margin   time.Duration
	Interval time.Duration
	Logger   hclog.Logger
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Margin <= 0 {
		c.Margin = DefaultMargin
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}

// Manager holds the address while Until allows it. Its state is guarded by
// stepMu, taken by each step of Run and by Withdraw; Held may be read from
// any goroutine.
type Manager struct {
	cfg  Config
	link Link
	log  hclog.Logger

	stepMu       sync.Mutex
	known        bool // the address's presence has been read or set once
	held         bool // the address is on the interface, as far as we know
	checkedAt    time.Time
	announceLeft int
	announceAt   time.Time
	failing      string // last failure logged, so it is logged once

	mu      sync.Mutex
	showing bool // held, for Held
}

// New builds a Manager; Run drives it.
func New(cfg Config, link Link) *Manager {
	cfg = cfg.withDefaults()
	return &Manager{cfg: cfg, link: link, log: cfg.Logger.Named("vip")}
}

// SetUntil sets Config.Until; call it before Run (the agent builds the
// Manager before the HA loop that answers Until exists).
func (m *Manager) SetUntil(until func() time.Time) { m.cfg.Until = until }

// Held reports whether this node holds the address.
func (m *Manager) Held() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.showing
}

// Addr and Interface describe the address, for /patroni.
func (m *Manager) Addr() netip.Prefix { return m.cfg.Addr }
func (m *Manager) Interface() string  { return m.cfg.Interface }

// Run keeps the address where Until says until ctx ends, then removes it.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.stepMu.Lock()
		m.step(m.cfg.Now())
		m.stepMu.Unlock()
		select {
		case <-ctx.Done():
			m.stepMu.Lock()
			m.remove("the agent is stopping")
			m.stepMu.Unlock()
			return
		case <-t.C:
		}
	}
}

// Withdraw removes the address now and returns once it is gone, or the
// error of the removal (Run retries it). The caller has made Until answer
// zero first (ha.Loop's withdrawEndpoint), so no later step adds it back; a
// step under way finishes before the removal (stepMu).
func (m *Manager) Withdraw() error {
	m.stepMu.Lock()
	defer m.stepMu.Unlock()
	if err := m.remove("a planned stop of the primary"); err != nil {
		return fmt.Errorf("remove %s from %s: %w", m.cfg.Addr, m.cfg.Interface, err)
	}
	return nil
}

// step is one look at Until: add, announce, verify or remove.
func (m *Manager) step(now time.Time) {
	until := m.cfg.Until()
	want := !until.IsZero() && now.Before(until.Add(-m.cfg.Margin))
	if !want {
		if m.held || !m.known {
			m.remove("not the primary under a trusted lease")
		}
		return
	}
	if m.held && now.Sub(m.checkedAt) >= verifyEvery {
		m.checkedAt = now
		if has, err := m.link.Has(); err == nil && !has {
			m.log.Warn("the floating IP was removed from the interface by someone else; adding it again", "vip", m.cfg.Addr, "interface", m.cfg.Interface)
			m.set(false)
		}
	}
	if !m.held {
		if err := m.link.Add(); err != nil {
			m.fail("adding the floating IP failed; retrying", err)
			return
		}
		m.failing = ""
		m.set(true)
		m.checkedAt = now
		m.announceLeft, m.announceAt = m.cfg.ArpCount, now
		m.log.Info("floating IP added", "vip", m.cfg.Addr, "interface", m.cfg.Interface, "until", until.Sub(now).Round(time.Millisecond))
	}
	if m.announceLeft > 0 && !now.Before(m.announceAt) {
		if err := m.link.Announce(); err != nil {
			m.fail("gratuitous ARP failed", err)
		}
		m.announceLeft--
		m.announceAt = now.Add(announceEvery)
	}
}

// remove takes the address off the interface (also when its presence is
// not known yet: an agent restarted after a crash may find it there).
func (m *Manager) remove(why string) error {
	if err := m.link.Del(); err != nil {
		m.fail("removing the floating IP failed; retrying", err)
		return err
	}
	if m.held {
		m.log.Info("floating IP removed", "vip", m.cfg.Addr, "interface", m.cfg.Interface, "reason", why)
	}
	m.failing = ""
	m.announceLeft = 0
	m.set(false)
	return nil
}

func (m *Manager) set(held bool) {
	m.known, m.held = true, held
	m.mu.Lock()
	m.showing = held
	m.mu.Unlock()
}

func (m *Manager) fail(msg string, err error) {
	if s := msg + err.Error(); s != m.failing {
		m.failing = s
		m.log.Error(msg, "vip", m.cfg.Addr, "interface", m.cfg.Interface, "error", err)
	}
}
