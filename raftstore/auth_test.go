package raftstore_test

import (
	"crypto/tls"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/conclave-ha/conclave/certs"
	"github.com/conclave-ha/conclave/raftstore"
	"github.com/conclave-ha/conclave/raftstore/rafttest"
)

// secured starts three nodes that share secret and, when tlsCfg is set, TLS.
func secured(t *testing.T, secret string, tlsCfg *tls.Config) *rafttest.Cluster {
	return rafttest.NewWithOptions(t, 3, rafttest.Options{Edit: func(i int, cfg *raftstore.Config) {
		if i < 3 { // AddNode's own edit sets the others'
			cfg.Secret, cfg.TLS = secret, tlsCfg
		}
	}})
}

// unchanged checks that an intruder changed nothing: three voters, and the
// cluster still commits.
func unchanged(t *testing.T, c *rafttest.Cluster, intruder *raftstore.Store) {
	t.Helper()
	rafttest.HoldsFor(t, time.Second, notFormed(intruder))
	rafttest.WaitFor(t, 5*time.Second, func() error { return c.CheckVoters(3) })
	if _, err := c.Follower(t).Propose(testCtx(t), upsert("after")); err != nil {
		t.Errorf("propose after the intruder: %v", err)
	}
}

func TestAuth_NodeWithWrongPassword_IsRefusedAndNothingChanges(t *testing.T) {
	c := secured(t, "s3cret", nil)
	i := c.AddNode(t, func(cfg *raftstore.Config) { cfg.Secret = "guess" })
	unchanged(t, c, c.Store(i))
	j := c.AddNode(t, func(cfg *raftstore.Config) { cfg.Secret = "" })
	unchanged(t, c, c.Store(j))
	k := c.AddNode(t, func(cfg *raftstore.Config) { cfg.Secret = "s3cret" })
	// Its partner list holds the two refused nodes, which do not answer it.
	rafttest.WaitFor(t, 5*time.Second, func() error {
		if !c.Store(k).Formed() {
			return errors.New("node with the right password not formed")
		}
		return c.CheckVoters(4)
	})
}

// tlsFiles writes a CA and a node certificate signed by it into dir.
func tlsFiles(t *testing.T, dir, name string) *tls.Config {
	t.Helper()
	ca := certs.CAFiles(dir, name)
	if err := certs.CreateCA(ca, name+" CA", 1); err != nil {
		t.Fatal(err)
	}
	node := certs.Node{CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+"-key.pem"),
		CommonName: name, Hosts: []string{"127.0.0.1"}, Days: 1}
	if err := certs.CreateNode(ca, node); err != nil {
		t.Fatal(err)
	}
	cfg, err := certs.Peer(certs.Files{CertFile: node.CertFile, KeyFile: node.KeyFile, CAFile: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestAuth_NodeWithCertificateOfAnotherCA_IsRefusedAndNothingChanges(t *testing.T) {
	dir := t.TempDir()
	good, rogue := tlsFiles(t, dir, "cluster"), tlsFiles(t, dir, "rogue")
	c := secured(t, "", good)
	i := c.AddNode(t, func(cfg *raftstore.Config) { cfg.TLS = rogue })
	unchanged(t, c, c.Store(i))
	j := c.AddNode(t, func(cfg *raftstore.Config) { cfg.TLS = nil })
	unchanged(t, c, c.Store(j))

	_, _, _, err := raftstore.Hello(testCtx(t), c.Addr(0), "", rogue)
	if !errors.Is(err, raftstore.ErrAuth) {
		t.Errorf("hello with a rogue certificate: %v, want ErrAuth", err)
	}
	if _, _, _, err := raftstore.Hello(testCtx(t), c.Addr(0), "", good); err != nil {
		t.Errorf("hello with the cluster's certificate: %v", err)
	}
}

// A well-formed AppendEntries from a host without the password or the
// certificate is never read by Raft: the connection is closed. Had Raft read
// it, node0 would have taken its term (far above any real one), so the term
// shows it whatever elections a loaded machine runs meanwhile.
func TestAuth_UnauthenticatedRaftTraffic_IsClosedUnread(t *testing.T) {
	const forgedTerm = 1 << 40
	for _, tc := range []struct {
		name   string
		secret string
		tls    bool
	}{{"password", "s3cret", false}, {"tls", "", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var tlsCfg *tls.Config
			if tc.tls {
				tlsCfg = tlsFiles(t, t.TempDir(), "cluster")
			}
			c := secured(t, tc.secret, tlsCfg)
			if _, err := c.Leader(t).Propose(testCtx(t), upsert("before")); err != nil {
				t.Fatal(err)
			}
			client, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, rafttest.Scaled(10*time.Second), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			intruder := []byte(client.LocalAddr())
			req := &raft.AppendEntriesRequest{
				RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: intruder, Addr: intruder},
				Term:      forgedTerm, LeaderCommitIndex: 1 << 30,
				Entries: []*raft.Log{{Index: 1 << 30, Term: forgedTerm, Type: raft.LogCommand, Data: []byte("forged")}},
			}
			var resp raft.AppendEntriesResponse
			err = client.AppendEntries(raft.ServerID(c.Addr(0)), raft.ServerAddress(c.Addr(0)), req, &resp)
			if err == nil {
				t.Errorf("forged AppendEntries answered (success %v, term %d); want the connection closed", resp.Success, resp.Term)
			}
			for i := 0; i < 3; i++ {
				if term := c.Store(i).Stats().Term; term >= forgedTerm {
					t.Errorf("node%d took the forged term: %d", i, term)
				}
			}
			if _, err := c.Follower(t).Propose(testCtx(t), upsert("after")); err != nil {
				t.Errorf("propose after the intruder: %v", err)
			}
		})
	}
}
