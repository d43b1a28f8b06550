package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/config"
)

// A verb that acts on the cluster starts with openSession: the
// configuration and the positionals after the optional cluster name
// (verbConfig), the cluster view from the local agent or, when it is down,
// from another member (reachCluster, reach.go), and the terminal for
// patronictl's questions (terminal.go). Its requests go to each member's
// own REST API (api_url from the view), as patronictl sends them.

// writeTimeout bounds one write request: POST /switchover waits up to 14 s
// for the new leader, a restart in place for PostgreSQL to come back.
const writeTimeout = 20 * time.Second

// session is one verb's view of the cluster and its terminal.
type session struct {
	cfg  *config.Config
	view clusterView
	from *apiClient // the agent that answered GET /cluster
	term *terminal
}

// openSession loads the configuration, reads the positionals (at most
// maxArgs after the cluster name; < 0: any number) and the cluster view.
func openSession(ctx context.Context, env Env, maxArgs int) (*session, []string, error) {
	cfg, rest, err := env.verbConfig(maxArgs)
	if err != nil {
		return nil, nil, err
	}
	view, from, err := reachCluster(ctx, cfg, env.Err)
	if err != nil {
		return nil, nil, err
	}
	return &session{cfg: cfg, view: view, from: from, term: newTerminal(env.In, env.Out)}, rest, nil
}

// refresh reads the cluster view again (after a switchover).
func (s *session) refresh(ctx context.Context) error {
	view, from, err := reachCluster(ctx, s.cfg, io.Discard)
	if err == nil {
		s.view, s.from = view, from
	}
	return err
}

// showMembers prints patronictl's member table of the current view.
func (s *session) showMembers() {
	renderMembers(s.term.out, s.view, listOptions{format: "pretty"})
}

// leader is the member holding the leader key ("" when none).
func (s *session) leader() string {
	for _, m := range s.view.Members {
		if m.Role == "leader" || m.Role == "standby_leader" {
			return m.Name
		}
	}
	return ""
}

// memberAPI is a client of member m's own REST API (its api_url without
// the /patroni path), with the CLI's transport and credentials.
func (s *session) memberAPI(m clusterMember) (*apiClient, error) {
	base := apiBase(m.APIURL)
	if base == "" {
		return nil, fmt.Errorf("member %s has no usable api_url %q", m.Name, m.APIURL)
	}
	a := newAPIClient(s.cfg)
	a.base = base
	a.http = &http.Client{Timeout: writeTimeout, Transport: a.http.Transport}
	return a, nil
}

// call sends one request to member m. It returns the HTTP status (2xx on
// success) with the body of a refusal, or -1 with the reason when the
// member could not be reached.
func (s *session) call(ctx context.Context, m clusterMember, method, path string, body, out any) (status int, msg string) {
	a, err := s.memberAPI(m)
	if err != nil {
		return -1, err.Error()
	}
	status, _, err = a.request(ctx, method, path, nil, body, out)
	var ae *apiError
	switch {
	case err == nil:
		return status, ""
	case errors.As(err, &ae):
		return ae.Status, ae.Message
	}
	return -1, reachReason(err)
}

// sendFirstReachable sends one request to the members in patronictl's
// order (first, when it names a member, then the leader, then the others
// by name; get_all_members_leader_first), then to the agent that gave the
// view; it moves on only when a member could not be connected to (a
// request that may have arrived is never sent twice). An HTTP refusal is
// returned as an *apiError.
func (s *session) sendFirstReachable(ctx context.Context, first, method, path string, body, out any) error {
	ms := append([]clusterMember(nil), s.view.Members...)
	rank := func(m clusterMember) int {
		switch {
		case first != "" && m.Name == first:
			return 0
		case m.Role == "leader" || m.Role == "standby_leader":
			return 1
		}
		return 2
	}
	sort.SliceStable(ms, func(i, j int) bool {
		if ri, rj := rank(ms[i]), rank(ms[j]); ri != rj {
			return ri < rj
		}
		return ms[i].Name < ms[j].Name
	})
	var clients []*apiClient
	seen := map[string]bool{}
	for _, m := range ms {
		if a, err := s.memberAPI(m); err == nil && !seen[a.base] {
			seen[a.base] = true
			clients = append(clients, a)
		}
	}
	if s.from != nil && !seen[s.from.base] {
		a := *s.from
		a.http = &http.Client{Timeout: writeTimeout, Transport: a.http.Transport}
		clients = append(clients, &a)
	}
	for _, a := range clients {
		err := a.send(ctx, method, path, body, out)
		if !notSent(err) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("Can not find accessible cluster member of cluster %s", s.view.Scope)
}

// roleMatches is patronictl's --role filter (role_choice): any, the leader
// (leader, primary, master; standby-leader) or a replica (replica, standby).
func roleMatches(role, memberRole string) (bool, error) {
	leader := memberRole == "leader" || memberRole == "standby_leader"
	switch role {
	case "", "any":
		return true, nil
	case "primary", "leader", "master":
		return memberRole == "leader", nil
	case "standby-leader":
		return memberRole == "standby_leader", nil
	case "replica", "standby":
		return !leader, nil
	}
	return false, UsageError{fmt.Errorf("--role must be one of %s, got %q", strings.Join(RoleNames, ", "), role)}
}

// notSent tells a request that never reached an agent (no connection could
// be made) from one that may have: only the first may go to another member.
func notSent(err error) bool {
	var re *reachError
	var op *net.OpError
	return errors.As(err, &re) && errors.As(err, &op) && op.Op == "dial"
}
