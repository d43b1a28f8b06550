package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/conclave-ha/conclave/config"
)

// Reading the cluster when the local agent is down.
//
// Every verb that reads the cluster (reachCluster: list, topology, and the
// acting verbs through openSession; history, show-config and edit-config
// through askAnyMember) asks the local agent first (restapi.connect_address
// of the file given with -c). When it cannot be reached they ask, in order:
//  1. the members of the last cluster view this user's CLI saw for this
//     scope: their api_url from GET /cluster, cached in
//     $XDG_CACHE_HOME/conclave/<scope>.members.json (~/.cache/conclave/…;
//     CONCLAVE_CACHE_DIR overrides the folder). Every successful GET
//     /cluster rewrites it.
//  2. the hosts of raft.partner_addrs with this node's REST port: the only
//     REST address the file itself lets the CLI derive (the file names the
//     other peers' Raft ports, not their REST ports), right when every node
//     uses the same restapi port, as Patroni's 8008 convention has it.
// Only a failure to reach an agent moves on to the next; an HTTP answer,
// even an error, is final. Who answered is said on stderr when it was not
// the local agent.

// candidate is one REST API the CLI may ask.
type candidate struct {
	name string // member name, or how the address was derived
	base string // http://host:port
}

// reachError is a failure to get any answer from an agent.
type reachError struct{ err error }

func (e *reachError) Error() string { return e.err.Error() }
func (e *reachError) Unwrap() error { return e.err }

// candidates lists the REST APIs to ask, the local one first, without duplicates.
func candidates(cfg *config.Config) []candidate {
	out := []candidate{{name: cfg.Name, base: cfg.APIURL()}}
	seen := map[string]bool{cfg.APIURL(): true}
	add := func(c candidate) {
		if c.base != "" && !seen[c.base] {
			seen[c.base] = true
			out = append(out, c)
		}
	}
	for _, m := range readMemberCache(cfg.Scope) {
		if m.Name != cfg.Name {
			add(candidate{name: m.Name, base: apiBase(m.APIURL)})
		}
	}
	_, port, err := net.SplitHostPort(cfg.RestAPI.ConnectAddress)
	if err == nil {
		for _, p := range cfg.Raft.PartnerAddrs {
			if host, _, err := net.SplitHostPort(p); err == nil {
				add(candidate{name: "raft partner " + host, base: "http://" + net.JoinHostPort(host, port)})
			}
		}
	}
	return out
}

// apiBase turns a member's api_url (http://h:p/patroni) into http://h:p.
func apiBase(apiURL string) string {
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// askAnyMember runs fn against the local agent and then, while no agent
// could be reached, against every other candidate. It returns the
// candidate that answered. stderr is told who answered when it was not the
// local agent.
func askAnyMember(ctx context.Context, cfg *config.Config, stderr io.Writer, fn func(a *apiClient) error) (candidate, error) {
	cands := candidates(cfg)
	var failed []string
	var firstErr error
	for i, c := range cands {
		a := newAPIClient(cfg)
		a.base = c.base
		err := fn(a)
		var re *reachError
		if err == nil || !errors.As(err, &re) {
			if err == nil && i > 0 {
				fmt.Fprintf(stderr, "conclave: the local agent at %s does not answer; answered by %s at %s\n", cfg.APIURL(), c.name, c.base)
			}
			return c, err
		}
		if firstErr == nil {
			firstErr = re
		}
		failed = append(failed, fmt.Sprintf("%s at %s: %s", c.name, c.base, reachReason(re)))
		if ctx.Err() != nil {
			break
		}
	}
	if len(cands) == 1 {
		return candidate{}, fmt.Errorf("cannot reach the agent's REST API at %s (%s) and no other member is known: list the other peers in raft.partner_addrs, or run a command once while the agent is up", cfg.APIURL(), reachReason(firstErr))
	}
	return candidate{}, fmt.Errorf("no member answered: %s", strings.Join(failed, "; "))
}

// reachReason is the root cause of a failure to reach an agent
// ("connection refused", "i/o timeout"), without the URL repeated.
func reachReason(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err.Error()
		}
		return op.Err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// cachedMember is one entry of the member cache file.
type cachedMember struct {
	Name   string `json:"name"`
	APIURL string `json:"api_url"`
}

func memberCachePath(scope string) string {
	dir := os.Getenv("CONCLAVE_CACHE_DIR")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "conclave")
	}
	return filepath.Join(dir, scope+".members.json")
}

func readMemberCache(scope string) []cachedMember {
	p := memberCachePath(scope)
	if p == "" {
		return nil
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var ms []cachedMember
	if json.Unmarshal(raw, &ms) != nil {
		return nil
	}
	return ms
}

// writeMemberCache remembers the members of view. Failing to write the
// cache is not an error of the command: the cache only helps later.
func writeMemberCache(scope string, view clusterView) {
	p := memberCachePath(scope)
	if p == "" || len(view.Members) == 0 {
		return
	}
	ms := make([]cachedMember, 0, len(view.Members))
	for _, m := range view.Members {
		if m.APIURL != "" {
			ms = append(ms, cachedMember{Name: m.Name, APIURL: m.APIURL})
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	raw, err := json.Marshal(ms)
	if err != nil || os.MkdirAll(filepath.Dir(p), 0o700) != nil {
		return
	}
	tmp := p + ".tmp"
	if os.WriteFile(tmp, raw, 0o600) == nil {
		_ = os.Rename(tmp, p)
	}
}
