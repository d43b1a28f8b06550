//go:build integration

package integration

// A witness (issue 11): a Raft voter without PostgreSQL, so two database
// nodes plus a witness keep a quorum and fail over.

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// makeWitness rewrites n's configuration without a postgresql: section and
// makes the harness start it with `conclave witness`.
func makeWitness(c *cluster, n *node) {
	c.t.Helper()
	var partners []string
	for _, o := range c.nodes {
		if o != n {
			partners = append(partners, fmt.Sprintf("    - %s:%d", o.host, o.raftPort))
		}
	}
	cfg := fmt.Sprintf(`scope: %s
name: %s
restapi:
  listen: %s:%d
  connect_address: %s:%d
raft:
  data_dir: %s/raft
  self_addr: %s:%d
  partner_addrs:
%s
`, c.scope, n.name, n.host, n.apiPort, n.host, n.apiPort, n.dir, n.host, n.raftPort, strings.Join(partners, "\n"))
	if err := os.WriteFile(n.cfgPath, []byte(cfg), 0o600); err != nil {
		c.t.Fatal(err)
	}
	chownToPostgres(c.t, n.dir)
	n.verb = "witness"
}

// witnessView checks n's /cluster: one running leader among dbs, every other
// db node streaming, the witness listed as witness. It returns the leader.
func witnessView(n *node, dbs []*node, witness *node) (string, error) {
	cl, err := n.cluster()
	if err != nil {
		return "", err
	}
	leader := ""
	seen := 0
	for _, m := range cl.Members {
		switch {
		case m.Name == witness.name:
			if m.Role != "witness" || m.State != "running" {
				return "", fmt.Errorf("witness shown as %s/%s", m.Role, m.State)
			}
		case m.Role == "leader" && m.State == "running":
			leader = m.Name
		case m.State != "streaming":
			return "", fmt.Errorf("%s is %s/%s", m.Name, m.Role, m.State)
		}
		seen++
	}
	if seen != len(dbs)+1 {
		return "", fmt.Errorf("%d members listed, want %d", seen, len(dbs)+1)
	}
	if leader == "" || leader == witness.name {
		return "", fmt.Errorf("leader %q", leader)
	}
	return leader, nil
}

func TestWitness_TwoDatabaseNodesAndAWitness_SurviveTheLossOfThePrimarysNode(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	witness := c.nodes[2]
	makeWitness(c, witness)
	dbs := c.nodes[:2]
	c.startAll()
	var leaderName string
	waitFor(t, 90*time.Second, "two database nodes and a witness up", func() error {
		var err error
		leaderName, err = witnessView(witness, dbs, witness)
		return err
	})
	primary := c.byName(leaderName)
	other := dbs[0]
	if other == primary {
		other = dbs[1]
	}
	primary.exec(t, schemaSQL)
	w := startWriter(t, c, 2)
	w.waitWritesResume(t, time.Now(), 15*time.Second)

	out, err := primary.conclave("list", "-e")
	if err != nil || !strings.Contains(out, "Witness") {
		t.Errorf("list -e does not show the witness: %v\n%s", err, out)
	}
	t.Logf("list -e:\n%s", out)
	if slots, err := primary.queryString("SELECT coalesce(string_agg(slot_name, ','), '') FROM pg_replication_slots"); err != nil || strings.Contains(slots, witness.name) {
		t.Errorf("slots on the primary: %q (%v); want none for the witness", slots, err)
	}
	roles, err := raftRoles(primary)
	if err != nil || (roles[witness.name] != "voter" && roles[witness.name] != "leader") {
		t.Errorf("witness Raft role %q (%v), want a voter", roles[witness.name], err)
	}

	// The primary's host dies: the other database node takes over with the
	// witness's vote.
	t0 := crashNode(t, primary)
	waitFor(t, 60*time.Second, other.name+" leads", func() error {
		cl, err := other.cluster()
		if err != nil {
			return err
		}
		for _, m := range cl.Members {
			if m.Role == "leader" && m.State == "running" {
				if m.Name != other.name {
					return fmt.Errorf("leader is %s", m.Name)
				}
				return nil
			}
		}
		return errors.New("no running leader")
	})
	rto := w.waitWritesOn(t, other, t0, 60*time.Second)
	t.Logf("failover with a witness: writes resumed on %s %v after the crash", other.name, rto.Round(time.Millisecond))
	witnessShowsGone(t, witness, primary)

	// The old primary comes back as a replica; nothing acknowledged is lost
	// beyond what asynchronous replication allows (reported).
	primary.start()
	waitFor(t, 90*time.Second, primary.name+" streams again", func() error {
		_, err := witnessView(other, dbs, witness)
		return err
	})
	checkLedger(t, &cluster{t: t, nodes: dbs}, other, w, asyncMode)
}

// A witness reads raft: like a database node (issue 11): with mutual TLS
// and a password on every node, it joins the TLS cluster as a voter and
// does not warn that its Raft port is open. Its probes: /liveness 200 (its
// loop runs), /health and /readiness 503 (no PostgreSQL: a load balancer
// must never send clients to it). With failsafe_mode on it accepts POST
// /failsafe from the key holder its state names (200) and refuses any other
// sender (500).
func TestWitness_WithRaftTLS_JoinsTheTLSCluster_AndAnswersProbesAndFailsafe(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	witness := c.nodes[2]
	makeWitness(c, witness)
	dbs := c.nodes[:2]
	dir := filepath.Join(c.dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tlsCLI(t, "ca", "create", "--dir", dir)
	tlsCLI(t, "cert", "create", "--dir", dir, "member")
	chownToPostgres(t, dir)
	for _, n := range c.nodes {
		raftKeys(t, n, tlsLines(dir, "conclave", "member", "s3cret")...)
	}
	c.startAll()
	var leaderName string
	waitFor(t, 90*time.Second, "two database nodes and a TLS witness up", func() error {
		var err error
		leaderName, err = witnessView(witness, dbs, witness)
		return err
	})
	primary := c.byName(leaderName)
	waitFor(t, 30*time.Second, "the witness is a Raft voter", func() error {
		roles, err := raftRoles(primary)
		if err != nil {
			return err
		}
		if r := roles[witness.name]; r != "voter" && r != "leader" {
			return fmt.Errorf("witness Raft role %q", r)
		}
		return nil
	})
	if witness.logs.contains("the raft port is open to anyone") {
		t.Errorf("the witness warns that its Raft port is open although TLS and a password are set")
	}

	client := witness.http()
	for path, want := range map[string]int{"/liveness": 200, "/health": 503, "/readiness": 503, "/primary": 503, "/replica": 503} {
		if code, _, err := restRequest(client, http.MethodGet, witness.apiURL()+path, "", nil); err != nil || code != want {
			t.Errorf("witness GET %s: %d %v, want %d", path, code, err, want)
		}
	}

	if code, text := postText(t, primary, http.MethodPatch, "/config", `{"failsafe_mode":true}`); code != 200 {
		t.Fatalf("PATCH /config failsafe_mode: %d %s", code, text)
	}
	other := dbs[0]
	if other == primary {
		other = dbs[1]
	}
	// A heartbeat names the members its sender asked (DESIGN "Failsafe mode").
	asked := fmt.Sprintf(`"members":[%q,%q]`, other.name, witness.name)
	waitFor(t, 30*time.Second, "the witness accepts the holder's failsafe heartbeat", func() error {
		code, text := postText(t, witness, http.MethodPost, "/failsafe", fmt.Sprintf(`{"name":%q,%s}`, primary.name, asked))
		if code != 200 || text != "Accepted" {
			return fmt.Errorf("%d %s", code, text)
		}
		return nil
	})
	if code, text := postText(t, witness, http.MethodPost, "/failsafe", fmt.Sprintf(`{"name":%q}`, primary.name)); code != 500 || !strings.Contains(text, "did not ask member") {
		t.Errorf("witness POST /failsafe from the holder without the members it asked: %d %s, want 500 naming an unasked member", code, text)
	}
	if code, text := postText(t, witness, http.MethodPost, "/failsafe", fmt.Sprintf(`{"name":%q,"members":[%q,%q]}`, other.name, primary.name, witness.name)); code != 500 {
		t.Errorf("witness POST /failsafe from %s, which does not hold the key: %d %s, want 500", other.name, code, text)
	}
}

// witnessShowsGone checks rule 6 on the witness, which runs no HA loop: the
// dead member is shown stopped in its /cluster and not reporting in its
// metrics once silent for ttl (the witness used to show it as it last
// published, for ever).
func witnessShowsGone(t *testing.T, witness, dead *node) {
	t.Helper()
	waitFor(t, 30*time.Second, "the witness shows "+dead.name+" stopped", func() error {
		cl, err := witness.cluster()
		if err != nil {
			return err
		}
		for _, m := range cl.Members {
			if m.Name == dead.name && (m.State != "stopped" || m.Lag != "unknown") {
				return fmt.Errorf("%s shown %s with lag %v", m.Name, m.State, m.Lag)
			}
		}
		return nil
	})
	metrics, err := metricsOf(witness)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^conclave_member_reporting\{[^}]*member="` + dead.name + `"[^}]*\} (\S+)$`)
	if m := re.FindStringSubmatch(metrics); m == nil || m[1] != "0" {
		t.Errorf("witness's conclave_member_reporting for %s = %v, want 0", dead.name, m)
	}
}
