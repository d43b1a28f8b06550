package ctl

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/certs/certtest"
)

func exampleMembers() []clusterMember {
	var ms []clusterMember
	for _, n := range []string{"1", "2", "3"} {
		ms = append(ms, clusterMember{Name: "node" + n, Host: "10.0.0." + n, Port: 5432, APIURL: "http://10.0.0." + n + ":8008/patroni"})
	}
	return ms
}

var defaultHAProxyPorts = haproxyPorts{Primary: 5000, Replica: 5001, Stats: 7000, Lag: "1MB"}

// The shipped example is the command's output for the example cluster, so
// the two cannot drift apart; haproxy -c accepts it (go test ./deploy).
func TestHAProxyConfig_RendersTheShippedFile(t *testing.T) {
	got, err := renderHAProxy(defaultHAProxyPorts, exampleMembers(), "")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../deploy/haproxy/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("renderHAProxy differs from deploy/haproxy/haproxy.cfg:\n%s", got)
	}
}

func TestHAProxyConfig_TLSAndBadMembers(t *testing.T) {
	ms := exampleMembers()
	for i := range ms {
		ms[i].APIURL = strings.Replace(ms[i].APIURL, "http:", "https:", 1)
	}
	if _, err := renderHAProxy(defaultHAProxyPorts, ms, ""); err == nil || !strings.Contains(err.Error(), "ctl.cacert") {
		t.Fatalf("https without a CA: %v", err)
	}
	got, err := renderHAProxy(defaultHAProxyPorts, ms, "/etc/conclave/ca.pem")
	if err != nil || strings.Count(string(got), "check-ssl verify required ca-file /etc/conclave/ca.pem") != 2 {
		t.Fatalf("https: %v\n%s", err, got)
	}
	if haproxy, err := exec.LookPath("haproxy"); err == nil {
		set := certtest.Write(t, t.TempDir())
		got, _ = renderHAProxy(defaultHAProxyPorts, ms, set.CA)
		cfgPath := filepath.Join(t.TempDir(), "haproxy.cfg")
		os.WriteFile(cfgPath, got, 0o600)
		if out, err := exec.Command(haproxy, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
			t.Fatalf("haproxy -c: %v\n%s", err, out)
		}
	}
	ms[1].Host = ""
	if _, err := renderHAProxy(defaultHAProxyPorts, ms, "/ca.pem"); err == nil || !strings.Contains(err.Error(), "node2") {
		t.Fatalf("member without address: %v", err)
	}
}
