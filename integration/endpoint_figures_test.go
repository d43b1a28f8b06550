//go:build integration && figures

package integration

// README figures for the service endpoint (issue 12), not part of make test:
//
//	make build && go test -tags 'integration figures' -count=1 -timeout 15m -run TestFigures_ -v ./integration/
//
// Ten times: kill the primary's agent and postmaster, and time the first
// write after the kill through the floating IP, through HAProxy (in the
// client namespace, the README's checks: OPTIONS /primary, inter 1s fall 2
// rise 1) and through the libpq multi-host string with
// target_session_attrs=read-write (the writer of setUp); then restart the
// killed node and wait until the cluster converged.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func startHAProxy(t *testing.T, tb *testbed, c *cluster, port int) {
	t.Helper()
	var servers strings.Builder
	for _, n := range c.nodes {
		fmt.Fprintf(&servers, "    server %s %s:%d check port %d\n", n.name, n.host, n.pgPort, n.apiPort)
	}
	cfg := fmt.Sprintf(`global
    maxconn 200
defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s
listen primary
    bind %s:%d
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
%s`, tb.addr(100), port, servers.String())
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", tb.client, "haproxy", "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		skipOrFail(t, "haproxy: "+err.Error())
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func TestFigures_EndpointFailover_VIPHAProxyMultiHost(t *testing.T) {
	tb := newTestbed(t, 3)
	ip := tb.addr(200)
	b := setUpVIP(t, tb, ip)
	haPort := freePort(t)
	startHAProxy(t, tb, b.c, haPort)
	vipC := startEndpointClient(t, tb, ip, b.leader.pgPort, "vip")
	haC := startEndpointClient(t, tb, tb.addr(100), haPort, "haproxy")
	vipC.waitWrites(t, time.Now().Add(-time.Minute), 15*time.Second)
	haC.waitWrites(t, time.Now().Add(-time.Minute), 15*time.Second)
	var vipD, haD, mhD []time.Duration
	leader := b.leader
	for i := 0; i < 10; i++ {
		t0 := time.Now()
		killAgent(t, leader)
		killPostmaster(t, leader)
		next := waitLeaderAmong(t, b.c, b.others(leader), leader, 30*time.Second)
		v := vipC.waitWritesOn(t, next, t0, 30*time.Second)
		h := haC.waitWritesOn(t, next, t0, 30*time.Second)
		m := b.w.waitWritesOn(t, next, t0, 30*time.Second)
		vipD, haD, mhD = append(vipD, v), append(haD, h), append(mhD, m)
		t.Logf("run %d: killed %s, %s leads; first write through the VIP %v, HAProxy %v, multi-host %v", i+1, leader.name, next.name,
			v.Round(time.Millisecond), h.Round(time.Millisecond), m.Round(time.Millisecond))
		leader.start()
		leader = waitConverged(b.c, 90*time.Second)
	}
	t.Logf("median of %d: VIP %v, HAProxy %v, multi-host %v", len(vipD),
		median(vipD).Round(time.Millisecond), median(haD).Round(time.Millisecond), median(mhD).Round(time.Millisecond))
	b.finish(asyncMode)
}
