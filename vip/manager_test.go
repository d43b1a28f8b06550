package vip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeLink struct {
	mu        sync.Mutex
	has       bool
	addErr    error
	delErr    error
	announced int
	calls     []string
}

func (f *fakeLink) Has() (bool, error) { f.mu.Lock(); defer f.mu.Unlock(); return f.has, nil }
func (f *fakeLink) Add() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "add")
	if f.addErr != nil {
		return f.addErr
	}
	f.has = true
	return nil
}
func (f *fakeLink) Del() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "del")
	if f.delErr != nil {
		return f.delErr
	}
	f.has = false
	return nil
}
func (f *fakeLink) Announce() error { f.mu.Lock(); defer f.mu.Unlock(); f.announced++; return nil }
func (f *fakeLink) present() bool   { f.mu.Lock(); defer f.mu.Unlock(); return f.has }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fixture: a manager whose Until is set by the test.
type fixture struct {
	m     *Manager
	link  *fakeLink
	until time.Time
}

func newFixture(arp int) *fixture {
	f := &fixture{link: &fakeLink{}}
	f.m = New(Config{Addr: netip.MustParsePrefix("10.0.0.10/24"), Interface: "eth0", ArpCount: arp,
		Until: func() time.Time { return f.until }}, f.link)
	return f
}

func TestManager_PrimaryUnderTrustedLease_AddsAndAnnounces(t *testing.T) {
	f := newFixture(3)
	f.until = t0.Add(2 * time.Second)
	f.m.step(t0)
	if !f.link.present() || !f.m.Held() || f.link.announced != 1 {
		t.Fatalf("present %v held %v announced %d", f.link.present(), f.m.Held(), f.link.announced)
	}
	f.m.step(t0.Add(100 * time.Millisecond)) // spaced: not yet
	f.m.step(t0.Add(200 * time.Millisecond))
	f.m.step(t0.Add(400 * time.Millisecond))
	f.m.step(t0.Add(600 * time.Millisecond)) // ArpCount reached
	if f.link.announced != 3 {
		t.Fatalf("announced %d, want 3", f.link.announced)
	}
}

func TestManager_RemovesMarginBeforeTheTrustDeadline(t *testing.T) {
	f := newFixture(0)
	f.until = t0.Add(2 * time.Second)
	f.m.step(t0)
	f.m.step(f.until.Add(-DefaultMargin - time.Millisecond))
	if !f.link.present() {
		t.Fatal("removed before the margin")
	}
	f.m.step(f.until.Add(-DefaultMargin))
	if f.link.present() || f.m.Held() {
		t.Fatal("still held at deadline - margin")
	}
	// A renewal moves the deadline: added again.
	f.until = f.until.Add(2 * time.Second)
	f.m.step(t0.Add(2 * time.Second))
	if !f.link.present() {
		t.Fatal("not added again after the renewal")
	}
	// Demoted, fenced or lease dropped: Until is zero at once.
	f.until = time.Time{}
	f.m.step(t0.Add(2100 * time.Millisecond))
	if f.link.present() {
		t.Fatal("still held without a lease")
	}
}

func TestManager_ReplicaAtStart_RemovesALeftoverAddress(t *testing.T) {
	f := newFixture(3)
	f.link.has = true // left by an earlier run
	f.m.step(t0)
	if f.link.present() || f.m.Held() || f.link.announced != 0 {
		t.Fatalf("a replica holds the address: present %v", f.link.present())
	}
	calls := len(f.link.calls)
	f.m.step(t0.Add(time.Second))
	if len(f.link.calls) != calls {
		t.Fatalf("a known-absent address is removed again every step: %v", f.link.calls)
	}
}

func TestManager_RemoveFails_StaysHeldAndRetries(t *testing.T) {
	f := newFixture(0)
	f.until = t0.Add(2 * time.Second)
	f.m.step(t0)
	f.link.delErr = errors.New("operation not permitted")
	f.until = time.Time{}
	f.m.step(t0.Add(50 * time.Millisecond))
	if !f.m.Held() {
		t.Fatal("Held false while the address could not be removed")
	}
	f.link.delErr = nil
	f.m.step(t0.Add(100 * time.Millisecond))
	if f.m.Held() || f.link.present() {
		t.Fatal("not removed on retry")
	}
}

func TestManager_AddFails_NotShownHeld(t *testing.T) {
	f := newFixture(3)
	f.link.addErr = errors.New("operation not permitted")
	f.until = t0.Add(2 * time.Second)
	f.m.step(t0)
	if f.m.Held() || f.link.announced != 0 {
		t.Fatal("shown held or announced after a failed add")
	}
	f.link.addErr = nil
	f.m.step(t0.Add(50 * time.Millisecond))
	if !f.m.Held() {
		t.Fatal("not added on retry")
	}
}

func TestManager_RemovedBySomeoneElse_AddedAgainWhileStillPrimary(t *testing.T) {
	f := newFixture(1)
	f.until = t0.Add(10 * time.Second)
	f.m.step(t0)
	f.link.has = false // e.g. the watchdog after a pause, then a renewal
	f.m.step(t0.Add(verifyEvery))
	if !f.link.present() || f.link.announced != 2 {
		t.Fatalf("present %v announced %d", f.link.present(), f.link.announced)
	}
}

func TestManager_Run_RemovesTheAddressWhenStopped(t *testing.T) {
	f := newFixture(0)
	f.until = time.Now().Add(time.Hour)
	f.m.cfg.Now = time.Now
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.m.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !f.m.Held() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if f.link.present() || f.m.Held() {
		t.Fatal("address kept after Run returned")
	}
}

func TestGARP_FrameLayout(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	f := garp(mac, netip.MustParseAddr("10.0.0.10"))
	if len(f) != 42 {
		t.Fatalf("frame length %d", len(f))
	}
	want := "ffffffffffff020000000001" + "0806" + "0001" + "0800" + "0604" + "0001" + "020000000001" + "0a00000a" + "000000000000" + "0a00000a"
	if got := hexOf(f); got != want {
		t.Fatalf("frame\n got %s\nwant %s", got, want)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(digits[c>>4])
		s.WriteByte(digits[c&15])
	}
	return s.String()
}

func TestCheckCapEff(t *testing.T) {
	eff, err := parseCapSet("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000000003000\n", "CapEff")
	if err != nil || checkCapEff(eff) != nil {
		t.Fatalf("both present: %x, %v, %v", eff, err, checkCapEff(eff))
	}
	if _, err := parseCapSet("Name:\tx\n", "CapAmb"); err == nil {
		t.Fatal("no CapAmb line: no error")
	}
	err = checkCapEff(0x1000)
	if err == nil || !strings.Contains(err.Error(), "lacks CAP_NET_RAW") || !strings.Contains(err.Error(), "AmbientCapabilities=") {
		t.Fatalf("missing NET_RAW: %v", err)
	}
	if err := checkCapEff(0); err == nil || !strings.Contains(err.Error(), "CAP_NET_ADMIN and CAP_NET_RAW") {
		t.Fatalf("none: %v", err)
	}
}

// Withdraw removes a held address at once and reports a removal that
// failed; once Until answers zero no later step adds it back.
func TestManager_Withdraw_RemovesNowAndReportsFailure(t *testing.T) {
	f := newFixture(0)
	f.until = t0.Add(2 * time.Second)
	f.m.step(t0)
	f.link.mu.Lock()
	f.link.delErr = errors.New("operation not permitted")
	f.link.mu.Unlock()
	if err := f.m.Withdraw(); err == nil || !strings.Contains(err.Error(), "10.0.0.10/24") || !f.m.Held() {
		t.Fatalf("failed removal: %v, held %v; want an error naming the address and the address still shown held", err, f.m.Held())
	}
	f.link.mu.Lock()
	f.link.delErr = nil
	f.link.mu.Unlock()
	f.until = time.Time{} // the loop's withdrawEndpoint sets this first
	if err := f.m.Withdraw(); err != nil || f.link.present() || f.m.Held() {
		t.Fatalf("Withdraw: %v, present %v, held %v", err, f.link.present(), f.m.Held())
	}
	f.m.step(t0.Add(50 * time.Millisecond))
	if f.link.present() {
		t.Fatal("a step after the withdrawal added the address back")
	}
}
