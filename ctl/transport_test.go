package ctl

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/config"
)

func TestCtlTransport_MemberTokenOnWritesOnly(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.Header.Get(api.MemberTokenHeader))
	}))
	defer srv.Close()
	cfg := &config.Config{Scope: "demo", Raft: config.Raft{Password: "pw"}}
	c := &http.Client{Transport: ctlTransport(cfg)}
	for _, m := range []string{http.MethodGet, http.MethodPatch} {
		req, _ := http.NewRequest(m, srv.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{"GET ", "PATCH " + api.MemberToken("pw", "demo")}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestCtlTransport_BadCertificateNamesCtlKeysAndNoPassword(t *testing.T) {
	cfg := &config.Config{Ctl: config.Ctl{TLS: config.TLSFiles{CertFile: "/nonexistent/client.pem", KeyFile: "/nonexistent/client.pem", KeyFilePassword: "hunter2"}}}
	c := &http.Client{Transport: ctlTransport(cfg)}
	_, err := c.Get("https://127.0.0.1:1/patroni")
	if err == nil || !strings.Contains(err.Error(), "ctl.certfile") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v", err)
	}
}
