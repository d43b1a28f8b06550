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

// Issue 9: a reload applies tags. nofailover added to both replicas by
// SIGHUP takes them out of elections: with the primary killed, neither is
// promoted (before, tags kept their start values and one was). Removing it
// again from one of them by SIGHUP lets that one take over. The reload's log
// line names the changed key that needs an agent restart (pg_ctl_timeout).
func TestReload_SIGHUPAppliesTags_NoFailoverReplicaNotPromoted(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	c.startAll()
	leader := c.waitHealthy(60 * time.Second)
	var replicas []*node
	orig := map[string][]byte{}
	for _, n := range c.nodes {
		if n == leader {
			continue
		}
		replicas = append(replicas, n)
		b, err := os.ReadFile(n.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		orig[n.name] = b
		if err := os.WriteFile(n.cfgPath, append(append([]byte(nil), b...), "  pg_ctl_timeout: 61\ntags:\n  nofailover: true\n"...), 0o600); err != nil {
			t.Fatal(err)
		}
		n.signal(syscall.SIGHUP)
	}
	waitFor(t, 10*time.Second, "nofailover published by both replicas", func() error {
		for _, r := range replicas {
			var st struct {
				Tags map[string]any `json:"tags"`
			}
			if code, err := getJSONWith(r.http(), r.apiURL()+"/patroni", &st); err != nil || code != 200 || st.Tags["nofailover"] != true {
				return fmt.Errorf("/patroni of %s: tags %v (%d %v)", r.name, st.Tags, code, err)
			}
			if !strings.Contains(fmt.Sprint(clusterTags(t, leader)[r.name]), "nofailover:true") {
				return fmt.Errorf("member record of %s: tags %v", r.name, clusterTags(t, leader)[r.name])
			}
		}
		return nil
	})
	for _, r := range replicas {
		if !r.logs.contains("keep their running values until the agent restarts: postgresql.pg_ctl_timeout") {
			t.Errorf("%s: no reload line naming postgresql.pg_ctl_timeout as needing a restart", r.name)
		}
	}

	killAgent(t, leader)
	killPostmaster(t, leader)
	holdsFor(t, 6*time.Second, "no nofailover replica is promoted after the primary died", func() error {
		for _, r := range replicas {
			if v, err := r.queryString("SELECT pg_is_in_recovery()::text"); err == nil && v == "false" {
				return fmt.Errorf("%s was promoted although it has nofailover", r.name)
			}
			if cl, err := r.cluster(); err == nil {
				for _, m := range cl.Members {
					if m.Role == "leader" && m.Name != leader.name {
						return fmt.Errorf("%s took the leader key although it has nofailover", m.Name)
					}
				}
			}
		}
		return nil
	})

	back := replicas[0]
	if err := os.WriteFile(back.cfgPath, orig[back.name], 0o600); err != nil {
		t.Fatal(err)
	}
	back.signal(syscall.SIGHUP)
	waitFor(t, 20*time.Second, back.name+" promoted once nofailover is removed by a reload", func() error {
		if v, err := back.queryString("SELECT pg_is_in_recovery()::text"); err != nil || v != "false" {
			return fmt.Errorf("pg_is_in_recovery %q, %v", v, err)
		}
		return nil
	})
	if v, err := replicas[1].queryString("SELECT pg_is_in_recovery()::text"); err == nil && v == "false" {
		t.Fatalf("%s (nofailover) is writable too", replicas[1].name)
	}
}

// clusterTags returns each member's tags as GET /cluster on n shows them.
func clusterTags(t testing.TB, n *node) map[string]map[string]any {
	t.Helper()
	var v struct {
		Members []struct {
			Name string         `json:"name"`
			Tags map[string]any `json:"tags"`
		} `json:"members"`
	}
	var code int
	var err error
	for try := 0; try < 3; try++ { // as members: one slow answer is no failure
		if code, err = getJSONWith(n.http(), n.apiURL()+"/cluster", &v); err == nil && code == 200 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || code != 200 {
		t.Fatalf("GET /cluster on %s: %d %v", n.name, code, err)
	}
	out := map[string]map[string]any{}
	for _, m := range v.Members {
		out[m.Name] = m.Tags
	}
	return out
}
