//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// oneJSONLine checks that body is one line holding a JSON object with a
// non-empty "error".
func oneJSONLine(body string) error {
	if strings.Count(strings.TrimRight(body, "\n"), "\n") != 0 {
		return fmt.Errorf("more than one line: %q", body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil || m["error"] == "" || m["error"] == nil {
		return fmt.Errorf("not a JSON error message: %q", body)
	}
	return nil
}

// Issue 10, bad input: malformed JSON, wrong types, unknown members, an
// oversized body and a client that sends its headers slowly get the right
// status code and one line of message and change nothing; health checks
// answer within a fixed deadline while PostgreSQL is frozen (SIGSTOP).
func TestRESTAPI_BadRequests_RightCodesNothingChanged_HealthAnswersWhilePostgresFrozen(t *testing.T) {
	c := newCluster(t, 1, clusterOptions{})
	c.startAll()
	n := c.nodes[0]
	client := n.http()
	waitPrimary(t, client, n.apiURL())

	for _, tc := range []struct {
		method, path, body string
		code               int
		jsonLine           bool
	}{
		{http.MethodPatch, "/config", `{"ttl": 5`, 400, true},
		{http.MethodPatch, "/config", `["ttl"]`, 400, true},
		{http.MethodPatch, "/config", `{"ttl": "five"}`, 400, true},
		{http.MethodPatch, "/config", `{"loop_wait": 10, "ttl": 3}`, 400, true},
		{http.MethodPut, "/config", `{"postgresql": {"parameters": {"max_connections": "lots"}}}`, 400, true},
		{http.MethodPatch, "/config", `{"x": "` + strings.Repeat("a", 2<<20) + `"}`, 413, true},
		{http.MethodPost, "/switchover", `{"leader": "` + n.name + `", "candidate": "nosuch"}`, 412, false},
		{http.MethodPost, "/failover", `{"candidate": "nosuch"}`, 412, false},
		{http.MethodPost, "/switchover", `{"leader": 1}`, 400, false},
		{http.MethodPost, "/restart", `{"schedule": "yesterday"}`, 422, false},
		{http.MethodPatch, "/primary", `{}`, 405, true},
		{http.MethodGet, "/nosuch", ``, 404, true},
	} {
		code, body, err := restRequest(client, tc.method, n.apiURL()+tc.path, tc.body, nil)
		if err != nil || code != tc.code {
			t.Errorf("%s %s %.60s: HTTP %d %.200s %v; want %d", tc.method, tc.path, tc.body, code, body, err, tc.code)
			continue
		}
		if tc.jsonLine {
			if err := oneJSONLine(body); err != nil {
				t.Errorf("%s %s %.60s: %v", tc.method, tc.path, tc.body, err)
			}
		} else if strings.TrimSpace(body) == "" || strings.Count(strings.TrimSpace(body), "\n") != 0 {
			t.Errorf("%s %s %.60s: want one line of message (Patroni's plain text), got %q", tc.method, tc.path, tc.body, body)
		}
	}
	if v := configValue(t, client, n.apiURL(), "ttl"); v != nil && fmt.Sprint(v) != "3" {
		t.Fatalf("ttl = %v after refused writes", v)
	}
	if v := configValue(t, client, n.apiURL(), "loop_wait"); v != nil && fmt.Sprint(v) != "1" {
		t.Fatalf("loop_wait = %v after refused writes", v)
	}

	// A client that never finishes its headers is cut off by the header
	// timeout (5 s), and others are served meanwhile.
	slow, err := net.Dial("tcp", net.JoinHostPort(n.host, fmt.Sprint(n.apiPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	began := time.Now()
	fmt.Fprintf(slow, "GET /patroni HTTP/1.1\r\nHost: x\r\n")
	if code, _, err := restRequest(client, http.MethodGet, n.apiURL()+"/health", "", nil); err != nil || code != 200 {
		t.Fatalf("/health beside a slow client: %d %v", code, err)
	}
	slow.SetReadDeadline(time.Now().Add(scaled(15 * time.Second)))
	_, err = bufio.NewReader(slow).ReadString('\n')
	if cut := time.Since(began); err == nil || cut > scaled(8*time.Second) {
		t.Fatalf("slow client: read %v after %v; want the connection closed after the 5 s header timeout", err, cut)
	} else {
		t.Logf("slow client cut off after %v", cut.Round(10*time.Millisecond))
	}

	// PostgreSQL frozen: every health endpoint still answers, each within 1 s.
	thaw := freezePostgres(t, n)
	fast := &http.Client{Timeout: scaled(time.Second)}
	deadline := time.Now().Add(scaled(5 * time.Second))
	for round := 0; time.Now().Before(deadline); round++ {
		for _, p := range []string{"/primary", "/replica", "/health", "/readiness", "/liveness", "/patroni", "/cluster", "/metrics"} {
			began := time.Now()
			code, _, err := restRequest(fast, http.MethodGet, n.apiURL()+p, "", nil)
			if err != nil || (code != 200 && code != 503) {
				t.Fatalf("GET %s while PostgreSQL is frozen (round %d): %d %v after %v", p, round, code, err, time.Since(began))
			}
		}
	}
	thaw()
	waitPrimary(t, client, n.apiURL())
}
