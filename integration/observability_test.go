//go:build integration

package integration

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startTool starts a long-running tool (HAProxy, Prometheus) whose output
// goes to the test log; it is stopped at cleanup.
func startTool(t *testing.T, name string, args ...string) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, name+" is missing (.ci/run installs it)")
	}
	cmd := exec.Command(path, args...)
	w := &lineWriter{name: name, t: t, logs: &lineBuffer{}}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait(); w.flush() })
}

// promPrimaries asks Prometheus which members report patroni_primary == 1.
func promPrimaries(base string) ([]string, error) {
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
			}
		}
	}
	code, err := getJSON(base+"/api/v1/query?query="+url.QueryEscape("patroni_primary == 1"), &r)
	if err != nil || code != 200 || r.Status != "success" {
		return nil, fmt.Errorf("prometheus query: HTTP %d %v %s", code, err, r.Status)
	}
	var names []string
	for _, s := range r.Data.Result {
		names = append(names, s.Metric["name"])
	}
	return names, nil
}

// haproxyUp lists the servers HAProxy's statistics page shows UP in backend.
func haproxyUp(statsURL, backend string) ([]string, error) {
	resp, err := http.Get(statsURL + "/;csv")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("stats csv: %v", err)
	}
	status := -1
	for i, h := range rows[0] {
		if strings.TrimPrefix(h, "# ") == "status" {
			status = i
		}
	}
	var up []string
	for _, r := range rows[1:] {
		if len(r) > status && r[0] == backend && r[1] != "FRONTEND" && r[1] != "BACKEND" && r[status] == "UP" {
			up = append(up, r[1])
		}
	}
	return up, nil
}

// waitOnly waits until list answers exactly [want].
func waitOnly(t *testing.T, d time.Duration, what, want string, list func() ([]string, error)) {
	t.Helper()
	waitFor(t, d, what+" is only "+want, func() error {
		names, err := list()
		if err != nil {
			return err
		}
		if len(names) != 1 || names[0] != want {
			return fmt.Errorf("%v", names)
		}
		return nil
	})
}

// checkHealthMatrix asks every node every health endpoint with filters and
// compares the status codes with who should answer 200: the leader, the
// replicas, and node3, the one replica tagged nofailover. Lag is computed
// from member records up to a loop turn old, so it waits for the matrix to
// match (a wrong answer that stays fails at the timeout).
func checkHealthMatrix(t *testing.T, c *cluster, leader *node) {
	t.Helper()
	waitFor(t, 15*time.Second, "every health endpoint answers 200 on the right members", func() error {
		return healthMatrix(c, leader)
	})
}

func healthMatrix(c *cluster, leader *node) error {
	var replicas []string
	for _, n := range c.nodes {
		if n != leader {
			replicas = append(replicas, n.name)
		}
	}
	other := replicas[0] // the replica without nofailover
	if other == "node3" {
		other = replicas[1]
	}
	all := []string{"node1", "node2", "node3"}
	for path, want := range map[string][]string{
		"/": {leader.name}, "/primary": {leader.name}, "/leader": {leader.name}, "/master": {leader.name}, "/read-write": {leader.name},
		"/replica": replicas, "/replica?lag=1MB": replicas, "/replica?replication_state=streaming": replicas,
		"/replica?nofailover=true": {"node3"}, "/replica?nofailover=false": {other},
		"/read-only": all, "/read-only?nofailover=true": {"node3"},
		"/asynchronous": replicas, "/synchronous": nil, "/standby-leader": nil,
		"/health": all, "/readiness": all, "/liveness": all,
	} {
		var got []string
		for _, n := range c.nodes {
			code, body, err := restRequest(n.http(), http.MethodGet, n.apiURL()+path, "", nil)
			if err != nil || (code != 200 && code != 503) {
				return fmt.Errorf("%s GET %s: %d %v %s", n.name, path, code, err, body)
			}
			if code == 200 {
				got = append(got, n.name)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("GET %s answers 200 on %v, want %v (leader %s)", path, got, want, leader.name)
		}
	}
	return nil
}

// Issue 10: each health endpoint with its filters on the primary and the
// replicas, before and after a switchover; a real Prometheus scrapes the
// three nodes and finds exactly one primary, also after the switchover;
// HAProxy with the configuration `conclave haproxy-config` prints sends the
// primary port to the primary and follows the switchover within a few check
// intervals; every node's /metrics (with the HA counters and histogram)
// passes promtool.
func TestObservability_PrometheusAndHAProxyFollowASwitchover(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{extra: func(n *node) string {
		if n.name == "node3" {
			return "tags:\n  nofailover: true\n"
		}
		return ""
	}})
	c.startAll()
	old := c.waitHealthy(90 * time.Second)
	checkHealthMatrix(t, c, old)

	// promtool on every node's /metrics.
	for _, n := range c.nodes {
		checkMetricsWithPromtool(t, n)
	}

	// HAProxy from the CLI's output, on free ports.
	pPort, rPort, sPort := freePort(t), freePort(t), freePort(t)
	cfg, err := old.conclave("haproxy-config", "--primary-port", fmt.Sprint(pPort), "--replica-port", fmt.Sprint(rPort), "--stats-port", fmt.Sprint(sPort))
	if err != nil || strings.Count(cfg, "check port") != 6 {
		t.Fatalf("conclave haproxy-config: %v\n%s", err, cfg)
	}
	haCfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(haCfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startTool(t, "haproxy", "-db", "-f", haCfg)
	stats := fmt.Sprintf("http://127.0.0.1:%d", sPort)

	// Prometheus scraping the three REST APIs every second.
	var targets []string
	for _, n := range c.nodes {
		targets = append(targets, fmt.Sprintf("'%s:%d'", n.host, n.apiPort))
	}
	promDir := t.TempDir()
	promCfg := filepath.Join(promDir, "prometheus.yml")
	if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: conclave
    static_configs: [{targets: [%s]}]
`, strings.Join(targets, ", "))), 0o644); err != nil {
		t.Fatal(err)
	}
	promPort := freePort(t)
	startTool(t, "prometheus", "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(promDir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort), "--log.level=warn")
	prom := fmt.Sprintf("http://127.0.0.1:%d", promPort)

	waitOnly(t, 60*time.Second, "Prometheus: patroni_primary == 1", old.name, func() ([]string, error) { return promPrimaries(prom) })
	waitOnly(t, 30*time.Second, "HAProxy: servers up on the primary port", old.name, func() ([]string, error) { return haproxyUp(stats, "primary") })
	primaryPort := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=postgres password=super-secret dbname=postgres connect_timeout=2 sslmode=disable", pPort))
		if err != nil {
			return "", err
		}
		defer conn.Close(ctx)
		var port string
		var inRecovery bool
		err = conn.QueryRow(ctx, "SELECT current_setting('port'), pg_is_in_recovery()").Scan(&port, &inRecovery)
		if err == nil && inRecovery {
			err = fmt.Errorf("HAProxy's primary port reached a server in recovery (port %s)", port)
		}
		return port, err
	}
	if port, err := primaryPort(); err != nil || port != fmt.Sprint(old.pgPort) {
		t.Fatalf("through HAProxy's primary port: port %s, %v; want the leader's %d", port, err, old.pgPort)
	}

	cand := c.byName("node1") // node3 has nofailover
	if old == cand {
		cand = c.byName("node2")
	}
	if out, err := old.conclave("switchover", "--leader", old.name, "--candidate", cand.name, "--force"); err != nil {
		t.Fatalf("switchover: %v\n%s", err, out)
	}
	switched := time.Now()
	waitOnly(t, 30*time.Second, "HAProxy: servers up on the primary port", cand.name, func() ([]string, error) { return haproxyUp(stats, "primary") })
	t.Logf("HAProxy marked only %s up on the primary port %v after the switchover command returned", cand.name, time.Since(switched).Round(time.Millisecond))
	waitFor(t, 15*time.Second, "writes through HAProxy's primary port reach the new primary", func() error {
		port, err := primaryPort()
		if err == nil && port != fmt.Sprint(cand.pgPort) {
			err = fmt.Errorf("reached port %s", port)
		}
		return err
	})
	waitOnly(t, 30*time.Second, "Prometheus: patroni_primary == 1", cand.name, func() ([]string, error) { return promPrimaries(prom) })
	if l := c.waitHealthy(60 * time.Second); l != cand {
		t.Fatalf("after the switchover %s leads, want %s", l.name, cand.name)
	}
	checkHealthMatrix(t, c, cand)
	// The new primary counted its promotion as a switchover.
	waitFor(t, 15*time.Second, "conclave_ha_switchovers_total of the candidate", func() error {
		var r struct {
			Data struct {
				Result []struct {
					Value []any
				}
			}
		}
		q := fmt.Sprintf(`conclave_ha_switchovers_total{name=%q}`, cand.name)
		if _, err := getJSON(prom+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
			return err
		}
		if len(r.Data.Result) != 1 || len(r.Data.Result[0].Value) != 2 || r.Data.Result[0].Value[1] != "1" {
			b, _ := json.Marshal(r)
			return fmt.Errorf("%s: %s", q, b)
		}
		return nil
	})
}

// checkMetricsWithPromtool fetches n's /metrics and runs promtool check metrics.
func checkMetricsWithPromtool(t *testing.T, n *node) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		skipOrFail(t, "promtool is missing (apt-get install prometheus)")
	}
	code, body, err := restRequest(n.http(), http.MethodGet, n.apiURL()+"/metrics", "", nil)
	if err != nil || code != 200 {
		t.Fatalf("%s GET /metrics: %d %v", n.name, code, err)
	}
	for _, name := range []string{"patroni_primary{", "conclave_raft_state{", "conclave_ha_loop_duration_seconds_bucket{", "conclave_ha_fences_total{", "conclave_vip_held{", "patroni_pending_restart{"} {
		if !strings.Contains(body, name) {
			t.Errorf("%s /metrics lacks %s", n.name, name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics on %s's /metrics: %v\n%s", n.name, err, out)
	}
}
