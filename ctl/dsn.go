package ctl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/conclave-ha/conclave/config"
)

// RoleNames are patronictl's --role choices.
var RoleNames = []string{"leader", "primary", "standby-leader", "replica", "standby", "any", "master"}

// DSNOptions are dsn's flags.
type DSNOptions struct {
	Role, Member string
	MultiHost    bool
}

// DSN is patronictl dsn: a libpq connection string for a member, the
// leader by default, or every member in one multi-host string.
func DSN(ctx context.Context, env Env, o DSNOptions) error {
	_, view, err := clusterForMember(ctx, env, o.Role, o.Member)
	if err != nil {
		return err
	}
	role, member := o.Role, o.Member
	if o.MultiHost {
		if member != "" {
			return UsageError{errors.New("dsn: --multi-host names every member; it cannot be combined with --member")}
		}
		s, err := multiHostDSN(view, role)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Out, s)
		return nil
	}
	m, err := pickMember(view, role, member)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "host=%s port=%d\n", m.Host, m.Port)
	return nil
}

// clusterForMember starts dsn and query: the configuration, the -r/-m
// choice checked, and the cluster as an agent sees it.
func clusterForMember(ctx context.Context, env Env, role, member string) (*config.Config, clusterView, error) {
	cfg, _, err := env.verbConfig(0)
	if err != nil {
		return nil, clusterView{}, err
	}
	if err := checkRoleMember(role, member); err != nil {
		return nil, clusterView{}, err
	}
	view, err := readCluster(ctx, cfg, env.Err)
	return cfg, view, err
}

// checkRoleMember refuses patronictl's invalid combinations.
func checkRoleMember(role, member string) error {
	if role != "" && member != "" {
		return UsageError{errors.New("--role and --member are mutually exclusive options")}
	}
	if role == "" {
		return nil
	}
	for _, r := range RoleNames {
		if r == role {
			return nil
		}
	}
	return UsageError{fmt.Errorf("--role must be one of %s, got %q", strings.Join(RoleNames, ", "), role)}
}

func isLeaderRole(role string) bool {
	switch role {
	case "", "leader", "primary", "master", "standby-leader":
		return true
	}
	return false
}

// pickMember is patronictl's get_any_member: the member named, else the
// leader for a leader role, else the first member (by name) in the role.
func pickMember(view clusterView, role, member string) (clusterMember, error) {
	ms := orderMembers(view.Members, false)
	for _, e := range ms {
		m := e.member
		switch {
		case member != "":
			if m.Name == member {
				return m, nil
			}
		case isLeaderRole(role):
			if m.Role == "leader" || (role == "standby-leader" && m.Role == "standby_leader") {
				return m, nil
			}
		case role == "any":
			return m, nil
		default: // replica, standby
			if !strings.HasSuffix(m.Role, "leader") {
				return m, nil
			}
		}
	}
	if member != "" {
		return clusterMember{}, fmt.Errorf("no member %q in cluster %s", member, view.Scope)
	}
	if role == "" {
		role = "leader"
	}
	return clusterMember{}, fmt.Errorf("can not find a suitable member: no %s in cluster %s", role, view.Scope)
}

// multiHostDSN lists every member's PostgreSQL address in one libpq
// connection string; target_session_attrs makes libpq try them in order
// and keep the first in the wanted role, so clients find the primary with
// no proxy, VIP or DNS change.
func multiHostDSN(view clusterView, role string) (string, error) {
	attrs := "read-write"
	switch role {
	case "replica", "standby":
		attrs = "standby"
	case "any":
		attrs = "any"
	}
	var hosts, ports []string
	ms := append([]clusterMember(nil), view.Members...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	for _, m := range ms {
		if m.Host == "" || m.Port == 0 {
			continue
		}
		hosts = append(hosts, m.Host)
		ports = append(ports, strconv.Itoa(m.Port))
	}
	if len(hosts) == 0 {
		return "", fmt.Errorf("no member of cluster %s has published its PostgreSQL address yet", view.Scope)
	}
	return fmt.Sprintf("host=%s port=%s target_session_attrs=%s", strings.Join(hosts, ","), strings.Join(ports, ","), attrs), nil
}
