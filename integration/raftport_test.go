//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// raftKeys adds lines to the raft: section of n's configuration file.
func raftKeys(t *testing.T, n *node, lines ...string) {
	t.Helper()
	b, err := os.ReadFile(n.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	add := "raft:\n  " + strings.Join(lines, "\n  ") + "\n"
	if err := os.WriteFile(n.cfgPath, []byte(strings.Replace(string(b), "raft:\n", add, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, n.cfgPath)
}

// tlsCLI runs `conclave tls ...` and fails the test on an error.
func tlsCLI(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(binary, append([]string{"tls"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("conclave tls %v: %v: %s", args, err, out)
	}
}

func tlsLines(dir, prefix, cert, password string) []string {
	return []string{
		"password: " + password,
		"certfile: " + filepath.Join(dir, cert+".pem"),
		"keyfile: " + filepath.Join(dir, cert+"-key.pem"),
		"cafile: " + filepath.Join(dir, prefix+"-ca.pem"),
	}
}

// README "Raft port security": a cluster with mutual TLS and a password
// (certificates made by conclave tls) runs; a node with a certificate of
// another CA, and one with the right certificate but a wrong password, are
// refused with a clear error on both sides, and nothing changes: the same
// three members, the same primary.
func TestRaftPort_NodeWithWrongCertificateOrPassword_IsRefusedAndNothingChanges(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{})
	dir := filepath.Join(c.dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tlsCLI(t, "ca", "create", "--dir", dir)
	tlsCLI(t, "cert", "create", "--dir", dir, "member")
	tlsCLI(t, "ca", "create", "--dir", dir, "--name-prefix", "rogue")
	tlsCLI(t, "cert", "create", "--dir", dir, "--name-prefix", "rogue", "intruder")
	chownToPostgres(t, dir)
	for _, n := range c.nodes {
		raftKeys(t, n, tlsLines(dir, "conclave", "member", "s3cret")...)
	}
	c.startAll()
	leader := waitConverged(c, 90*time.Second)
	for _, n := range c.nodes {
		if n.logs.contains("the raft port is open to anyone") {
			t.Errorf("%s warns that its Raft port is open although TLS and a password are set", n.name)
		}
	}

	intruders := map[string][]string{
		"rogue-cert":     tlsLines(dir, "rogue", "intruder", "s3cret"),
		"wrong-password": tlsLines(dir, "conclave", "member", "guess"),
	}
	var started []*node
	for name, lines := range intruders {
		n := c.newNode(name)
		c.writeConfig(n, clusterOptions{})
		raftKeys(t, n, lines...)
		n.start()
		t.Cleanup(n.stop)
		started = append(started, n)
	}
	for _, n := range started {
		waitFor(t, 30*time.Second, n.name+" says it was refused", func() error {
			if !n.logs.contains("could not authenticate with a peer") {
				return errors.New("no refusal in its log yet")
			}
			return nil
		})
	}
	waitFor(t, 30*time.Second, "the members log the refused connections", func() error {
		for _, n := range c.nodes {
			if n.logs.contains("raft port refused a connection: unknown node") {
				return nil
			}
		}
		return errors.New("no member logged a refusal yet")
	})
	holdsFor(t, 5*time.Second, "the cluster unchanged", func() error {
		cl, err := leader.cluster()
		if err != nil {
			return err
		}
		if len(cl.Members) != 3 {
			return fmt.Errorf("%d members: %+v", len(cl.Members), cl.Members)
		}
		for _, m := range cl.Members {
			if (m.Role == "leader" || m.Role == "primary") && m.Name != leader.name {
				return fmt.Errorf("%s became primary", m.Name)
			}
		}
		return nil
	})
	for _, n := range started {
		if _, err := os.Stat(filepath.Join(n.dataDir(), "PG_VERSION")); err == nil {
			t.Errorf("%s got a data directory: it must not have joined", n.name)
		}
	}
}
