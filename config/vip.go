package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultArpCount is how many gratuitous ARP packets announce the floating
// IP after it was added (vip.arp_count).
const DefaultArpCount = 3

// VIP is the vip: section: the floating IP the node whose PostgreSQL is the
// primary under a trusted lease holds (package vip). Zero IP = no VIP.
type VIP struct {
	IP        string // IPv4 address, e.g. 10.0.0.10
	Netmask   int    // prefix length, 1-32 (netmask: 24 or netmask: 255.255.255.0)
	Interface string // network interface the address is added to
	ArpCount  int    // gratuitous ARP packets sent after adding it (default 3, 0 = none)
}

// Enabled reports whether a floating IP is configured.
func (v VIP) Enabled() bool { return v.IP != "" }

// Prefix is the address with its prefix length (valid after Load).
func (v VIP) Prefix() netip.Prefix {
	a, err := netip.ParseAddr(v.IP)
	if err != nil {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, v.Netmask)
}

func (d *decoder) vip(dst *VIP) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		arp := -1
		d.mapping(v, key, []field{
			{"ip", d.str(&dst.IP)},
			{"netmask", d.netmask(&dst.Netmask)},
			{"interface", d.str(&dst.Interface)},
			{"arp_count", d.integer(&arp, 0)},
		}, nil)
		dst.ArpCount = DefaultArpCount
		if arp >= 0 {
			dst.ArpCount = arp
		}
	}
}

// netmask accepts a prefix length (24, "24", "/24") or a dotted mask
// ("255.255.255.0").
func (d *decoder) netmask(dst *int) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		v = resolve(v)
		if isNull(v) {
			return
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!bool" {
			d.errorf(key, "must be a prefix length (24) or a dotted netmask (255.255.255.0), got %s", describe(v))
			return
		}
		s := strings.TrimPrefix(strings.TrimSpace(v.Value), "/")
		if n, err := strconv.Atoi(s); err == nil {
			if n < 1 || n > 32 {
				d.errorf(key, "prefix length must be between 1 and 32, got %d", n)
				return
			}
			*dst = n
			return
		}
		ip := net.ParseIP(s).To4()
		if ip == nil {
			d.errorf(key, "must be a prefix length (24) or a dotted netmask (255.255.255.0), got %q", v.Value)
			return
		}
		ones, bits := net.IPMask(ip).Size()
		if bits == 0 || ones == 0 {
			d.errorf(key, "netmask %q is not contiguous ones then zeros", v.Value)
			return
		}
		*dst = ones
	}
}

// validateVIP checks the vip: section once it is decoded: an IPv4 address
// (gratuitous ARP is IPv4's announcement), a netmask and an interface.
func (d *decoder) validateVIP(c *Config) {
	v := &c.VIP
	if !d.isSet("vip") {
		return
	}
	if v.IP == "" {
		d.errs = append(d.errs, fmt.Errorf("%s: missing required key %q (the floating IP; remove the vip: section to run without one)", d.where("vip.ip"), "vip.ip"))
		return
	}
	a, err := netip.ParseAddr(v.IP)
	switch {
	case err != nil:
		d.errorf("vip.ip", "must be an IPv4 address, got %q", v.IP)
		return
	case !a.Is4():
		d.errorf("vip.ip", "must be an IPv4 address (IPv6 floating addresses are not supported), got %q", v.IP)
		return
	case a.IsLoopback() || a.IsUnspecified() || a.IsMulticast():
		d.errorf("vip.ip", "must be a unicast address clients can reach, got %q", v.IP)
		return
	}
	if v.Netmask == 0 {
		d.errs = append(d.errs, fmt.Errorf("%s: missing required key %q (prefix length such as 24)", d.where("vip.netmask"), "vip.netmask"))
	}
	if v.Interface == "" {
		d.errs = append(d.errs, fmt.Errorf("%s: missing required key %q (the network interface to add %s to)", d.where("vip.interface"), "vip.interface", v.IP))
	} else if len(v.Interface) > 15 || strings.ContainsAny(v.Interface, "/ \t") {
		d.errorf("vip.interface", "must be a network interface name (at most 15 characters, no '/' or spaces), got %q", v.Interface)
	}
	if pg := c.PostgreSQL.ConnectAddress; pg != "" {
		if h, _, err := net.SplitHostPort(pg); err == nil && h == v.IP {
			d.errorf("vip.ip", "%s is also postgresql.connect_address: replicas would follow whichever node holds the floating IP; use the node's own address there", v.IP)
		}
	}
}
