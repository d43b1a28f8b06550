package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/config"
)

// leaveTimeout bounds the whole leave: a switchover, stopping PostgreSQL,
// and the member disappearing from the cluster.
const leaveTimeout = 3 * time.Minute

// LeaveOptions are leave's flags.
type LeaveOptions struct {
	Evict bool // MEMBER is dead and will not return: remove it through any member
	Force bool // do not ask for confirmation; evict MEMBER if it does not answer
}

// Leave takes a member out of the cluster for good (this node by default),
// once the operator confirmed it; Evict removes a dead member, or, given
// HOST:PORT, a Raft server that no member record names.
func Leave(ctx context.Context, env Env, o LeaveOptions) error {
	cfg, rest, err := env.verbConfig(1)
	if err != nil {
		return err
	}
	name := cfg.Name
	if len(rest) == 1 {
		name = rest[0]
	}
	if o.Evict && len(rest) == 0 {
		return UsageError{errors.New("leave: --evict needs the MEMBER to evict")}
	}
	readCtx, cancelRead := context.WithTimeout(ctx, leaveTimeout)
	view, err := readCluster(readCtx, cfg, env.Err)
	cancelRead()
	if err != nil {
		return err
	}
	m, ok := findMember(view, name)
	if !ok {
		return evictServer(ctx, env, cfg, view, name, o)
	}
	if err := confirmLeave(env, m, cfg.Scope, o); err != nil {
		return err
	}
	// Counted from the answer: the question waits for the operator.
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	if o.Evict {
		return evict(ctx, env, cfg, name)
	}
	err = leaveGracefully(ctx, env, cfg, m)
	var unreachable memberUnreachable
	if o.Force && errors.As(err, &unreachable) {
		// `leave MEMBER --force` evicts a member that cannot answer (the
		// issue's and earlier releases' meaning); the cluster still refuses
		// while it reports within ttl or holds the leader key.
		fmt.Fprintf(env.Err, "%s does not answer (%v): evicting it\n", name, unreachable.err)
		return evict(ctx, env, cfg, name)
	}
	return err
}

// evictServer is `leave HOST:PORT --evict` (or --force) for a name that
// is no member: the Raft server at that address, which no member record
// names, is evicted. The cluster decides whether it is one (an older
// agent answers that there is no such member).
func evictServer(ctx context.Context, env Env, cfg *config.Config, view clusterView, addr string, o LeaveOptions) error {
	noMember := fmt.Errorf("leave: no member %s in cluster %s", addr, cfg.Scope)
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return noMember
	}
	if !o.Evict && !o.Force {
		if listedWithoutMember(view, addr) {
			return fmt.Errorf("%w; %s is a Raft server without a member record: evict it with conclave leave %s --evict", noMember, addr, addr)
		}
		return noMember
	}
	if !o.Force {
		question := fmt.Sprintf("Are you sure you want to evict Raft server %s from cluster %s?", addr, cfg.Scope)
		if err := confirm(env, question); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	return evict(ctx, env, cfg, addr)
}

// listedWithoutMember tells whether /cluster lists addr as a Raft server
// without a member record.
func listedWithoutMember(view clusterView, addr string) bool {
	for _, s := range view.RaftServersWithoutMember {
		if s.RaftAddr == addr {
			return true
		}
	}
	return false
}

// memberUnreachable: the member's own API did not answer the leave.
type memberUnreachable struct{ err error }

func (e memberUnreachable) Error() string { return e.err.Error() }
func (e memberUnreachable) Unwrap() error { return e.err }

// confirmLeave asks as patronictl's destructive verbs do, unless Force;
// no is an error.
func confirmLeave(env Env, m clusterMember, scope string, o LeaveOptions) error {
	if o.Force {
		return nil
	}
	question := fmt.Sprintf("Are you sure you want to take member %s out of cluster %s?", m.Name, scope)
	switch {
	case o.Evict:
		question = fmt.Sprintf("Are you sure you want to evict member %s from cluster %s?", m.Name, scope)
	case isPrimary(m):
		question = fmt.Sprintf("Are you sure you want to take member %s out of cluster %s, switching over first?", m.Name, scope)
	}
	return confirm(env, question)
}

// confirm asks question; no is an error.
func confirm(env Env, question string) error {
	ok, err := newTerminal(env.In, env.Out).confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("Aborted leave")
	}
	return nil
}

func isPrimary(m clusterMember) bool { return m.Role == "leader" || m.Role == "standby_leader" }

// evict removes a dead member through any member that answers.
func evict(ctx context.Context, env Env, cfg *config.Config, name string) error {
	body := map[string]any{"member": name, "force": true}
	_, err := askAnyMember(ctx, cfg, env.Err, func(a *apiClient) error {
		return a.send(ctx, http.MethodPost, "/leave", body, nil)
	})
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	fmt.Fprintf(env.Out, "%s evicted from cluster %s\n", name, cfg.Scope)
	return nil
}

// leaveGracefully asks the member itself to leave, after a switchover when
// it is the primary, and waits until it is no longer listed.
func leaveGracefully(ctx context.Context, env Env, cfg *config.Config, m clusterMember) error {
	start, name := time.Now(), m.Name
	member := newAPIClient(cfg)
	member.base = strings.TrimSuffix(m.APIURL, "/patroni")
	member.http.Timeout = time.Minute // a switchover waits for its outcome
	if isPrimary(m) {
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
	if err := member.send(ctx, http.MethodPost, "/leave", map[string]any{"member": name, "force": false}, nil); err != nil {
		var refused *apiError
		if name != cfg.Name && !errors.As(err, &refused) {
			return fmt.Errorf("leave: %w (if %s is dead for good, evict it: conclave leave %s --evict)", memberUnreachable{err}, name, name)
		}
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
