package config

import (
	"strings"
	"testing"
)

func TestParse_RestAPITLSAndCtl_FallBackToRestAPI(t *testing.T) {
	y := strings.Replace(minimal, "  listen: 127.0.0.1:8008\n", `  listen: 127.0.0.1:8008
  certfile: /etc/conclave/server.pem
  keyfile_password: pw
  cafile: /etc/conclave/ca.pem
  verify_client: Required
  allowlist: [127.0.0.1, 10.0.0.0/24, db1.example]
  allowlist_include_members: true
  authentication: {username: admin, password: secret}
`, 1) + "ctl:\n  insecure: true\n  certfile: /etc/conclave/client.pem\n"
	c, err := ParseWithEnv([]byte(y), "conclave.yml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := c.RestAPI
	if r.TLS != (TLSFiles{"/etc/conclave/server.pem", "/etc/conclave/server.pem", "pw", "/etc/conclave/ca.pem"}) ||
		r.VerifyClient != "required" || len(r.Allowlist) != 3 || !r.AllowlistIncludeMembers {
		t.Fatalf("restapi %+v", r)
	}
	if c.APIURL() != "https://127.0.0.1:8008" {
		t.Fatalf("APIURL %s", c.APIURL())
	}
	want := Ctl{TLS: TLSFiles{"/etc/conclave/client.pem", "/etc/conclave/client.pem", "", "/etc/conclave/ca.pem"},
		Insecure: true, Authentication: Credentials{"admin", "secret"}}
	if c.Ctl != want {
		t.Fatalf("ctl %+v, want %+v", c.Ctl, want)
	}
}

func TestEnv_RestAPISecurityKeys(t *testing.T) {
	env := map[string]string{
		"PATRONI_RESTAPI_USERNAME": "admin", "CONCLAVE_RESTAPI_PASSWORD": "pw",
		"PATRONI_RESTAPI_CERTFILE": "/etc/c/server.pem", "PATRONI_RESTAPI_CAFILE": "/etc/c/ca.pem",
		"PATRONI_RESTAPI_VERIFY_CLIENT": "optional", "PATRONI_CTL_CERTFILE": "/etc/c/client.pem",
	}
	c, err := ParseWithEnv([]byte(minimal), "conclave.yml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.RestAPI.Authentication != (Credentials{"admin", "pw"}) || c.RestAPI.TLS.CertFile != "/etc/c/server.pem" ||
		c.RestAPI.VerifyClient != "optional" || c.Ctl.TLS.CertFile != "/etc/c/client.pem" || c.Ctl.TLS.CAFile != "/etc/c/ca.pem" ||
		c.Ctl.Authentication != (Credentials{"admin", "pw"}) {
		t.Fatalf("%+v %+v", c.RestAPI, c.Ctl)
	}
}

func TestParse_ExtraHeaders_CheckedAsHTTPAllows(t *testing.T) {
	y := strings.Replace(minimal, "  listen: 127.0.0.1:8008\n", `  listen: 127.0.0.1:8008
  http_extra_headers: {X-Frame-Options: SAMEORIGIN, X-Num: 5}
  https_extra_headers:
    Strict-Transport-Security: max-age=31536000
`, 1)
	c, err := ParseWithEnv([]byte(y), "conclave.yml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if h := c.RestAPI.HTTPExtraHeaders; len(h) != 2 || h["X-Frame-Options"] != "SAMEORIGIN" || h["X-Num"] != "5" ||
		c.RestAPI.HTTPSExtraHeaders["Strict-Transport-Security"] != "max-age=31536000" {
		t.Fatalf("headers %v %v", c.RestAPI.HTTPExtraHeaders, c.RestAPI.HTTPSExtraHeaders)
	}
	for bad, want := range map[string]string{
		"  http_extra_headers: {Bad Name: x}\n":       `key "restapi.http_extra_headers": "Bad Name" is not a valid HTTP header name`,
		"  http_extra_headers: {X-A: [1, 2]}\n":       `key "restapi.http_extra_headers": header X-A: the value must be one line of text`,
		"  https_extra_headers: [X-A]\n":              `key "restapi.https_extra_headers": must be a map of header names to values`,
		"  http_extra_headers: {X-A: \"a\\r\\nb\"}\n": `header X-A: the value must be one line of text`,
	} {
		_, err := ParseWithEnv([]byte(strings.Replace(minimal, "  listen: 127.0.0.1:8008\n", "  listen: 127.0.0.1:8008\n"+bad, 1)), "conclave.yml", noEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", bad, err, want)
		}
	}
}

func TestParse_RaftTLS_AllThreeFilesOrAnErrorNamingTheMissingKey(t *testing.T) {
	with := func(lines string) string {
		return strings.Replace(minimal, "raft:\n", "raft:\n"+lines, 1)
	}
	c, err := ParseWithEnv([]byte(with("  password: s3cret\n  certfile: /etc/c/n1.pem\n  cafile: /etc/c/ca.pem\n")), "conclave.yml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Raft.TLS != (TLSFiles{"/etc/c/n1.pem", "/etc/c/n1.pem", "", "/etc/c/ca.pem"}) || c.Raft.Password != "s3cret" {
		t.Fatalf("raft %+v", c.Raft)
	}
	_, err = ParseWithEnv([]byte(with("  certfile: /etc/c/n1.pem\n")), "conclave.yml", noEnv)
	if err == nil || !strings.Contains(err.Error(), "raft.cafile") {
		t.Errorf("certfile without cafile: %v; want an error naming raft.cafile", err)
	}
	_, err = ParseWithEnv([]byte(with("  cafile: /etc/c/ca.pem\n")), "conclave.yml", noEnv)
	if err == nil || !strings.Contains(err.Error(), "raft.certfile") {
		t.Errorf("cafile without certfile: %v; want an error naming raft.certfile", err)
	}
}
