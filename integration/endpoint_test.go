//go:build integration

package integration

// The service endpoint (issue 12): callback scripts and pre_promote on real
// agents, and the floating IP in network namespaces.

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// withNetCaps runs name as postgres keeping CAP_NET_ADMIN and CAP_NET_RAW
// as ambient capabilities (shared/FAULTS.md; systemd's AmbientCapabilities=).
func withNetCaps(name string, args ...string) *exec.Cmd {
	return exec.Command("setpriv", append([]string{"--reuid=postgres", "--regid=postgres", "--init-groups",
		"--inh-caps=+net_admin,+net_raw", "--ambient-caps=+net_admin,+net_raw", "--", name}, args...)...)
}

// writeScript writes an executable script the postgres user can run.
func writeScript(t testing.TB, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, path)
	return path
}

// events reads what a node's scripts recorded, one line per call.
func events(n *node) []string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "events"))
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// callbacksYAML configures every callback as `cb EVENTS`, for events(n).
func callbacksYAML(n *node, cb string) string {
	var b strings.Builder
	b.WriteString("  callbacks:\n")
	for _, a := range []string{"on_start", "on_stop", "on_restart", "on_reload", "on_role_change"} {
		fmt.Fprintf(&b, "    %s: %s %s\n", a, cb, filepath.Join(n.dir, "events"))
	}
	return b.String()
}

// Callbacks run as `SCRIPT action role scope` on bootstrap and on failover,
// and a vetoing pre_promote hands the promotion to the next candidate. The
// pre_promote script vetoes exactly once in the whole cluster (the first
// call creates a shared marker), so whichever replica tries first is vetoed
// and the other must win.
func TestCallbacks_BootstrapAndFailover_VetoedPrePromoteLetsTheNextCandidateWin(t *testing.T) {
	shared := filepath.Join(workDir(t), "veto-once")
	var c *cluster
	c = newCluster(t, 3, clusterOptions{extra: func(n *node) string {
		cb := writeScript(t, filepath.Join(n.dir, "cb.sh"), `out=$1; shift; echo "$*" >> "$out"`)
		pre := writeScript(t, filepath.Join(n.dir, "pre.sh"),
			`echo pre_promote >> "$1"; if mkdir "$2" 2>/dev/null; then echo vetoed >> "$1"; exit 1; fi`)
		return callbacksYAML(n, cb) + fmt.Sprintf("  pre_promote: %s %s %s\n", pre, filepath.Join(n.dir, "events"), shared)
	}})
	c.startAll()
	old := c.waitHealthy(60 * time.Second)
	waitFor(t, 10*time.Second, "on_start callbacks of all three nodes", func() error {
		for _, n := range c.nodes {
			want := "on_start replica " + c.scope
			if n == old {
				want = "on_start primary " + c.scope
			}
			if !slices.Contains(events(n), want) {
				return fmt.Errorf("%s recorded %q, want %q", n.name, events(n), want)
			}
		}
		return nil
	})
	if slices.Contains(events(old), "on_start replica "+c.scope) || slices.Contains(events(old), "pre_promote") {
		t.Errorf("the bootstrap leader %s recorded %q: want only on_start primary", old.name, events(old))
	}

	t0 := time.Now()
	killAgent(t, old)
	killPostmaster(t, old)
	var others []*node
	for _, n := range c.nodes {
		if n != old {
			others = append(others, n)
		}
	}
	// The first to take the key may be the one vetoed (it holds the key
	// while pre_promote runs), so the winner is the one that promoted.
	var winner *node
	waitFor(t, 30*time.Second, "on_role_change primary on a replica", func() error {
		for _, n := range others {
			if slices.Contains(events(n), "on_role_change primary "+c.scope) {
				winner = n
				return nil
			}
		}
		return fmt.Errorf("%s recorded %q, %s recorded %q", others[0].name, events(others[0]), others[1].name, events(others[1]))
	})
	if got := waitLeaderAmong(t, c, others, old, 30*time.Second); got != winner {
		t.Errorf("%s leads, but %s promoted", got.name, winner.name)
	}
	t.Logf("%s leads %v after the kill", winner.name, time.Since(t0).Round(time.Millisecond))
	loser := others[0]
	if loser == winner {
		loser = others[1]
	}
	ev := events(winner)
	if i := slices.Index(ev, "pre_promote"); i < 0 || i > slices.Index(ev, "on_role_change primary "+c.scope) {
		t.Errorf("%s: pre_promote did not run before the promotion: %q", winner.name, ev)
	}
	// The veto happened, on the node that lost, and it never promoted.
	if !slices.Contains(events(loser), "vetoed") {
		t.Errorf("the loser %s was not vetoed (%q): the veto was not exercised, %s won first", loser.name, events(loser), winner.name)
	}
	if slices.Contains(events(winner), "vetoed") {
		t.Errorf("the winner %s was vetoed: %q", winner.name, events(winner))
	}
	if slices.Contains(events(loser), "on_role_change primary "+c.scope) {
		t.Errorf("the vetoed %s was promoted: %q", loser.name, events(loser))
	}
	// The vetoed node follows the winner.
	waitFor(t, 20*time.Second, loser.name+" streams from "+winner.name, func() error {
		role, state, _, err := winner.member(loser.name)
		if err != nil || role == "leader" || state != "streaming" {
			return fmt.Errorf("%s is %s/%s (%v)", loser.name, role, state, err)
		}
		return nil
	})
}

// vipSampler reads, every 20 ms and through netlink inside each node's
// namespace, which namespaces hold the floating IP.
type vipSampler struct {
	t       testing.TB
	ip      string
	mu      sync.Mutex
	samples []vipSample
	stop    chan struct{}
	done    chan struct{}
}

type vipSample struct {
	at      time.Time
	holders []int // 1-based node indexes
}

func startVIPSampler(t testing.TB, tb *testbed, ip string) *vipSampler {
	t.Helper()
	var handles []*netlink.Handle
	for _, ns := range tb.nodes {
		nsh, err := netns.GetFromName(ns)
		if err != nil {
			t.Fatalf("open namespace %s: %v", ns, err)
		}
		h, err := netlink.NewHandleAt(nsh)
		nsh.Close()
		if err != nil {
			t.Fatalf("netlink in %s: %v", ns, err)
		}
		handles = append(handles, h)
	}
	s := &vipSampler{t: t, ip: ip, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var holders []int
			for i, h := range handles {
				addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
				if err != nil {
					continue
				}
				for _, a := range addrs {
					if a.IP.String() == ip {
						holders = append(holders, i+1)
					}
				}
			}
			s.mu.Lock()
			s.samples = append(s.samples, vipSample{at: time.Now(), holders: holders})
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	// Before the test bed's teardown (cleanups run last in, first out):
	// the handles keep no namespace alive after it is deleted.
	t.Cleanup(func() {
		s.halt()
		for _, h := range handles {
			h.Close()
		}
	})
	return s
}

func (s *vipSampler) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// holders is the last sample.
func (s *vipSampler) holders() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return nil
	}
	return s.samples[len(s.samples)-1].holders
}

// neverTwo fails when any sample saw the address in two namespaces.
func (s *vipSampler) neverTwo() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.samples {
		if len(x.holders) > 1 {
			s.t.Errorf("at %s the floating IP was on nodes %v at once", x.at.Format("15:04:05.000"), x.holders)
			return
		}
	}
}

// handover checks that after since, from's last sample holding the address
// precedes to's first one, and returns both.
func (s *vipSampler) handover(from, to int, since time.Time) (lastFrom, firstTo time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.samples {
		if x.at.Before(since) {
			continue
		}
		if slices.Contains(x.holders, from) {
			lastFrom = x.at
		}
		if slices.Contains(x.holders, to) && firstTo.IsZero() {
			firstTo = x.at
		}
	}
	if firstTo.IsZero() {
		s.t.Errorf("node %d never held the floating IP after %s", to, since.Format("15:04:05.000"))
	} else if !lastFrom.IsZero() && !lastFrom.Before(firstTo) {
		s.t.Errorf("node %d still held the floating IP at %s, when node %d had it since %s", from,
			lastFrom.Format("15:04:05.000"), to, firstTo.Format("15:04:05.000"))
	}
	return lastFrom, firstTo
}

// vipClient writes through the floating IP from the client namespace.
type vipClient struct {
	mu   sync.Mutex
	oks  []endpointWrite
	stop chan struct{}
	wg   sync.WaitGroup
}

// endpointWrite is an acknowledged write and the listen_addresses of the
// server that took it (each node's starts with its own address).
type endpointWrite struct {
	at     time.Time
	server string
}

func startVIPClient(t testing.TB, tb *testbed, ip string, port int) *vipClient {
	return startEndpointClient(t, tb, ip, port, "vip")
}

// startEndpointClient writes through host:port (the floating IP, HAProxy)
// from the client namespace every 50 ms, reconnecting after each error.
func startEndpointClient(t testing.TB, tb *testbed, ip string, port int, label string) *vipClient {
	v := &vipClient{stop: make(chan struct{})}
	dial := nsDialer(tb.client)
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		var conn *pgx.Conn
		var server string
		for {
			select {
			case <-v.stop:
				if conn != nil {
					conn.Close(context.Background())
				}
				return
			case <-time.After(50 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if conn == nil {
				cfg, _ := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=postgres password=super-secret dbname=postgres sslmode=disable connect_timeout=1", ip, port))
				cfg.DialFunc = dial
				cfg.RuntimeParams["synchronous_commit"] = "local"
				c, err := pgx.ConnectConfig(ctx, cfg)
				if err == nil {
					err = c.QueryRow(ctx, "SELECT current_setting('listen_addresses')").Scan(&server)
				}
				if err != nil {
					if c != nil {
						c.Close(context.Background())
					}
					cancel()
					continue
				}
				conn = c
			}
			_, err := conn.Exec(ctx, "INSERT INTO probe (node) VALUES ('"+label+"')")
			cancel()
			if err != nil {
				conn.Close(context.Background())
				conn = nil
				continue
			}
			v.mu.Lock()
			v.oks = append(v.oks, endpointWrite{at: time.Now(), server: server})
			v.mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(v.stop); v.wg.Wait() })
	return v
}

// firstOKAfter is the first write through the endpoint after t0, taken by
// the server listening on host ("" = any).
func (v *vipClient) firstOKAfter(t0 time.Time, host string) (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, w := range v.oks {
		if w.at.After(t0) && (host == "" || strings.HasPrefix(w.server, host+",")) {
			return w.at, true
		}
	}
	return time.Time{}, false
}

// waitWrites waits for a write through the endpoint after t0 on any server.
func (v *vipClient) waitWrites(t testing.TB, t0 time.Time, d time.Duration) time.Duration {
	t.Helper()
	return v.waitWritesOn(t, nil, t0, d)
}

// waitWritesOn waits for a write through the endpoint after t0 taken by n
// (nil: any), and returns how long after t0 it was acknowledged. A failover
// is timed on the new primary: writes the old one still took right after t0
// (its postmaster is killed after its agent) do not count.
func (v *vipClient) waitWritesOn(t testing.TB, n *node, t0 time.Time, d time.Duration) time.Duration {
	t.Helper()
	host, what := "", "a write through the endpoint"
	if n != nil {
		host, what = n.host, what+" on "+n.name
	}
	var at time.Time
	waitFor(t, d, what, func() error {
		var ok bool
		if at, ok = v.firstOKAfter(t0, host); !ok {
			return errors.New("none yet")
		}
		return nil
	})
	return at.Sub(t0)
}

// vipJSONOf reads /patroni's vip field.
func vipJSONOf(n *node) (held bool, err error) {
	var body struct {
		VIP *struct {
			Address string `json:"address"`
			Held    bool   `json:"held"`
		} `json:"vip"`
	}
	code, err := getJSONWith(n.http(), n.apiURL()+"/patroni", &body)
	if err != nil {
		return false, err
	}
	if code != http.StatusOK || body.VIP == nil {
		return false, fmt.Errorf("/patroni: HTTP %d, vip %v", code, body.VIP)
	}
	return body.VIP.Held, nil
}

// The floating IP sits on the primary only, follows a cut-off primary's
// replacement only after the cut-off one dropped it (its agent, at its trust
// deadline), then follows the replacement of a killed primary only after that
// one's watchdog dropped it; a client writing through it gets through to
// each new primary.
func TestVIP_OnThePrimaryOnly_MovesOnFailover_DroppedBeforeTheNewPrimaryAddsIt(t *testing.T) {
	tb := newTestbed(t, 3)
	ip := tb.addr(200)
	b := setUpVIP(t, tb, ip)
	s := startVIPSampler(t, tb, ip)
	idx := b.c.nodeIndex
	waitFor(t, 10*time.Second, "the floating IP on "+b.leader.name+" only", func() error {
		if h := s.holders(); !slices.Equal(h, []int{idx(b.leader)}) {
			return fmt.Errorf("held by %v", h)
		}
		for _, n := range b.c.nodes {
			if held, err := vipJSONOf(n); err != nil || held != (n == b.leader) {
				return fmt.Errorf("%s /patroni vip held=%v (%v)", n.name, held, err)
			}
		}
		return nil
	})
	client := startVIPClient(t, tb, ip, b.leader.pgPort)
	client.waitWrites(t, time.Now().Add(-time.Minute), 10*time.Second)
	// PostgreSQL does not inherit the agent's network capabilities (a
	// superuser's COPY ... PROGRAM must not reconfigure the host's network);
	// the watchdog, which removes the address when it fences, keeps them.
	// A cgo build (the -race agent of `make integration-race`) cannot clear
	// them: the agent must then say so, as DESIGN's known limits tell.
	if pm := capSets(t, b.leader.postmasterPID()); pm["CapEff"]&netCaps != 0 || pm["CapAmb"] != 0 {
		if !builtWithCgo(t, binary) {
			t.Errorf("%s's postmaster has capabilities: %x", b.leader.name, pm)
		} else if !b.leader.logs.contains("the ambient capabilities could not be cleared in a binary built with cgo") {
			t.Errorf("%s (a cgo build) passed its capabilities to PostgreSQL without the warning that says so", b.leader.name)
		}
	}
	if wd := capSets(t, b.leader.watchdogPID()); wd["CapEff"]&netCaps != netCaps {
		t.Errorf("%s's watchdog lacks CAP_NET_ADMIN and CAP_NET_RAW: %x", b.leader.name, wd)
	}

	// 1. The primary is cut off: its agent drops the address at its trust
	// deadline, before anyone else may take the lease.
	cut := b.leader
	t0 := time.Now()
	tb.isolate(idx(cut))
	second := waitLeaderAmong(t, b.c, b.others(cut), cut, 30*time.Second)
	d := client.waitWritesOn(t, second, t0, 30*time.Second)
	lastOld, firstNew := s.handover(idx(cut), idx(second), t0)
	t.Logf("cut-off %s dropped the VIP %v after the cut; %s added it %v after the cut; first write through the VIP %v after the cut",
		cut.name, lastOld.Sub(t0).Round(time.Millisecond), second.name, firstNew.Sub(t0).Round(time.Millisecond), d.Round(time.Millisecond))
	tb.heal(idx(cut))
	waitConverged(b.c, 90*time.Second)

	// 2. The primary's agent and postmaster are killed: its watchdog drops
	// the address at the deadline.
	t1 := time.Now()
	killAgent(t, second)
	killPostmaster(t, second)
	third := waitLeaderAmong(t, b.c, b.others(second), second, 30*time.Second)
	d = client.waitWritesOn(t, third, t1, 30*time.Second)
	lastOld, firstNew = s.handover(idx(second), idx(third), t1)
	t.Logf("killed %s's watchdog dropped the VIP %v after the kill; %s added it %v after the kill; first write through the VIP %v after the kill",
		second.name, lastOld.Sub(t1).Round(time.Millisecond), third.name, firstNew.Sub(t1).Round(time.Millisecond), d.Round(time.Millisecond))
	if !strings.Contains(second.watchdogLog(), "floating IP removed") {
		t.Errorf("%s's watchdog did not log removing the floating IP:\n%s", second.name, second.watchdogLog())
	}
	second.start()
	b.finish(asyncMode)
	s.neverTwo()
}

// netCaps are CAP_NET_ADMIN and CAP_NET_RAW as bits of a capability set.
const netCaps = 1<<12 | 1<<13

// builtWithCgo reports whether the agent binary at path was built with cgo.
func builtWithCgo(t testing.TB, path string) bool {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("build info of %s: %v", path, err)
	}
	for _, s := range info.Settings {
		if s.Key == "CGO_ENABLED" {
			return s.Value == "1"
		}
	}
	return false
}

// capSets reads the capability sets (CapEff, CapAmb…) of process pid.
func capSets(t testing.TB, pid int) map[string]uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("capabilities of pid %d: %v", pid, err)
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":\t"); ok && strings.HasPrefix(k, "Cap") {
			out[k], _ = strconv.ParseUint(v, 16, 64)
		}
	}
	return out
}

// setUpVIP starts three agents in tb's namespaces with the floating IP ip,
// each PostgreSQL on the same port and listening on ip too.
func setUpVIP(t *testing.T, tb *testbed, ip string) *bed {
	t.Helper()
	return setUpVIPWith(t, tb, ip, nil)
}

// setUpVIPWith is setUpVIP with more of each node's configuration (more).
func setUpVIPWith(t *testing.T, tb *testbed, ip string, more func(n *node) string) *bed {
	t.Helper()
	opts := clusterOptions{
		place: func(c *cluster) {
			tb.place(c)
			for i, n := range c.nodes {
				n.pgPort = c.nodes[0].pgPort // one port behind the one address, as in production
				n.netCaps = true
				// PostgreSQL listens on the floating IP too, whether or not
				// it is here yet (README: ip_nonlocal_bind, or listen on 0.0.0.0).
				n.pgListen = n.host + "," + ip
				tb.ip("netns", "exec", tb.nodes[i], "sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1")
			}
		},
		extra: func(n *node) string {
			v := fmt.Sprintf("vip:\n  ip: %s\n  netmask: 24\n  interface: %s-e%s\n  arp_count: 2\n", ip, tb.prefix, strings.TrimPrefix(n.name, "node"))
			if more != nil {
				v = more(n) + v // more's keys may continue the postgresql: section
			}
			return v
		},
	}
	return setUp(t, opts, nil)
}

// An agent with a vip: section but without CAP_NET_ADMIN and CAP_NET_RAW
// (run as postgres through runuser, which drops every capability) refuses to
// start, says which capabilities it lacks and how to give them, and starts
// nothing.
func TestVIP_WithoutCapabilities_AgentRefusesToStartWithAClearError(t *testing.T) {
	if !asRoot {
		skipOrFail(t, "dropping capabilities through runuser needs root")
	}
	c := newCluster(t, 1, clusterOptions{extra: func(*node) string {
		return "vip:\n  ip: 10.213.254.200\n  netmask: 24\n  interface: lo\n"
	}})
	n := c.nodes[0]
	n.start()
	err := n.wait(20 * time.Second)
	if err == nil {
		t.Fatal("the agent started without the capabilities the floating IP needs")
	}
	if !n.logs.containsAll("lacks CAP_NET_ADMIN and CAP_NET_RAW", "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW", n.cfgPath) {
		t.Errorf("the error does not name the capabilities, the fix and the file")
	}
	if _, err := os.Stat(n.dataDir()); err == nil {
		t.Errorf("a data directory was created before the refusal")
	}
}
