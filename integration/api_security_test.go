//go:build integration

package integration

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/certs"
	"github.com/conclave-ha/conclave/certs/certtest"
)

// restRequest sends one request and returns the status and body.
func restRequest(client *http.Client, method, url, body string, with func(*http.Request)) (int, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if with != nil {
		with(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitPrimary waits until the single node answers /primary with 200.
func waitPrimary(t *testing.T, client *http.Client, base string) {
	t.Helper()
	waitFor(t, 60*time.Second, "the node runs as the primary", func() error {
		code, body, err := restRequest(client, http.MethodGet, base+"/primary", "", nil)
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("/primary: HTTP %d %s", code, body)
		}
		return nil
	})
}

// configValue reads one key of GET /config.
func configValue(t *testing.T, client *http.Client, base, key string) any {
	t.Helper()
	code, body, err := restRequest(client, http.MethodGet, base+"/config", "", nil)
	if err != nil || code != 200 {
		t.Fatalf("GET /config: %d %s %v", code, body, err)
	}
	var cfg map[string]any
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("GET /config: %v: %s", err, body)
	}
	return cfg[key]
}

// README (REST API, security): with none of restapi.authentication,
// allowlist or verify_client set, a state-changing request from another
// host is refused with 403 naming the settings and changes nothing, while
// GETs stay open and a write from a member's host goes through.
func TestRESTAPI_Default_RefusesWritesFromOtherHosts(t *testing.T) {
	tb := newTestbed(t, 1)
	c := newCluster(t, 1, clusterOptions{place: tb.place})
	c.startAll()
	n := c.nodes[0]
	fromClient := n.http() // sockets in the client namespace (10.213.X.100)
	waitPrimary(t, fromClient, n.apiURL())

	code, body, err := restRequest(fromClient, http.MethodPatch, n.apiURL()+"/config", `{"maximum_lag_on_failover": 2097152}`, nil)
	if err != nil || code != http.StatusForbidden ||
		!strings.Contains(body, "restapi.authentication, restapi.allowlist or restapi.verify_client") ||
		!strings.Contains(body, n.cfgPath) || !strings.Contains(body, tb.addr(100)) {
		t.Fatalf("PATCH /config from the client namespace: %d %s %v; want 403 naming the settings, the file and the address", code, body, err)
	}
	if code, body, err := restRequest(fromClient, http.MethodPost, n.apiURL()+"/failsafe", `{"name": "intruder"}`, nil); err != nil || code != http.StatusForbidden {
		t.Fatalf("POST /failsafe from the client namespace: %d %s %v; want 403", code, body, err)
	}
	if v := configValue(t, fromClient, n.apiURL(), "maximum_lag_on_failover"); fmt.Sprint(v) != "1048576" {
		t.Fatalf("maximum_lag_on_failover = %v after a refused PATCH, want 1048576", v)
	}

	// The member's own host (its namespace address, not loopback) may write.
	fromMember := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: nsDialer(tb.nodes[0]), DisableKeepAlives: true}}
	if code, body, err := restRequest(fromMember, http.MethodPatch, n.apiURL()+"/config", `{"maximum_lag_on_failover": 2097152}`, nil); err != nil || code != 200 {
		t.Fatalf("PATCH /config from the member's host: %d %s %v; want 200", code, body, err)
	}
	waitFor(t, 10*time.Second, "the change is visible", func() error {
		if v := configValue(t, fromClient, n.apiURL(), "maximum_lag_on_failover"); fmt.Sprint(v) != "2097152" {
			return fmt.Errorf("maximum_lag_on_failover = %v", v)
		}
		return nil
	})
}

// README (REST API, security): with TLS, verify_client: required and basic
// auth, the CLI works through its ctl: settings, a write needs both a
// client certificate and the password (or the member credential derived
// from raft.password), no password reaches the log, and the node's /metrics
// passes promtool.
func TestRESTAPI_TLSClientCertificatesAndAuth_CLIWorksAndWritesNeedCredentials(t *testing.T) {
	c := newCluster(t, 1, clusterOptions{extra: func(n *node) string {
		return "ctl:\n  certfile: " + filepath.Join(filepath.Dir(n.dir), "certs", "client.pem") + "\n"
	}})
	n := c.nodes[0]
	certDir := filepath.Join(c.dir, "certs")
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		t.Fatal(err)
	}
	set := certtest.Write(t, certDir)
	chownToPostgres(t, certDir)
	raw, err := os.ReadFile(n.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "restapi:\n", fmt.Sprintf(`restapi:
  certfile: %s
  keyfile: %s
  cafile: %s
  verify_client: required
  authentication: {username: admin, password: rest-s3cret}
`, set.ServerCert, set.ServerKey, set.CA), 1)
	cfg = strings.Replace(cfg, "raft:\n", "raft:\n  password: raft-s3cret\n", 1)
	if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c.startAll()
	base := fmt.Sprintf("https://%s:%d", n.host, n.apiPort)
	tlsClient := func(certFile string) *http.Client {
		tc, err := certs.Client(certs.Files{CertFile: certFile, CAFile: set.CA}, false)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	}
	withCert := tlsClient(set.ClientPEM)
	waitPrimary(t, withCert, base)

	// The CLI: ctl.certfile, ctl.cacert from restapi.cafile, https from restapi.certfile.
	out, err := n.conclave("list")
	if err != nil || !strings.Contains(out, "| node1") || !strings.Contains(out, "Leader") {
		t.Fatalf("conclave list over TLS: %v\n%s", err, out)
	}
	if out, err := n.conclave("show-config"); err != nil || !strings.Contains(out, "maximum_lag_on_failover") {
		t.Fatalf("conclave show-config over TLS: %v\n%s", err, out)
	}

	patch := func(client *http.Client, v int, with func(*http.Request)) (int, string, error) {
		return restRequest(client, http.MethodPatch, base+"/config", fmt.Sprintf(`{"maximum_lag_on_failover": %d}`, v), with)
	}
	if _, _, err := patch(tlsClient(""), 3000000, nil); err == nil {
		t.Fatal("a client without a certificate completed the TLS handshake")
	}
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a client without certificate
	if _, _, err := patch(plain, 3000000, nil); err == nil {
		t.Fatal("an unverified client without certificate completed the handshake")
	}
	if code, body, err := patch(withCert, 3000000, nil); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("PATCH with a certificate, without the password: %d %s %v; want 401", code, body, err)
	}
	if code, _, err := patch(withCert, 3000000, func(r *http.Request) { r.SetBasicAuth("admin", "wrong") }); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("PATCH with a wrong password: %d %v; want 401", code, err)
	}
	if v := configValue(t, withCert, base, "maximum_lag_on_failover"); fmt.Sprint(v) != "1048576" {
		t.Fatalf("maximum_lag_on_failover = %v after refused writes", v)
	}
	if code, body, err := patch(withCert, 2097152, func(r *http.Request) { r.SetBasicAuth("admin", "rest-s3cret") }); err != nil || code != 200 {
		t.Fatalf("PATCH with certificate and password: %d %s %v", code, body, err)
	}
	if code, body, err := patch(withCert, 4194304, func(r *http.Request) { api.SetMemberToken(r, "raft-s3cret", c.scope) }); err != nil || code != 200 {
		t.Fatalf("PATCH with the member credential: %d %s %v", code, body, err)
	}
	waitFor(t, 10*time.Second, "the last change is visible", func() error {
		if v := configValue(t, withCert, base, "maximum_lag_on_failover"); fmt.Sprint(v) != "4194304" {
			return fmt.Errorf("maximum_lag_on_failover = %v", v)
		}
		return nil
	})

	// /metrics of a real node passes promtool.
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		skipOrFail(t, "promtool is missing (apt-get install prometheus)")
	}
	code, metrics, err := restRequest(withCert, http.MethodGet, base+"/metrics", "", nil)
	if err != nil || code != 200 || !strings.Contains(metrics, "patroni_primary{") {
		t.Fatalf("GET /metrics: %d %v\n%s", code, err, metrics)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(metrics)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("promtool check metrics on the node's /metrics: %v\n%s", err, out)
	}

	for _, secret := range []string{"rest-s3cret", "raft-s3cret", "super-secret", "repl-secret", api.MemberToken("raft-s3cret", c.scope)} {
		if n.logs.contains(secret) {
			t.Errorf("the agent's log shows a secret (%q)", secret)
		}
	}
}
