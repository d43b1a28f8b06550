// Package deploy holds the files an operator installs beside the binary
// (systemd unit, example node files, HAProxy, Prometheus and Grafana); these
// tests check them with the tools that read them.
package deploy

import (
	"os"
	"os/exec"
	"testing"
)

// need finds a tool; under make test (CONCLAVE_REQUIRE_ALL=1) a missing one fails.
func need(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CONCLAVE_REQUIRE_ALL") == "1" {
			t.Fatalf("%s not installed: apt-get install %s", tool, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s)", tool, pkg)
	}
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func TestHAProxyConfig_Valid(t *testing.T) {
	run(t, need(t, "haproxy", "haproxy"), "-c", "-f", "haproxy/haproxy.cfg")
}

func TestPrometheusConfigAndRules_Valid(t *testing.T) {
	promtool := need(t, "promtool", "prometheus")
	run(t, promtool, "check", "config", "prometheus/prometheus.yml")
	run(t, promtool, "check", "rules", "prometheus/conclave-rules.yml")
	run(t, promtool, "test", "rules", "prometheus/conclave-rules.test.yml")
}
