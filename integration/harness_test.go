//go:build integration

package integration

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	binary  string // the conclave binary under test
	pgBin   = envOr("PG_BIN", "/usr/lib/postgresql/15/bin")
	asRoot  = os.Geteuid() == 0
	pgUser  *user.User
	timeout = 1.0 // multiplied by 2 when CI is set
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv("CI") != "" {
		timeout = 2
	}
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		fmt.Fprintf(os.Stderr, "integration: PostgreSQL 15 server binaries not found in %s (set PG_BIN or apt-get install postgresql-15)\n", pgBin)
		return 1
	}
	if asRoot {
		u, err := user.Lookup("postgres")
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration: running as root needs the postgres OS user (apt-get install postgresql-15 creates it)")
			return 1
		}
		pgUser = u
	}
	dir, err := os.MkdirTemp("", "conclave-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	if prebuilt := os.Getenv("CONCLAVE_BINARY"); prebuilt != "" {
		// A binary built elsewhere (e.g. from a clean checkout while the
		// working tree is mid-edit).
		binary = prebuilt
		return m.Run()
	}
	binary = filepath.Join(dir, "conclave")
	build := exec.Command("go", "build", "-o", binary, "../cmd/conclave")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as the Makefile: vip.DropAmbient needs it
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: building conclave:", err)
		return 1
	}
	return m.Run()
}

// scaled returns d multiplied for slow CI machines.
func scaled(d time.Duration) time.Duration { return time.Duration(float64(d) * timeout) }

// waitFor polls cond until it returns nil or the (scaled) timeout passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	waitForEvery(t, d, 100*time.Millisecond, what, cond)
}

// waitForEvery is waitFor trying cond every interval: figures that time a
// condition use a short one, so the poll adds little to what they measure.
func waitForEvery(t testing.TB, d, interval time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(scaled(d))
	var last error
	for time.Now().Before(deadline) {
		if last = cond(); last == nil {
			return
		}
		time.Sleep(interval)
	}
	t.Fatalf("timed out after %v waiting for %s: %v", scaled(d), what, last)
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	// Ports come from below the kernel's ephemeral range (32768 and up), so
	// no outgoing connection can hold one before its server binds it, and
	// each is handed out once per test process (":0" can return a port
	// twice once its listener closed).
	for tries := 0; tries < portSpan; tries++ {
		if nextPort < portBase || nextPort >= portBase+portSpan {
			nextPort = portBase + int(time.Now().UnixNano()%portSpan)
		}
		p := nextPort
		nextPort++
		if p >= anchorPorts && p < anchorPorts+1000 {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatalf("no free port in %d-%d", portBase, portBase+portSpan)
	return 0
}

const portBase, portSpan = 15000, 17000

// anchorPorts starts the fixed ports of the Patroni anchor benchmark
// (../shared/bench/patroni: 25000-25999), which may run beside the tests
// (make bench): freePort never hands them out.
const anchorPorts = 25000

var (
	portMu   sync.Mutex
	nextPort int
)

// workDir makes a folder the postgres user can use, removed at cleanup.
func workDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "conclave-it-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	chownToPostgres(t, dir)
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("KEEP_FAILED") != "" {
			t.Logf("KEEP_FAILED: leaving %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

func chownToPostgres(t testing.TB, path string) {
	if pgUser == nil {
		return
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, uid, gid)
		}
		return nil
	})
}

// asPostgres wraps a command so it runs as the postgres OS user when the
// tests run as root.
func asPostgres(name string, args ...string) *exec.Cmd {
	if asRoot {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

// node is one member: its ports, folders and agent process.
type node struct {
	t        testing.TB
	name     string
	dir      string
	cfgPath  string
	pgPort   int
	apiPort  int
	raftPort int
	// host is the address the agent, Raft, the REST API and PostgreSQL
	// bind and advertise: 127.0.0.1 unless the node lives in a network
	// namespace (netns_test.go).
	host string
	// prefix runs the agent inside the node's namespace, e.g.
	// ["ip", "netns", "exec", "cv1a2b-n1"]; nil on loopback.
	prefix []string
	// dial opens TCP connections from wherever the test's clients live
	// (the client namespace for netns nodes); nil means the root namespace.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// hostDial, when set, dials from the node's own host (its namespace):
	// where an operator runs the CLI, so writes pass the default guard,
	// which accepts them from loopback and members' hosts only.
	hostDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// cwd is the agent's working directory ("" = the test's), for
	// configurations with relative paths.
	cwd string
	// netCaps runs the agent as postgres with CAP_NET_ADMIN and CAP_NET_RAW
	// as ambient capabilities (setpriv, as systemd's AmbientCapabilities=),
	// for the floating IP (endpoint_test.go).
	netCaps bool
	// pgListen is postgresql.listen's host part ("" = host), e.g. the
	// node's address plus the floating IP.
	pgListen string
	// verb is the agent's subcommand ("" = run; "witness").
	verb string
	// bin is the agent binary this node runs ("" = binary, the one under
	// test): the upgrade tests give nodes an older build (upgrade_test.go).
	bin string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	exit error
	logs *lineBuffer
}

func (n *node) dataDir() string { return filepath.Join(n.dir, "data") }
func (n *node) apiURL() string  { return fmt.Sprintf("http://%s:%d", n.host, n.apiPort) }

// http returns the client that reaches the node's REST API.
// hostHTTP is a client on the node's own host (see hostDial), for
// state-changing requests; http() where the node is not in a namespace.
func (n *node) hostHTTP() *http.Client {
	if n.hostDial == nil {
		return n.http()
	}
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: n.hostDial, DisableKeepAlives: true}}
}

func (n *node) http() *http.Client {
	if n.dial == nil {
		return httpClient
	}
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: n.dial, DisableKeepAlives: true}}
}

// cluster is a set of nodes sharing one scope.
type cluster struct {
	t     testing.TB
	scope string
	dir   string
	nodes []*node
	// hbaNet is the network clients and replicas connect from.
	hbaNet string
}

// clusterOptions tune the generated configuration.
type clusterOptions struct {
	dcs   string // extra YAML lines under bootstrap.dcs (indented by 4)
	extra func(n *node) string
	// place may set each node's host, prefix and dial (and the cluster's
	// hbaNet) before the configuration files are written.
	place func(c *cluster)
	// bin, when set, names each node's agent binary ("" = the one under
	// test): the upgrade tests start nodes on an older build.
	bin func(n *node) string
	// serial keeps the test out of the parallel phase (parallel_test.go):
	// for tests that assert deadlines (fencing, RTO, liveness within a
	// second) which the CPU load of other tests would stretch.
	serial bool
}

func newCluster(t testing.TB, size int, opts clusterOptions) *cluster {
	t.Helper()
	if opts.serial {
		keepSerial(t)
	} else {
		runParallel(t)
	}
	c := &cluster{t: t, scope: uniqueScope(), dir: workDir(t), hbaNet: "127.0.0.1/32"}
	for i := 1; i <= size; i++ {
		c.nodes = append(c.nodes, c.newNode(fmt.Sprintf("node%d", i)))
	}
	if opts.place != nil {
		opts.place(c)
	}
	for _, n := range c.nodes {
		c.writeConfig(n, opts)
		if opts.bin != nil {
			n.bin = opts.bin(n)
		}
	}
	t.Cleanup(c.stopAll)
	return c
}

// uniqueScope names a cluster distinctly from every other cluster of this
// test process (clusters of parallel tests run at the same time).
func uniqueScope() string {
	return fmt.Sprintf("it%d-%d", os.Getpid()%10000, scopeSeq.Add(1))
}

var scopeSeq atomic.Int64

func (c *cluster) newNode(name string) *node {
	n := &node{t: c.t, name: name, dir: filepath.Join(c.dir, name), pgPort: freePort(c.t), apiPort: freePort(c.t), raftPort: freePort(c.t), host: "127.0.0.1"}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	n.cfgPath = filepath.Join(n.dir, "conclave.yml")
	return n
}

func (c *cluster) writeConfig(n *node, opts clusterOptions) {
	var partners []string
	for _, o := range c.nodes {
		if o != n {
			partners = append(partners, fmt.Sprintf("    - %s:%d", o.host, o.raftPort))
		}
	}
	partnerYAML := " []"
	if len(partners) > 0 {
		partnerYAML = "\n" + strings.Join(partners, "\n")
	}
	extra := ""
	if opts.extra != nil {
		extra = opts.extra(n)
	}
	cfg := fmt.Sprintf(`scope: %[1]s
name: %[2]s
restapi:
  listen: %[11]s:%[3]d
  connect_address: %[11]s:%[3]d
raft:
  data_dir: %[4]s/raft
  self_addr: %[11]s:%[5]d
  partner_addrs:%[6]s
bootstrap:
  dcs:
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: 40
        shared_buffers: 16MB
        wal_keep_size: 128MB
%[9]s
  initdb:
  - encoding: UTF8
  - data-checksums
  users:
    app:
      password: app-secret
      options: [createdb]
postgresql:
  listen: %[13]s:%[7]d
  connect_address: %[11]s:%[7]d
  data_dir: %[4]s/data
  bin_dir: %[8]s
  pgpass: %[4]s/pgpass
  authentication:
    superuser: {username: postgres, password: super-secret}
    replication: {username: replicator, password: repl-secret}
    rewind: {username: rewinder, password: rewind-secret}
  parameters:
    unix_socket_directories: '%[4]s'
  pg_hba:
  - local all all trust
  - host all all %[12]s md5
  - host replication replicator %[12]s md5
%[10]s`, c.scope, n.name, n.apiPort, n.dir, n.raftPort, partnerYAML, n.pgPort, pgBin, opts.dcs, extra, n.host, c.hbaNet, cmp.Or(n.pgListen, n.host))
	if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
	chownToPostgres(c.t, n.dir)
}

// start launches the agent; its output goes to the test log, prefixed.
func (n *node) start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		n.t.Fatalf("%s already running", n.name)
	}
	bin := cmp.Or(n.bin, binary)
	cmd := asPostgres(bin, "-c", n.cfgPath, cmp.Or(n.verb, "run"))
	if n.netCaps && asRoot {
		cmd = withNetCaps(bin, "-c", n.cfgPath, "run")
	}
	if len(n.prefix) > 0 {
		cmd = exec.Command(n.prefix[0], append(append([]string{}, n.prefix[1:]...), cmd.Args...)...)
	}
	cmd.Dir = n.cwd
	cmd.Env = append(os.Environ(), "CONCLAVE_LOG_LEVEL=INFO")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if n.logs == nil {
		n.logs = &lineBuffer{}
	}
	// Output goes through a writer, not StdoutPipe: a child that outlives
	// the agent (a postmaster or the watchdog of a killed agent) may keep
	// the pipe open, and Wait must still return once the agent exited.
	out := &lineWriter{logs: n.logs, name: n.name, t: n.t}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start %s: %v", n.name, err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	done := n.done
	go func() {
		err := cmd.Wait()
		out.flush()
		n.mu.Lock()
		n.exit = err
		n.mu.Unlock()
		close(done)
	}()
}

// agentPID is the conclave process itself (runuser's child when root).
func (n *node) agentPID() int {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil {
		return 0
	}
	if !asRoot || n.netCaps {
		return cmd.Process.Pid // setpriv and ip netns exec exec, no child
	}
	kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if f := strings.Fields(string(kids)); len(f) > 0 {
		pid, _ := strconv.Atoi(f[0])
		return pid
	}
	return cmd.Process.Pid
}

// stop sends SIGTERM to the agent and waits for it to exit.
func (n *node) stop() {
	n.t.Helper()
	n.signal(syscall.SIGTERM)
	n.wait(60 * time.Second)
}

func (n *node) signal(sig syscall.Signal) {
	if pid := n.agentPID(); pid > 0 {
		syscall.Kill(pid, sig)
	}
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if sig == syscall.SIGCONT && cmd != nil && cmd.Process.Pid != n.agentPID() {
		// runuser stops itself when its child is stopped (su's job-control
		// emulation) and would never reap the agent: continue it too.
		syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	}
}

// wait blocks until the agent exits and returns its exit error.
func (n *node) wait(d time.Duration) error {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
	case <-time.After(scaled(d)):
		n.t.Errorf("%s did not exit within %v; killing it", n.name, scaled(d))
		n.signal(syscall.SIGKILL)
		<-done
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cmd, n.done = nil, nil
	return n.exit
}

// postmasterPID reads the live postmaster's PID of the node, 0 if none.
func (n *node) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(n.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if pid > 0 && syscall.Kill(pid, 0) == nil {
		return pid
	}
	return 0
}

// stopAll stops every agent and any PostgreSQL left behind.
func (c *cluster) stopAll() {
	for _, n := range c.nodes {
		n.signal(syscall.SIGTERM)
	}
	for _, n := range c.nodes {
		n.wait(60 * time.Second)
	}
	for _, n := range c.nodes {
		if pid := n.postmasterPID(); pid > 0 {
			syscall.Kill(pid, syscall.SIGQUIT)
			deadline := time.Now().Add(10 * time.Second)
			for n.postmasterPID() > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
		}
		n.stopWatchdog()
	}
}

// watchdogPID is the node's running watchdog process (raft/watchdog.pid,
// checked against its command line), 0 if none.
func (n *node) watchdogPID() int {
	b, err := os.ReadFile(filepath.Join(n.dir, "raft", "watchdog.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if pid > 1 && strings.Contains(string(cmdline), "watchdog") && strings.Contains(string(cmdline), n.dir) {
		return pid
	}
	return 0
}

// watchdogLog is what the node's watchdog process wrote so far.
func (n *node) watchdogLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "raft", "watchdog.log"))
	return string(b)
}

// stopWatchdog ends a watchdog process an agent left behind (a killed
// agent's watchdog outlives it on purpose).
func (n *node) stopWatchdog() {
	if pid := n.watchdogPID(); pid > 0 {
		syscall.Kill(pid, syscall.SIGTERM)
	}
}

func (c *cluster) startAll() {
	for _, n := range c.nodes {
		n.start()
	}
}

// lineWriter splits an agent's output into lines for the test log and
// the lineBuffer.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	logs    *lineBuffer
	name    string
	t       testing.TB
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit(string(w.partial))
		w.partial = nil
	}
}

func (w *lineWriter) emit(line string) {
	w.logs.add(line)
	w.t.Logf("[%s] %s", w.name, line)
}

// lineBuffer keeps an agent's output for assertions.
type lineBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *lineBuffer) add(s string) {
	b.mu.Lock()
	b.lines = append(b.lines, s)
	b.mu.Unlock()
}

func (b *lineBuffer) contains(sub string) bool {
	return b.containsAll(sub)
}

// containsAll reports whether one line contains every one of subs.
func (b *lineBuffer) containsAll(subs ...string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		all := true
		for _, sub := range subs {
			if !strings.Contains(l, sub) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// --- REST and SQL helpers ---

var httpClient = &http.Client{Timeout: 2 * time.Second}

func getJSON(url string, out any) (int, error) {
	return getJSONWith(httpClient, url, out)
}

func getJSONWith(client *http.Client, url string, out any) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: %w: %s", url, err, body)
		}
	}
	return resp.StatusCode, nil
}

type clusterJSON struct {
	Scope            string `json:"scope"`
	SystemIdentifier string `json:"system_identifier"`
	Members          []struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		State    string `json:"state"`
		Host     string `json:"host"`
		Port     int    `json:"port"`
		Timeline int    `json:"timeline"`
		Lag      any    `json:"lag"`
	} `json:"members"`
}

func (n *node) cluster() (clusterJSON, error) {
	var c clusterJSON
	code, err := getJSONWith(n.http(), n.apiURL()+"/cluster", &c)
	if err == nil && code != 200 {
		err = fmt.Errorf("GET /cluster: HTTP %d", code)
	}
	return c, err
}

// waitHealthy waits until one leader runs and every other node streams.
func (c *cluster) waitHealthy(d time.Duration) (leader *node) {
	c.t.Helper()
	waitFor(c.t, d, "one leader running and all replicas streaming", func() error {
		leader = nil
		for _, n := range c.nodes {
			cl, err := n.cluster()
			if err != nil {
				return err
			}
			if len(cl.Members) != len(c.nodes) {
				return fmt.Errorf("%s sees %d members", n.name, len(cl.Members))
			}
			for _, m := range cl.Members {
				switch {
				case m.Role == "leader" && m.State == "running":
					if leader != nil && leader.name != m.Name {
						return fmt.Errorf("two leaders: %s and %s", leader.name, m.Name)
					}
					leader = c.byName(m.Name)
				case m.Role != "leader" && m.State == "streaming":
				default:
					return fmt.Errorf("%s: %s is %s/%s", n.name, m.Name, m.Role, m.State)
				}
			}
		}
		if leader == nil {
			return errors.New("no leader")
		}
		return nil
	})
	return leader
}

func (c *cluster) byName(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	c.t.Fatalf("no node %q", name)
	return nil
}

// sql opens a superuser connection to the node's PostgreSQL over TCP.
func (n *node) sql(ctx context.Context) (*pgx.Conn, error) {
	return n.sqlAs(ctx, "postgres", "super-secret")
}

// sqlAs opens a connection to the node's PostgreSQL as the given role.
func (n *node) sqlAs(ctx context.Context, user, password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=postgres connect_timeout=2 sslmode=disable", n.host, n.pgPort, user, password))
	if err != nil {
		return nil, err
	}
	if n.dial != nil {
		cfg.DialFunc = n.dial
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func (n *node) exec(t testing.TB, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := n.sql(ctx)
	if err != nil {
		t.Fatalf("%s: connect: %v", n.name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, query, args...); err != nil {
		t.Fatalf("%s: %s: %v", n.name, query, err)
	}
}

func (n *node) queryString(query string) (string, error) {
	return n.queryStringAs("postgres", "super-secret", query)
}

// queryStringAs runs one query on the node as the given role.
func (n *node) queryStringAs(user, password, query string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := n.sqlAs(ctx, user, password)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var s string
	err = conn.QueryRow(ctx, query).Scan(&s)
	return s, err
}

// conclave runs a CLI command against a node's config and returns its output.
func (n *node) conclave(args ...string) (string, error) {
	return n.conclaveIn(nil, args...)
}

// conclaveIn is conclave run under prefix (e.g. ip netns exec NS: the CLI
// on the node's host in a namespace test bed); nil runs it here.
func (n *node) conclaveIn(prefix []string, args ...string) (string, error) {
	argv := append(append(append([]string{}, prefix...), binary, "-c", n.cfgPath), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "CONCLAVE_CACHE_DIR="+filepath.Join(filepath.Dir(n.dir), "cli-cache")) // the CLI's member cache, per cluster
	out, err := cmd.CombinedOutput()
	return string(out), err
}
