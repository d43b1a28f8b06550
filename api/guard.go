package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Access is the access control of state-changing requests (every method
// but GET, HEAD and OPTIONS, on every route, so endpoints added later are
// guarded without knowing it). Health and monitoring GETs stay open, as
// Patroni's.
//
// The checks, in order, each refusing on its own (Patroni's order):
//  1. Allowlist / AllowlistIncludeMembers: the client's address must be in
//     the list or be a member's host, else 403.
//  2. VerifyClient optional|required: the client must have presented a
//     certificate that verified against restapi.cafile, else 403.
//  3. The member credential (MemberTokenHeader) when it is sent: it must be
//     right (else 401); a right one stands in for 4 and 5.
//  4. Auth (restapi.authentication): basic auth must match, else 401.
//  5. With none of Auth, Allowlist, AllowlistIncludeMembers and
//     VerifyClient optional|required set: the client must be on loopback,
//     or (when there is no MemberSecret) on a member's host, else 403 with
//     a message naming the settings.
//
// Why 5 may trust member hosts without raft.password: the default already
// trusts every process on a member host (through its own agent's loopback
// port), so a write from one member host to another adds no new principal;
// and without raft.password anyone who can reach a Raft port can propose
// commands anyway. With raft.password set, members prove themselves with
// MemberToken instead and member hosts get no special treatment.
type Access struct {
	// Allowlist holds IPs, CIDRs or host names (resolved per request).
	Allowlist               []string
	AllowlistIncludeMembers bool
	// VerifyClient is restapi.verify_client: "", none, optional or required.
	VerifyClient string
	// MemberSecret is the key of the member credential (raft.password).
	MemberSecret string
	// Scope is mixed into the member credential.
	Scope string
	// ConfigFile is named in the 403 of the default rule.
	ConfigFile string
}

// MemberTokenHeader carries the member credential on calls between members.
const MemberTokenHeader = "X-Conclave-Member-Token"

// MemberToken is the member credential both sides derive from the cluster's
// shared secret (raft.password): HMAC-SHA256 of a fixed label and the scope.
// It is never the secret itself, so a leaked token does not open the Raft
// port. Empty when there is no secret.
func MemberToken(secret, scope string) string {
	if secret == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("conclave rest member credential v1\x00" + scope))
	return hex.EncodeToString(m.Sum(nil))
}

// SetMemberToken adds the member credential to a request one member sends
// to another (a no-op without a secret).
func SetMemberToken(req *http.Request, secret, scope string) {
	if tok := MemberToken(secret, scope); tok != "" {
		req.Header.Set(MemberTokenHeader, tok)
	}
}

var errForbidden = errors.New("forbidden")

// safeMethod: methods that change nothing and pass without the guard.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// openByDefault reports whether none of the settings that let writes in
// from other hosts is set.
func (s *Server) openByDefault() bool {
	a := s.cfg.Access
	return s.cfg.Auth == nil && len(a.Allowlist) == 0 && !a.AllowlistIncludeMembers && !s.verifiesClients()
}

func (s *Server) verifiesClients() bool {
	v := s.cfg.Access.VerifyClient
	return s.cfg.TLS != nil && (v == "optional" || v == "required")
}

// admit is the guard of every state-changing request; nil lets it through.
func (s *Server) admit(r *http.Request) error {
	if safeMethod(r.Method) {
		return nil
	}
	a := s.cfg.Access
	ip := clientIP(r)
	if len(a.Allowlist) > 0 || a.AllowlistIncludeMembers {
		if ip == nil || !s.allowlisted(r.Context(), ip) {
			return fmt.Errorf("%w: access is denied: %s is not in restapi.allowlist", errForbidden, ipString(ip))
		}
	}
	if s.verifiesClients() && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		return fmt.Errorf("%w: a client certificate is required (restapi.verify_client: %s)", errForbidden, a.VerifyClient)
	}
	if tok := r.Header.Get(MemberTokenHeader); tok != "" {
		want := MemberToken(a.MemberSecret, a.Scope)
		if want == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(want)) != 1 {
			return fmt.Errorf("%w: wrong member credential (raft.password differs between members?)", errUnauthorized)
		}
		return nil
	}
	if s.cfg.Auth != nil && !s.authorized(r) {
		return errUnauthorized
	}
	if s.openByDefault() && !(ip != nil && ip.IsLoopback()) &&
		!(a.MemberSecret == "" && ip != nil && s.memberHost(r.Context(), ip)) {
		where := ""
		if a.ConfigFile != "" {
			where = " in " + a.ConfigFile
		}
		return fmt.Errorf("%w: %s %s from %s refused: without restapi.authentication, restapi.allowlist or restapi.verify_client (optional|required) set%s, state-changing requests are accepted only from loopback and the members' hosts (a node joins from another host with raft.password set on every node)",
			errForbidden, r.Method, r.URL.Path, ipString(ip), where)
	}
	return nil
}

func (s *Server) authorized(r *http.Request) bool {
	a := s.cfg.Auth
	if a == nil {
		return true
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(a.Password)) == 1
	return userOK && passOK
}

func clientIP(r *http.Request) net.IP {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return net.ParseIP(host)
}

func ipString(ip net.IP) string {
	if ip == nil {
		return "an unknown address"
	}
	return ip.String()
}

// allowlisted: ip is in restapi.allowlist or (with allowlist_include_members)
// a member's host.
func (s *Server) allowlisted(ctx context.Context, ip net.IP) bool {
	for _, entry := range s.cfg.Access.Allowlist {
		if strings.Contains(entry, "/") {
			if _, n, err := net.ParseCIDR(entry); err == nil && n.Contains(ip) {
				return true
			}
			continue
		}
		if hostHasIP(ctx, entry, ip) {
			return true
		}
	}
	return s.cfg.Access.AllowlistIncludeMembers && s.memberHost(ctx, ip)
}

// memberHost: ip is the host of a member's REST API, PostgreSQL or Raft
// address as the replicated state lists them.
func (s *Server) memberHost(ctx context.Context, ip net.IP) bool {
	for _, m := range s.cfg.Source.Cluster().Members {
		hosts := []string{m.Host, hostOf(m.RaftAddr)}
		if u, err := url.Parse(m.APIURL); err == nil {
			hosts = append(hosts, u.Hostname())
		}
		for _, h := range hosts {
			if h != "" && hostHasIP(ctx, h, ip) {
				return true
			}
		}
	}
	return false
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// hostHasIP compares ip with host, an IP literal or a name resolved with a
// short deadline (only state-changing requests get here).
func hostHasIP(ctx context.Context, host string, ip net.IP) bool {
	if h := net.ParseIP(host); h != nil {
		return h.Equal(ip)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if a.IP.Equal(ip) {
			return true
		}
	}
	return false
}
