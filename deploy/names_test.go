package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
)

// oneMember is the smallest Source that makes every metric appear.
type oneMember struct{}

func (oneMember) Status(context.Context) api.NodeStatus {
	return api.NodeStatus{Name: "node1", Scope: "demo", MemberSilence: map[string]time.Duration{"node1": 0},
		Backup: &api.BackupStatus{Stanza: "demo", ConflictingWAL: []string{"000000010000000000000007"}}} // a node with a backup: section serves the backup metrics (a conflict series only when there is one)
}
func (oneMember) Cluster() fsm.State {
	return fsm.State{Members: map[string]fsm.Member{"node1": {Name: "node1"}}}
}

// servedNames are the metric names a node serves (HA counters included).
func servedNames(t *testing.T) map[string]bool {
	reg := prometheus.NewRegistry()
	if _, err := api.New(api.Config{Source: oneMember{}, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.NewHAMetrics(reg, "demo", "node1"); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

var metricName = regexp.MustCompile(`\b(?:patroni|conclave)_[a-z_]+`)

// dashboardExprs are the PromQL expressions of the Grafana dashboard.
func dashboardExprs(t *testing.T) []string {
	raw, err := os.ReadFile("grafana/conclave-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("grafana/conclave-dashboard.json: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if len(exprs) < 10 {
		t.Fatalf("dashboard has %d expressions", len(exprs))
	}
	return exprs
}

// Every metric the rules and the dashboard query is one a node serves (a
// renamed metric would leave an alert that never fires), and every
// dashboard expression is valid PromQL (checked by promtool as rules).
func TestRulesAndDashboard_QueryServedMetricsOnly(t *testing.T) {
	served := servedNames(t)
	rules, err := os.ReadFile("prometheus/conclave-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	exprs := dashboardExprs(t)
	text := string(rules) + strings.Join(exprs, "\n")
	for _, n := range metricName.FindAllString(text, -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !served[n] && !served[base] {
			t.Errorf("%s is queried but no node serves it", n)
		}
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, _ := json.Marshal(strings.ReplaceAll(e, "$scope", ".*"))
		fmt.Fprintf(&b, "      - record: dashboard:expr_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, need(t, "promtool", "prometheus"), "check", "rules", path)
}

// The example node files load (keys, types, values; not the machine).
func TestExampleNodeConfigs_Load(t *testing.T) {
	for _, n := range []string{"node1", "node2", "node3"} {
		path := filepath.Join("conclave", n+".yml")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.ParseWithEnv(raw, path, func(string) string { return "" })
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if c.Name != n || len(c.Raft.PartnerAddrs) != 2 || len(c.Unused) != 0 {
			t.Fatalf("%s: name %s, partners %v, not acted on %v", path, c.Name, c.Raft.PartnerAddrs, c.Unused)
		}
	}
}
