package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/config"
)

// leaveTimeout bounds the whole leave: a switchover, stopping PostgreSQL,
// and the member disappearing from the cluster.
const leaveTimeout = 3 * time.Minute

// Leave takes a member out of the cluster for good (this node by default);
// force evicts a dead member.
func Leave(ctx context.Context, env Env, force bool) error {
	cfg, rest, err := env.verbConfig(1)
	if err != nil {
		return err
	}
	name := cfg.Name
	if len(rest) == 1 {
		name = rest[0]
	}
	if force && len(rest) == 0 {
		return UsageError{errors.New("leave: --force needs the MEMBER to evict")}
	}
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	view, err := readCluster(ctx, cfg, env.Err)
	if err != nil {
		return err
	}
	m, ok := findMember(view, name)
	if !ok {
		return fmt.Errorf("leave: no member %s in cluster %s", name, cfg.Scope)
	}
	start := time.Now()
	body := map[string]any{"member": name, "force": force}
	if force {
		_, err := askAnyMember(ctx, cfg, env.Err, func(a *apiClient) error {
			return a.send(ctx, http.MethodPost, "/leave", body, nil)
		})
		if err != nil {
			return fmt.Errorf("leave: %w", err)
		}
		fmt.Fprintf(env.Out, "%s evicted from cluster %s\n", name, cfg.Scope)
		return nil
	}
	member := newAPIClient(cfg)
	member.base = strings.TrimSuffix(m.APIURL, "/patroni")
	member.http.Timeout = time.Minute // a switchover waits for its outcome
	if m.Role == "leader" || m.Role == "standby_leader" {
		if err := checkQuorum(ctx, member, name); err != nil {
			return fmt.Errorf("leave: %w; nothing changed", err)
		}
		fmt.Fprintf(env.Out, "%s is the primary: switching over first\n", name)
		var answer string
		if err := member.send(ctx, http.MethodPost, "/switchover", map[string]any{"leader": name}, &answer); err != nil {
			return fmt.Errorf("leave: switchover away from %s failed: %w; the member stays", name, err)
		}
		fmt.Fprintf(env.Out, "%s\n", answer)
	}
	if err := member.send(ctx, http.MethodPost, "/leave", body, nil); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	if err := waitGone(ctx, cfg, name); err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "%s left cluster %s in %.1f s\n", name, cfg.Scope, time.Since(start).Seconds())
	return nil
}

// checkQuorum asks the member whether the Raft voters that would remain
// answer, before a switchover that the leave would otherwise do for
// nothing. An older agent does not know the check (400): the leave goes on
// as before.
func checkQuorum(ctx context.Context, member *apiClient, name string) error {
	err := member.send(ctx, http.MethodPost, "/leave", map[string]any{"member": name, "check": true}, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		return nil
	}
	return err
}

func findMember(view clusterView, name string) (clusterMember, bool) {
	for _, m := range view.Members {
		if m.Name == name {
			return m, true
		}
	}
	return clusterMember{}, false
}

// waitGone polls the cluster (through any member that answers) until name
// is no longer listed.
func waitGone(ctx context.Context, cfg *config.Config, name string) error {
	for {
		view, err := readCluster(ctx, cfg, io.Discard)
		if err == nil {
			if _, ok := findMember(view, name); !ok {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leave: %s is still listed after %s (last error: %v)", name, leaveTimeout, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
