package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/certs"
	"github.com/conclave-ha/conclave/certs/certtest"
	"github.com/conclave-ha/conclave/fsm"
)

// guardCluster has two members on 10.0.0.1 and 10.0.0.2.
func guardCluster() fsm.State {
	return fsm.State{Members: map[string]fsm.Member{
		"node1": {Name: "node1", APIURL: "http://10.0.0.1:8008/patroni", Host: "10.0.0.1", RaftAddr: "10.0.0.1:5010"},
		"node2": {Name: "node2", APIURL: "http://10.0.0.2:8008/patroni", Host: "10.0.0.2", RaftAddr: "10.0.0.2:5010"},
	}}
}

type guardReq struct {
	method, from string
	user, pass   string
	token        string
}

func serveGuarded(t *testing.T, cfg Config, rq guardReq) *httptest.ResponseRecorder {
	t.Helper()
	if cfg.Source == nil {
		cfg.Source = &fakeSource{node: leaderNode(), state: guardCluster()}
	}
	cfg.Config = &fakeWriter{}
	cfg.Failsafe = &fakeFailsafe{}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A route another endpoint adds later is guarded without knowing it.
	srv.handle("/switchover", http.MethodPost, func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	path, body := "/config", `{"ttl": 31}`
	switch rq.method {
	case http.MethodPost:
		path = "/switchover"
	case http.MethodGet:
		body = ""
	}
	req := httptest.NewRequest(rq.method, path, strings.NewReader(body))
	req.RemoteAddr = rq.from + ":40000"
	if strings.Contains(rq.from, ":") {
		req.RemoteAddr = "[" + rq.from + "]:40000"
	}
	if rq.user != "" {
		req.SetBasicAuth(rq.user, rq.pass)
	}
	if rq.token != "" {
		req.Header.Set(MemberTokenHeader, rq.token)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec
}

func TestGuard_StateChangingRequests(t *testing.T) {
	auth := &BasicAuth{Username: "admin", Password: "s3cret"}
	token := MemberToken("raft-pw", "demo")
	cases := []struct {
		name     string
		cfg      Config
		req      guardReq
		want     int
		wantBody string
	}{
		{"default: loopback PATCH", Config{}, guardReq{method: "PATCH", from: "127.0.0.1"}, 200, ""},
		{"default: loopback v6 POST", Config{}, guardReq{method: "POST", from: "::1"}, 200, ""},
		{"default: remote PATCH refused", Config{Access: Access{ConfigFile: "/etc/conclave.yml"}}, guardReq{method: "PATCH", from: "192.0.2.7"}, 403,
			"PATCH /config from 192.0.2.7 refused: without restapi.authentication, restapi.allowlist or restapi.verify_client (optional|required) set in /etc/conclave.yml"},
		{"default: remote POST to a later route refused", Config{}, guardReq{method: "POST", from: "192.0.2.7"}, 403, "restapi.authentication"},
		{"default: remote GET open", Config{}, guardReq{method: "GET", from: "192.0.2.7"}, 200, ""},
		{"default, no raft.password: member host trusted", Config{}, guardReq{method: "POST", from: "10.0.0.2"}, 200, ""},
		{"default, raft.password: member host needs the token", Config{Access: Access{MemberSecret: "raft-pw", Scope: "demo"}},
			guardReq{method: "POST", from: "10.0.0.2"}, 403, "accepted only from loopback"},
		{"default, raft.password: member token accepted", Config{Access: Access{MemberSecret: "raft-pw", Scope: "demo"}},
			guardReq{method: "POST", from: "10.0.0.2", token: token}, 200, ""},
		{"wrong member token", Config{Access: Access{MemberSecret: "raft-pw", Scope: "demo"}},
			guardReq{method: "POST", from: "127.0.0.1", token: MemberToken("other", "demo")}, 401, "member credential"},
		{"token of another scope", Config{Access: Access{MemberSecret: "raft-pw", Scope: "demo"}},
			guardReq{method: "POST", from: "10.0.0.2", token: MemberToken("raft-pw", "other")}, 401, ""},
		{"auth: remote without credentials", Config{Auth: auth}, guardReq{method: "PATCH", from: "192.0.2.7"}, 401, "authentication required"},
		{"auth: loopback without credentials", Config{Auth: auth}, guardReq{method: "PATCH", from: "127.0.0.1"}, 401, ""},
		{"auth: remote wrong password", Config{Auth: auth}, guardReq{method: "PATCH", from: "192.0.2.7", user: "admin", pass: "nope"}, 401, ""},
		{"auth: remote right credentials", Config{Auth: auth}, guardReq{method: "PATCH", from: "192.0.2.7", user: "admin", pass: "s3cret"}, 200, ""},
		{"auth: member token instead of credentials", Config{Auth: auth, Access: Access{MemberSecret: "raft-pw", Scope: "demo"}},
			guardReq{method: "POST", from: "10.0.0.2", token: token}, 200, ""},
		{"auth: GET needs nothing", Config{Auth: auth}, guardReq{method: "GET", from: "192.0.2.7"}, 200, ""},
		{"allowlist: listed CIDR", Config{Access: Access{Allowlist: []string{"192.0.2.0/24"}}}, guardReq{method: "PATCH", from: "192.0.2.7"}, 200, ""},
		{"allowlist: listed IP", Config{Access: Access{Allowlist: []string{"192.0.2.7"}}}, guardReq{method: "PATCH", from: "192.0.2.7"}, 200, ""},
		{"allowlist: not listed, even loopback", Config{Access: Access{Allowlist: []string{"192.0.2.0/24"}}}, guardReq{method: "PATCH", from: "127.0.0.1"}, 403, "not in restapi.allowlist"},
		{"allowlist: listed but auth wrong", Config{Auth: auth, Access: Access{Allowlist: []string{"192.0.2.0/24"}}},
			guardReq{method: "PATCH", from: "192.0.2.7", user: "admin", pass: "x"}, 401, ""},
		{"allowlist_include_members: member", Config{Access: Access{AllowlistIncludeMembers: true}}, guardReq{method: "POST", from: "10.0.0.1"}, 200, ""},
		{"allowlist_include_members: stranger", Config{Access: Access{AllowlistIncludeMembers: true}}, guardReq{method: "POST", from: "10.0.0.9"}, 403, ""},
		{"allowlist: GET still open", Config{Access: Access{Allowlist: []string{"192.0.2.0/24"}}}, guardReq{method: "GET", from: "10.9.9.9"}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serveGuarded(t, tc.cfg, tc.req)
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("%d %s, want %d containing %q", rec.Code, rec.Body.String(), tc.want, tc.wantBody)
			}
			if tc.want >= 400 && rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
			}
			if (tc.want == 401) != (rec.Header().Get("WWW-Authenticate") != "") {
				t.Fatalf("WWW-Authenticate %q on %d", rec.Header().Get("WWW-Authenticate"), rec.Code)
			}
			if strings.Contains(rec.Body.String(), "s3cret") || strings.Contains(rec.Body.String(), "raft-pw") {
				t.Fatalf("a secret in the answer: %s", rec.Body.String())
			}
		})
	}
}

func TestMemberToken_DependsOnSecretAndScopeOnly(t *testing.T) {
	a := MemberToken("pw", "demo")
	if a == "" || a != MemberToken("pw", "demo") || a == MemberToken("pw2", "demo") || a == MemberToken("pw", "demo2") {
		t.Fatal("token not a function of secret and scope")
	}
	if strings.Contains(a, "pw") || MemberToken("", "demo") != "" {
		t.Fatalf("token %q", a)
	}
}

// TestGuard_TLSClientCertificates serves over real TLS: with verify_client
// required a client without a certificate does not get through the
// handshake, with optional it may read but not write.
func TestGuard_TLSClientCertificates(t *testing.T) {
	set := certtest.Write(t, t.TempDir())
	client := func(t *testing.T, certFile string) *http.Client {
		cfg, err := certs.Client(certs.Files{CertFile: certFile, CAFile: set.CA}, false)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	do := func(t *testing.T, c *http.Client, url, method string) (int, string, error) {
		req, _ := http.NewRequest(method, url, strings.NewReader(`{"ttl": 31}`))
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	for _, mode := range []string{"optional", "required"} {
		t.Run(mode, func(t *testing.T) {
			tlsCfg, err := certs.Server(certs.Files{CertFile: set.ServerPEM, CAFile: set.CA}, mode)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(Config{Source: &fakeSource{node: leaderNode(), state: guardCluster()}, Config: &fakeWriter{},
				TLS: tlsCfg, Access: Access{VerifyClient: mode}})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewUnstartedServer(srv.Handler())
			hs.TLS = tlsCfg
			hs.StartTLS()
			defer hs.Close()

			code, body, err := do(t, client(t, set.ClientPEM), hs.URL+"/config", http.MethodPatch)
			if err != nil || code != 200 {
				t.Fatalf("PATCH with a client certificate: %d %s %v", code, body, err)
			}
			// Go's client offers only a certificate of a CA the server
			// names, so the other CA's certificate is not even sent.
			code, _, err = do(t, client(t, set.OtherClientPEM), hs.URL+"/config", http.MethodPatch)
			if (mode == "required" && err == nil) || (mode == "optional" && (err != nil || code != 403)) {
				t.Fatalf("a certificate of another CA: %d %v", code, err)
			}
			code, body, err = do(t, client(t, ""), hs.URL+"/config", http.MethodPatch)
			if mode == "required" {
				if err == nil {
					t.Fatalf("no client certificate got through the handshake: %d %s", code, body)
				}
				return
			}
			if err != nil || code != 403 || !strings.Contains(body, "client certificate is required") {
				t.Fatalf("PATCH without a client certificate: %d %s %v", code, body, err)
			}
			if code, _, err := do(t, client(t, ""), hs.URL+"/patroni", http.MethodGet); err != nil || code != 200 {
				t.Fatalf("GET without a client certificate: %d %v", code, err)
			}
		})
	}
}

// Every registered route and method that changes state (the operation
// endpoints merged later included) is refused from another host by the
// default rule, before its handler runs; its GETs stay open.
func TestGuard_EveryWriteRouteRefusedFromAnotherHostByDefault(t *testing.T) {
	srv, err := New(Config{Source: &fakeSource{node: leaderNode(), state: guardCluster()}})
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	for path, rt := range srv.routes {
		for method := range rt.methods {
			req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
			req.RemoteAddr = "192.0.2.7:40000"
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, req)
			if safeMethod(method) {
				if rec.Code == http.StatusForbidden || rec.Code == http.StatusUnauthorized {
					t.Errorf("%s %s refused (%d): reads stay open", method, path, rec.Code)
				}
				continue
			}
			writes++
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "accepted only from loopback") {
				t.Errorf("%s %s from another host: %d %s; want 403 from the guard", method, path, rec.Code, rec.Body.String())
			}
		}
	}
	// PATCH/PUT /config, POST /failsafe, POST/DELETE /switchover, POST
	// /failover, POST/DELETE /restart, POST /reload, POST /reinitialize,
	// POST /members, POST /leave, POST /backup.
	if writes != 13 {
		t.Errorf("%d state-changing routes, want 13: a new one needs a row in README's REST API table", writes)
	}
}
