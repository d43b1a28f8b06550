//go:build integration

package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// postgresql.use_unix_socket: true (README "Configuration": the agent's own
// SQL over the socket instead of TCP). pg_hba.conf rejects the superuser
// over TCP, so an agent that connected over TCP could neither observe nor
// promote its PostgreSQL. The cluster still bootstraps, a role created on
// the primary reaches both replicas, a crashed primary is replaced and the
// old one rejoins. The test's own queries go over TCP as the bootstrap user
// "app" (the superuser is refused, as the first check shows).
func TestUseUnixSocket_AgentsWorkWithSuperuserTCPRefused(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	for _, n := range c.nodes {
		b, err := os.ReadFile(n.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		cfg := string(b)
		hba := "  - host all all " + c.hbaNet + " md5\n"
		if !strings.Contains(cfg, hba) || !strings.Contains(cfg, "\n  pg_hba:\n") {
			t.Fatalf("unexpected generated configuration:\n%s", cfg)
		}
		cfg = strings.Replace(cfg, hba, "  - host all postgres "+c.hbaNet+" reject\n"+hba, 1)
		cfg = strings.Replace(cfg, "\n  pg_hba:\n", "\n  use_unix_socket: true\n  pg_hba:\n", 1)
		if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.startAll()
	leader := c.waitHealthy(90 * time.Second)
	if _, err := leader.queryString("SELECT 1::text"); err == nil || !strings.Contains(err.Error(), "pg_hba.conf rejects") {
		t.Fatalf("superuser over TCP: %v; want it rejected by pg_hba.conf (else this test proves nothing)", err)
	}
	app := func(n *node, q string) (string, error) { return n.queryStringAs("app", "app-secret", q) }
	if v, err := app(leader, "SELECT pg_is_in_recovery()::text"); err != nil || v != "false" {
		t.Fatalf("%s: pg_is_in_recovery() = %q, %v; want a primary", leader.name, v, err)
	}
	// CREATE DATABASE returns no row; only that "error" is fine.
	if _, err := app(leader, "CREATE DATABASE over_socket_check"); err != nil && !strings.Contains(err.Error(), "no rows in result set") {
		t.Fatalf("CREATE DATABASE as app on %s: %v", leader.name, err)
	}
	for _, n := range c.nodes {
		n := n
		waitFor(t, 30*time.Second, n.name+" has the new database", func() error {
			v, err := app(n, "SELECT count(*)::text FROM pg_database WHERE datname = 'over_socket_check'")
			if err != nil || v != "1" {
				return fmt.Errorf("%q, %v", v, err)
			}
			return nil
		})
	}

	t0 := crashNode(t, leader)
	var others []*node
	for _, n := range c.nodes {
		if n != leader {
			others = append(others, n)
		}
	}
	newLeader := waitLeaderAmong(t, c, others, leader, 30*time.Second)
	t.Logf("%s promoted %v after %s's crash", newLeader.name, time.Since(t0).Round(time.Millisecond), leader.name)
	waitFor(t, 15*time.Second, newLeader.name+" is writable", func() error {
		if v, err := app(newLeader, "SELECT pg_is_in_recovery()::text"); err != nil || v != "false" {
			return fmt.Errorf("pg_is_in_recovery() = %q, %v", v, err)
		}
		return nil
	})
	leader.start()
	if l := c.waitHealthy(90 * time.Second); l != newLeader {
		t.Errorf("leader %s after the old primary rejoined; want %s", l.name, newLeader.name)
	}
	if v, err := app(leader, "SELECT pg_is_in_recovery()::text"); err != nil || v != "true" {
		t.Errorf("%s: pg_is_in_recovery() = %q, %v; want a replica", leader.name, v, err)
	}
}
