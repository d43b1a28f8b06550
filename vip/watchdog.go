package vip

import (
	"fmt"
	"net/netip"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/watchdog"
)

// WatchdogOptions makes the watchdog process remove the floating IP when
// the lease deadline passes (the agent is paused or dead, so its Manager
// cannot). addr "" means no floating IP.
func WatchdogOptions(addr, iface string, logger hclog.Logger) ([]watchdog.Option, error) {
	if addr == "" {
		return nil, nil
	}
	p, err := netip.ParsePrefix(addr)
	if err != nil || iface == "" {
		return nil, fmt.Errorf("watchdog: --vip %q --vip-interface %q: want address/prefix and an interface", addr, iface)
	}
	link := NewNetlink(p, iface)
	return []watchdog.Option{watchdog.OnExpire(func() {
		if err := link.Del(); err != nil {
			logger.Error("removing the floating IP failed", "vip", p, "interface", iface, "error", err)
			return
		}
		logger.Warn("lease deadline passed: floating IP removed", "vip", p, "interface", iface)
	})}, nil
}
