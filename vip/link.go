package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is the real Link: the address through rtnetlink (what `ip addr`
// does), the announcement as a raw ARP frame on an AF_PACKET socket (what
// `arping -U` sends). It acts in the network namespace of the calling
// thread, which is the process's.
type Netlink struct {
	addr  netip.Prefix
	iface string
}

// NewNetlink returns the Link for addr on the interface named iface.
func NewNetlink(addr netip.Prefix, iface string) *Netlink {
	return &Netlink{addr: addr, iface: iface}
}

func (n *Netlink) link() (netlink.Link, error) {
	l, err := netlink.LinkByName(n.iface)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", n.iface, err)
	}
	return l, nil
}

func (n *Netlink) nlAddr() *netlink.Addr {
	ip := net.IP(n.addr.Addr().AsSlice())
	return &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(n.addr.Bits(), 32)}}
}

// Has reports whether the address is on the interface.
func (n *Netlink) Has() (bool, error) {
	l, err := n.link()
	if err != nil {
		return false, err
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("list addresses of %s: %w", n.iface, err)
	}
	want := net.IP(n.addr.Addr().AsSlice())
	for _, a := range addrs {
		if a.IP.Equal(want) {
			return true, nil
		}
	}
	return false, nil
}

// Add puts the address on the interface (already there: success).
func (n *Netlink) Add() error {
	l, err := n.link()
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(l, n.nlAddr()); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", n.addr, n.iface, err)
	}
	return nil
}

// Del takes the address off the interface (not there: success).
func (n *Netlink) Del() error {
	l, err := n.link()
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(l, n.nlAddr()); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("remove %s from %s: %w", n.addr, n.iface, err)
	}
	return nil
}

// Announce broadcasts one gratuitous ARP request (sender and target
// address both the floating IP), so switches and clients move their ARP
// entry for it to this interface's MAC address.
func (n *Netlink) Announce() error {
	ifi, err := net.InterfaceByName(n.iface)
	if err != nil {
		return fmt.Errorf("interface %q: %w", n.iface, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("interface %q has no Ethernet address: no ARP to send", n.iface)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return fmt.Errorf("raw ARP socket: %w", err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index, Halen: 6}
	copy(to.Addr[:], broadcast)
	if err := unix.Sendto(fd, garp(ifi.HardwareAddr, n.addr.Addr()), 0, to); err != nil {
		return fmt.Errorf("send gratuitous ARP on %s: %w", n.iface, err)
	}
	return nil
}

var broadcast = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// garp builds the Ethernet frame of a gratuitous ARP request for ip from mac.
func garp(mac net.HardwareAddr, ip netip.Addr) []byte {
	f := make([]byte, 0, 42)
	f = append(f, broadcast...)
	f = append(f, mac...)
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_ARP)
	f = binary.BigEndian.AppendUint16(f, 1)             // hardware type: Ethernet
	f = binary.BigEndian.AppendUint16(f, unix.ETH_P_IP) // protocol type: IPv4
	f = append(f, 6, 4)                                 // address lengths
	f = binary.BigEndian.AppendUint16(f, 1)             // request
	f = append(f, mac...)
	ip4 := ip.As4()
	f = append(f, ip4[:]...)
	f = append(f, 0, 0, 0, 0, 0, 0) // target hardware address: unknown
	f = append(f, ip4[:]...)
	return f
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// CheckInterface returns an error unless the interface exists here.
func CheckInterface(iface string) error {
	if _, err := netlink.LinkByName(iface); err != nil {
		return fmt.Errorf("no network interface %q on this host (%v)", iface, err)
	}
	return nil
}
