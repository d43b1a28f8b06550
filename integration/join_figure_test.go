//go:build integration && figures

package integration

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMembership_JoinFigure_JoinToStreamingAgainstBasebackupAlone is the
// README's join figure on loopback: on a one-node cluster holding
// CONCLAVE_JOIN_FIGURE_MB megabytes, it times pg_basebackup alone (as the
// agent runs it: -X stream -c fast) and then `conclave join --via` + `run`
// of a new node until its WAL receiver streams (default 1024 MB). It loads
// the machine for minutes, so it is a figure (build tags `integration
// figures`), not part of make test.
func TestMembership_JoinFigure_JoinToStreamingAgainstBasebackupAlone(t *testing.T) {
	mb := joinFigureMB(t)
	c := newCluster(t, 1, clusterOptions{serial: true, dcs: joinFigureDCS(t)})
	joinFigure(t, c, mb, c.newNode("node2"))
}

// TestMembership_JoinFigure_OverARateLimitedLink is the same figure with
// the two nodes in network namespaces of the test bed, each node's veth
// rate-limited by a tbf qdisc to CONCLAVE_JOIN_FIGURE_RATE (tc's syntax,
// default 1gbit), so both copies cross a link as between two hosts.
func TestMembership_JoinFigure_OverARateLimitedLink(t *testing.T) {
	mb := joinFigureMB(t)
	rate := cmp.Or(os.Getenv("CONCLAVE_JOIN_FIGURE_RATE"), "1gbit")
	if _, err := exec.LookPath("tc"); err != nil {
		skipOrFail(t, "the tc command (iproute2) is missing")
	}
	tb := newTestbed(t, 2)
	c := newCluster(t, 1, clusterOptions{serial: true, place: tb.place, dcs: joinFigureDCS(t)})
	// The new node's host is no member yet: node1 accepts its POST
	// /members through the allowlist, as an operator would set it up.
	cfg := strings.Replace(mustRead(t, c.nodes[0].cfgPath), "restapi:\n", fmt.Sprintf("restapi:\n  allowlist: [%s]\n", c.hbaNet), 1)
	if err := os.WriteFile(c.nodes[0].cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		// burst: at least rate/HZ, or tbf cannot reach its rate.
		args := []string{"-n", tb.nodes[i-1], "qdisc", "add", "dev", fmt.Sprintf("%s-e%d", tb.prefix, i), "root", "tbf",
			"rate", rate, "burst", "1mb", "latency", "50ms"}
		if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
			t.Fatalf("tc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Logf("each node's link limited to %s (tbf)", rate)
	n := c.newNode("node2")
	n.host = tb.addr(2)
	n.prefix = []string{"ip", "netns", "exec", tb.nodes[1]}
	n.dial = nsDialer(tb.client)
	n.hostDial = nsDialer(tb.nodes[1])
	joinFigure(t, c, mb, n)
}

func joinFigureMB(t *testing.T) int {
	v := os.Getenv("CONCLAVE_JOIN_FIGURE_MB")
	if v == "" {
		return 1024
	}
	mb, err := strconv.Atoi(v)
	if err != nil || mb <= 0 {
		t.Fatalf("CONCLAVE_JOIN_FIGURE_MB=%q: want a positive number of megabytes", v)
	}
	return mb
}

// joinFigureDCS sets loop_wait from CONCLAVE_JOIN_FIGURE_LOOP_WAIT (seconds;
// retry_timeout the same, ttl three times it, as Patroni's 10/10/30), for
// the figure at a production loop_wait; "" keeps the defaults.
func joinFigureDCS(t *testing.T) string {
	v := os.Getenv("CONCLAVE_JOIN_FIGURE_LOOP_WAIT")
	if v == "" {
		return ""
	}
	s, err := strconv.Atoi(v)
	if err != nil || s <= 0 {
		t.Fatalf("CONCLAVE_JOIN_FIGURE_LOOP_WAIT=%q: want a positive number of seconds", v)
	}
	t.Logf("loop_wait %d, retry_timeout %d, ttl %d", s, s, 3*s)
	return fmt.Sprintf("    loop_wait: %d\n    retry_timeout: %d\n    ttl: %d", s, s, 3*s)
}

// joinFigure loads mb megabytes into c's one node, times pg_basebackup
// alone from where n runs (its prefix), then join --via + run of n until
// n's WAL receiver streams.
func joinFigure(t *testing.T, c *cluster, mb int, n *node) {
	c.startAll()
	primary := waitConverged(c, 90*time.Second)
	rows := mb * 1024 * 1024 / 600 // ~600 bytes per row on disk
	t0 := time.Now()
	// In chunks of ~64 MB: one statement for all of it can outlast exec's
	// timeout on a busy machine.
	primary.exec(t, "CREATE TABLE big (id int, pad text)")
	const chunk = 64 * 1024 * 1024 / 600
	for from := 1; from <= rows; from += chunk {
		primary.exec(t, "INSERT INTO big SELECT g, repeat(md5(g::text), 16) FROM generate_series($1::int, $2::int) g", from, min(from+chunk-1, rows))
	}
	primary.exec(t, "CHECKPOINT")
	size, err := primary.queryString("SELECT pg_size_pretty(pg_database_size('postgres'))")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %s in %v", size, time.Since(t0).Round(time.Millisecond))

	dir := filepath.Join(c.dir, "basebackup")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, dir)
	cmd := asPostgres(filepath.Join(pgBin, "pg_basebackup"), "-D", filepath.Join(dir, "data"), "-X", "stream", "-c", "fast", "-w",
		"-d", fmt.Sprintf("host=%s port=%d user=replicator application_name=figure", primary.host, primary.pgPort))
	if len(n.prefix) > 0 {
		cmd = exec.Command(n.prefix[0], append(append([]string{}, n.prefix[1:]...), cmd.Args...)...)
	}
	cmd.Env = append(os.Environ(), "PGPASSWORD=repl-secret")
	t0 = time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	alone := time.Since(t0)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	b := &bed{t: t, c: c}
	t0 = time.Now()
	b.joinPlaced(n, primary)
	t.Logf("join from %s: join --via answered and the agent was started after %v",
		t0.UTC().Format("15:04:05.000"), time.Since(t0).Round(time.Millisecond))
	// The new node's own WAL receiver: pg_stat_replication on the primary
	// also lists pg_basebackup's WAL stream (same application_name) as
	// streaming while the clone runs.
	waitForEvery(t, 30*time.Minute, 10*time.Millisecond, n.name+" streams", func() error {
		v, err := n.queryString("SELECT coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')")
		if err != nil || v != "streaming" {
			return fmt.Errorf("wal receiver %q, %v", v, err)
		}
		return nil
	})
	joined := time.Since(t0)
	// PostgreSQL's own account of its start (ms timestamps), for where
	// the time after the copy went.
	if log, err := os.ReadFile(filepath.Join(n.dir, "postgresql-"+n.name+".log")); err == nil {
		t.Logf("%s's server log:\n%s", n.name, log)
	}
	t.Logf("JOIN FIGURE: %s database: pg_basebackup alone %v; join --via to streaming %v (%.0f %% of pg_basebackup)",
		size, alone.Round(10*time.Millisecond), joined.Round(10*time.Millisecond), 100*joined.Seconds()/alone.Seconds())
}
