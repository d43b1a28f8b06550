package ctl

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/conclave-ha/conclave/raftstore"
)

// Join asks a running cluster, through the member at via (HOST:PORT of its
// REST API), to add this node; `run` does the rest (Raft catch-up, clone,
// slot, streaming).
func Join(ctx context.Context, env Env, via string) error {
	cfg, _, err := env.verbConfig(0)
	if err != nil {
		return err
	}
	if via == "" {
		return UsageError{fmt.Errorf("join: --via HOST:PORT is required (any member's REST address)")}
	}
	if _, _, err := net.SplitHostPort(via); err != nil {
		return UsageError{fmt.Errorf("join: --via %q: %v", via, err)}
	}
	if err := raftstore.CanJoin(cfg.Raft.DataDir); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	api := newAPIClient(cfg)
	u, err := url.Parse(api.base)
	if err != nil {
		return err
	}
	api.base = u.Scheme + "://" + via
	var ans struct {
		Servers      []string `json:"servers"`
		CatchUpIndex uint64   `json:"catch_up_index"`
	}
	body := map[string]string{"name": cfg.Name, "scope": cfg.Scope, "raft_addr": cfg.Raft.SelfAddr}
	if err := api.send(ctx, http.MethodPost, "/members", body, &ans); err != nil {
		return fmt.Errorf("join via %s: %w", via, err)
	}
	if err := raftstore.PrepareJoin(cfg.Raft.DataDir, ans.Servers, ans.CatchUpIndex); err != nil {
		return fmt.Errorf("join: the cluster added %s but this node could not record it: %w; run join again", cfg.Name, err)
	}
	fmt.Fprintf(env.Out, "%s added to cluster %s as a Raft non-voter; start the agent (conclave -c %s run): it clones PostgreSQL and becomes a voter once caught up\n",
		cfg.Name, cfg.Scope, cfg.Path)
	return nil
}
