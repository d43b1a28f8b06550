package ctl

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/conclave-ha/conclave/certs"
	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/raftstore"
)

// raftClient reaches this node's Raft port as a member would.
func raftClient(cfg *config.Config) (raftstore.Client, error) {
	var tlsCfg *tls.Config
	if t := cfg.Raft.TLS; t.Enabled() {
		var err error
		tlsCfg, err = certs.Peer(certs.Files{CertFile: t.CertFile, KeyFile: t.KeyFile, KeyPassword: t.KeyFilePassword, CAFile: t.CAFile})
		if err != nil {
			return raftstore.Client{}, fmt.Errorf("%s: raft.certfile/keyfile/cafile: %w", cfg.Path, err)
		}
	}
	return raftstore.Client{Addr: cfg.Raft.SelfAddr, Scope: cfg.Scope, Secret: cfg.Raft.Password, TLS: tlsCfg}, nil
}

// replaceState asks the Raft leader, through this node, to replace the
// state (restore or forget).
func replaceState(ctx context.Context, cfg *config.Config, kind string, data []byte) error {
	client, err := raftClient(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return client.Replace(ctx, kind, data)
}

func fileArg(env Env) (*config.Config, string, error) {
	cfg, err := env.LoadConfig()
	if err != nil {
		return nil, "", err
	}
	if len(env.Args) != 1 || env.Args[0] == "" {
		return nil, "", UsageError{fmt.Errorf("raft snapshot %s: name the file: conclave -c FILE raft snapshot %s SNAPSHOT_FILE", env.Verb, env.Verb)}
	}
	return cfg, env.Args[0], nil
}

// SnapshotSave writes the replicated state to the file named by the one
// positional, through this node's Raft port.
func SnapshotSave(ctx context.Context, env Env) error {
	cfg, file, err := fileArg(env)
	if err != nil {
		return err
	}
	client, err := raftClient(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	data, err := client.SaveSnapshot(ctx)
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("raft snapshot save: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("raft snapshot save: %w", err)
	}
	fmt.Fprintf(env.Out, "Saved the Raft state of cluster %s to %s (%d bytes)\n", cfg.Scope, file, len(data))
	return nil
}

// SnapshotRestore restores the dynamic configuration of the file named by
// the one positional into the running cluster.
func SnapshotRestore(ctx context.Context, env Env) error {
	cfg, file, err := fileArg(env)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("raft snapshot restore: %w", err)
	}
	if err := replaceState(ctx, cfg, raftstore.ReplaceRestore, data); err != nil {
		return fmt.Errorf("raft snapshot restore %s: %w", file, err)
	}
	fmt.Fprintf(env.Out, "Restored %s into cluster %s\n", file, cfg.Scope)
	return nil
}

// RaftRecover makes the given survivors (raft.self_addr, repeated or
// comma-separated) the only voters, with this node's agent stopped.
func RaftRecover(ctx context.Context, env Env, voterFlags []string) error {
	cfg, err := env.LoadConfig()
	if err != nil {
		return err
	}
	var voters []string
	for _, v := range voterFlags {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				voters = append(voters, a)
			}
		}
	}
	hadState, err := raftstore.HasRaftState(cfg.Raft.DataDir)
	if err == nil && !hadState && len(cfg.Raft.PartnerAddrs) > 0 {
		// Its formation rejoins them, or forms with them once all answer.
		return fmt.Errorf("raft recover: this node has no Raft state and lists raft.partner_addrs (%s): start its agent and it finds "+
			"its cluster through them. Recover forms a one-node cluster only of a node without partners", cfg.Path)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "recover", Output: env.Err, Level: hclog.Warn})
	if err := raftstore.Recover(cfg.Raft.DataDir, cfg.Raft.SelfAddr, voters, logger); err != nil {
		return fmt.Errorf("raft recover (%s): %w", cfg.Raft.DataDir, err)
	}
	if !hadState {
		fmt.Fprintf(env.Out, "%s is now a one-node Raft cluster; start the agent: it rebuilds the state from PostgreSQL\n", cfg.Raft.SelfAddr)
		return nil
	}
	fmt.Fprintf(env.Out, "Raft configuration of %s is now %s; start the agent (do the same on every survivor)\n", cfg.Raft.SelfAddr, strings.Join(voters, ", "))
	return nil
}
