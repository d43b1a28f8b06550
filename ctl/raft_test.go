package ctl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/config"
)

// A node without Raft state that lists partners finds its cluster through
// them; recover must not make it a one-node cluster beside them.
func TestRaftRecover_NodeWithoutStateWithPartners_RefusedNothingWritten(t *testing.T) {
	cfg := &config.Config{Path: "/etc/conclave/node2.yml"}
	cfg.Raft.DataDir = t.TempDir()
	cfg.Raft.SelfAddr = "10.0.0.2:5010"
	cfg.Raft.PartnerAddrs = []string{"10.0.0.1:5010", "10.0.0.3:5010"}
	var out, errOut bytes.Buffer
	env := Env{LoadConfig: func() (*config.Config, error) { return cfg, nil }, Out: &out, Err: &errOut}
	err := RaftRecover(context.Background(), env, []string{cfg.Raft.SelfAddr})
	if err == nil || !strings.Contains(err.Error(), "raft.partner_addrs") {
		t.Fatalf("recover: %v, want a refusal naming raft.partner_addrs", err)
	}
	if entries, _ := os.ReadDir(cfg.Raft.DataDir); len(entries) > 0 {
		t.Errorf("a refused recover wrote %v", entries)
	}

	// Without partners (a one-node cluster that lost its Raft data) it forms.
	cfg.Raft.PartnerAddrs = nil
	if err := RaftRecover(context.Background(), env, []string{cfg.Raft.SelfAddr}); err != nil {
		t.Fatalf("recover of a one-node cluster: %v", err)
	}
	if !strings.Contains(out.String(), "one-node Raft cluster") {
		t.Errorf("output %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(cfg.Raft.DataDir, "raft.db")); err != nil {
		t.Error(err)
	}
}
