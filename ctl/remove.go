package ctl

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/conclave-ha/conclave/raftstore"
)

// Remove is patronictl's remove: forget the cluster's replicated state
// once the operator typed its name and the confirmation. The Raft leader
// refuses while a leader lease may be trusted; PostgreSQL data is never
// touched, and the agents rebuild the state from it (ha/rebuild.go).
func Remove(ctx context.Context, env Env) error {
	cfg, err := env.LoadConfig()
	if err != nil {
		return err
	}
	if len(env.Args) != 1 || env.Args[0] != cfg.Scope {
		return UsageError{fmt.Errorf("remove: name the cluster: conclave -c FILE remove %s", cfg.Scope)}
	}
	in := bufio.NewReader(env.In)
	fmt.Fprint(env.Out, "Please confirm the cluster name to remove: ")
	if line, _ := in.ReadString('\n'); strings.TrimSpace(line) != cfg.Scope {
		return fmt.Errorf("remove: the cluster name does not match %q: nothing removed", cfg.Scope)
	}
	fmt.Fprint(env.Out, "You are about to remove all information in Raft for "+cfg.Scope+`, please type: "Yes I am aware": `)
	if line, _ := in.ReadString('\n'); strings.TrimSpace(line) != "Yes I am aware" {
		return fmt.Errorf("remove: not confirmed: nothing removed")
	}
	if err := replaceState(ctx, cfg, raftstore.ReplaceForget, nil); err != nil {
		return fmt.Errorf("remove %s: %w", cfg.Scope, err)
	}
	fmt.Fprintf(env.Out, "Removed the state of cluster %s; the agents rebuild it from their PostgreSQL data\n", cfg.Scope)
	return nil
}
