//go:build integration

package integration

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// README ("Configuration"): SIGHUP re-reads the file; an invalid file is
// reported and the running configuration kept whole. Each invalid file
// below also carries a valid change (work_mem 64MB) that must not be
// applied; the agent keeps running with PostgreSQL untouched. A valid file
// afterwards is applied (work_mem reaches PostgreSQL through a reload).
func TestReload_SIGHUPWithInvalidFile_KeepsRunningConfigThenAppliesValidOne(t *testing.T) {
	c := newCluster(t, 1, clusterOptions{})
	n := c.nodes[0]
	c.startAll()
	c.waitHealthy(60 * time.Second)
	orig, err := os.ReadFile(n.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	anchor := "    unix_socket_directories:"
	if !strings.Contains(string(orig), anchor) {
		t.Fatalf("no %q in the generated configuration", anchor)
	}
	withWorkMem := strings.Replace(string(orig), anchor, "    work_mem: 64MB\n"+anchor, 1)
	before, err := n.queryString("SHOW work_mem")
	if err != nil || before == "64MB" {
		t.Fatalf("work_mem before: %q, %v", before, err)
	}
	pm := n.postmasterPID()
	agent := n.agentPID()

	invalid := []struct{ what, body string }{
		{"unknown key", withWorkMem + "bogus_key: 1\n"},
		{"wrong type", withWorkMem + "tags:\n  nofailover: maybe\n"},
		{"broken YAML", withWorkMem + "tags: {nofailover: \"unclosed\n"},
		{"empty file", ""},
		{"missing name", strings.Replace(withWorkMem, "name: "+n.name+"\n", "", 1)},
	}
	for _, tc := range invalid {
		what, body := tc.what, tc.body
		if err := os.WriteFile(n.cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		refused := n.logs.count("SIGHUP: configuration not reloaded")
		n.signal(syscall.SIGHUP)
		waitFor(t, 10*time.Second, "the agent reports the "+what+" file", func() error {
			if n.logs.count("SIGHUP: configuration not reloaded") == refused {
				return fmt.Errorf("no 'configuration not reloaded' line yet")
			}
			return nil
		})
		holdsFor(t, 1500*time.Millisecond, "the running configuration kept after a "+what+" file", func() error {
			if p := n.agentPID(); p != agent {
				return fmt.Errorf("agent pid %d -> %d (exited?)", agent, p)
			}
			if p := n.postmasterPID(); p != pm {
				return fmt.Errorf("postmaster pid %d -> %d", pm, p)
			}
			if code, err := getJSONWith(n.http(), n.apiURL()+"/primary", nil); code != 200 {
				return fmt.Errorf("/primary: HTTP %d, %v", code, err)
			}
			if v, err := n.queryString("SHOW work_mem"); err != nil || v != before {
				return fmt.Errorf("work_mem %q, %v; want %q kept (no partial apply)", v, err, before)
			}
			return nil
		})
		t.Logf("%s: reported, agent and PostgreSQL kept running, work_mem still %s", what, before)
	}

	// The error names the key, as at start.
	for _, key := range []string{"bogus_key", "tags.nofailover", "name"} {
		if n.logs.count("configuration not reloaded") == 0 || !n.logs.contains(key) {
			t.Errorf("no reload error naming %q in the agent's log", key)
		}
	}

	if err := os.WriteFile(n.cfgPath, []byte(withWorkMem), 0o600); err != nil {
		t.Fatal(err)
	}
	reloaded := n.logs.count("SIGHUP: configuration reloaded")
	n.signal(syscall.SIGHUP)
	waitFor(t, 15*time.Second, "work_mem 64MB applied after a valid reload", func() error {
		if v, err := n.queryString("SHOW work_mem"); err != nil || v != "64MB" {
			return fmt.Errorf("work_mem %q, %v", v, err)
		}
		return nil
	})
	if n.logs.count("SIGHUP: configuration reloaded") == reloaded {
		t.Errorf("no 'configuration reloaded' line after the valid file")
	}
	if p := n.postmasterPID(); p != pm {
		t.Errorf("postmaster pid %d -> %d: a reloadable parameter restarted PostgreSQL", pm, p)
	}
}
