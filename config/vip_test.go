package config

import (
	"strings"
	"testing"
)

func TestParse_VIP_ReadsTheSectionWithDefaults(t *testing.T) {
	for _, mask := range []string{"24", "'/24'", "255.255.255.0"} {
		c, err := ParseWithEnv([]byte(minimal+"vip:\n  ip: 10.0.0.10\n  netmask: "+mask+"\n  interface: eth0\n"), "conclave.yml", noEnv)
		if err != nil {
			t.Fatalf("netmask %s: %v", mask, err)
		}
		if c.VIP != (VIP{IP: "10.0.0.10", Netmask: 24, Interface: "eth0", ArpCount: DefaultArpCount}) {
			t.Fatalf("netmask %s: %+v", mask, c.VIP)
		}
		if got := c.VIP.Prefix().String(); got != "10.0.0.10/24" {
			t.Fatalf("Prefix = %s", got)
		}
	}
	c, err := ParseWithEnv([]byte(minimal+"vip:\n  ip: 10.0.0.10\n  netmask: 32\n  interface: eth0\n  arp_count: 0\n"), "conclave.yml", noEnv)
	if err != nil || c.VIP.ArpCount != 0 {
		t.Fatalf("arp_count 0: %+v, %v", c.VIP, err)
	}
	c, err = ParseWithEnv([]byte(minimal), "conclave.yml", noEnv)
	if err != nil || c.VIP.Enabled() {
		t.Fatalf("no vip section: %+v, %v", c.VIP, err)
	}
}

func TestParse_PrePromoteAndBeforeStop_AreRead(t *testing.T) {
	y := strings.Replace(minimal, "  data_dir: /tmp/data\n", "  data_dir: /tmp/data\n  pre_promote: /bin/fence --now\n  before_stop: /bin/drain\n", 1)
	c, err := ParseWithEnv([]byte(y), "conclave.yml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.PostgreSQL.PrePromote != "/bin/fence --now" || c.PostgreSQL.BeforeStop != "/bin/drain" {
		t.Fatalf("%+v", c.PostgreSQL)
	}
}

func TestParse_BadVIP_NamesTheKeyAndLine(t *testing.T) {
	tests := []struct{ name, section, want string }{
		{"no ip", "vip:\n  netmask: 24\n  interface: eth0\n", `conclave.yml:15: missing required key "vip.ip"`},
		{"not an ip", "vip:\n  ip: db.example\n  netmask: 24\n  interface: eth0\n", `conclave.yml:16: key "vip.ip": must be an IPv4 address, got "db.example"`},
		{"ipv6", "vip:\n  ip: fd00::10\n  netmask: 24\n  interface: eth0\n", `key "vip.ip": must be an IPv4 address (IPv6 floating addresses are not supported)`},
		{"loopback", "vip:\n  ip: 127.0.0.9\n  netmask: 8\n  interface: lo\n", `key "vip.ip": must be a unicast address clients can reach`},
		{"no netmask", "vip:\n  ip: 10.0.0.10\n  interface: eth0\n", `missing required key "vip.netmask"`},
		{"netmask too long", "vip:\n  ip: 10.0.0.10\n  netmask: 33\n  interface: eth0\n", `conclave.yml:17: key "vip.netmask": prefix length must be between 1 and 32, got 33`},
		{"netmask holes", "vip:\n  ip: 10.0.0.10\n  netmask: 255.0.255.0\n  interface: eth0\n", `key "vip.netmask": netmask "255.0.255.0" is not contiguous`},
		{"netmask word", "vip:\n  ip: 10.0.0.10\n  netmask: wide\n  interface: eth0\n", `key "vip.netmask": must be a prefix length (24) or a dotted netmask`},
		{"no interface", "vip:\n  ip: 10.0.0.10\n  netmask: 24\n", `missing required key "vip.interface"`},
		{"bad interface", "vip:\n  ip: 10.0.0.10\n  netmask: 24\n  interface: a/b\n", `key "vip.interface": must be a network interface name`},
		{"negative arp", "vip:\n  ip: 10.0.0.10\n  netmask: 24\n  interface: eth0\n  arp_count: -1\n", `key "vip.arp_count": must be an integer >= 0`},
		{"typo", "vip:\n  ip: 10.0.0.10\n  netmask: 24\n  interfac: eth0\n", `unknown key "vip.interfac" (did you mean "interface"?)`},
		{"connect address", "vip:\n  ip: 127.0.0.1\n  netmask: 24\n  interface: eth0\n", `key "vip.ip": must be a unicast address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseWithEnv([]byte(minimal+tt.section), "conclave.yml", noEnv)
			if err == nil {
				t.Fatalf("want error, got %+v", c.VIP)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParse_VIPEqualToConnectAddress_IsRefused(t *testing.T) {
	y := strings.Replace(minimal, "  listen: 127.0.0.1:5432\n", "  listen: 10.0.0.10:5432\n", 1)
	_, err := ParseWithEnv([]byte(y+"vip:\n  ip: 10.0.0.10\n  netmask: 24\n  interface: eth0\n"), "conclave.yml", noEnv)
	if err == nil || !strings.Contains(err.Error(), "is also postgresql.connect_address") {
		t.Fatalf("err = %v", err)
	}
}
