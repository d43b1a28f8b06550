package agent

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/certs"
	"github.com/conclave-ha/conclave/config"
)

// apiSecurity turns restapi:'s TLS and access keys into the API's settings.
// Errors name the key and the file, never a password.
func apiSecurity(cfg *config.Config) (api.Access, *tls.Config, error) {
	r := cfg.RestAPI
	access := api.Access{
		Allowlist: r.Allowlist, AllowlistIncludeMembers: r.AllowlistIncludeMembers,
		VerifyClient: r.VerifyClient, MemberSecret: cfg.Raft.Password, Scope: cfg.Scope, ConfigFile: cfg.Path,
	}
	if !r.TLS.Enabled() {
		return access, nil, nil
	}
	tlsCfg, err := certs.Server(restapiFiles(r), r.VerifyClient)
	if err != nil {
		return access, nil, fmt.Errorf("%s: restapi.certfile/keyfile/cafile: %w", cfg.Path, err)
	}
	return access, tlsCfg, nil
}

func restapiFiles(r config.RestAPI) certs.Files {
	return certs.Files{CertFile: r.TLS.CertFile, KeyFile: r.TLS.KeyFile, KeyPassword: r.TLS.KeyFilePassword, CAFile: r.TLS.CAFile}
}

// peerClient is the HTTP client of calls to other members: over TLS it
// trusts restapi.cafile and presents restapi.certfile as its client
// certificate (so verify_client: required works between members; the
// certificate then needs the clientAuth usage). A TLS setting that does not
// load leaves the client without it: apiSecurity reports the same error and
// stops the agent first.
func peerClient(cfg *config.Config) *http.Client {
	c := &http.Client{Timeout: 2 * time.Second}
	if cfg.RestAPI.TLS.Enabled() {
		if tlsCfg, err := certs.Client(restapiFiles(cfg.RestAPI), false); err == nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = tlsCfg
			c.Transport = tr
		}
	}
	return c
}

// raftTLS loads raft:'s mutual TLS material (nil when raft.certfile is not
// set). Errors name the keys and the file.
func raftTLS(cfg *config.Config) (*tls.Config, error) {
	t := cfg.Raft.TLS
	if !t.Enabled() {
		return nil, nil
	}
	tlsCfg, err := certs.Peer(certs.Files{CertFile: t.CertFile, KeyFile: t.KeyFile, KeyPassword: t.KeyFilePassword, CAFile: t.CAFile})
	if err != nil {
		return nil, fmt.Errorf("%s: raft.certfile/keyfile/cafile: %w", cfg.Path, err)
	}
	return tlsCfg, nil
}

// extraHeaders are restapi.http_extra_headers, and https_extra_headers too
// when the API serves TLS, as Patroni adds them.
func extraHeaders(cfg *config.Config) http.Header {
	h := http.Header{}
	for k, v := range cfg.RestAPI.HTTPExtraHeaders {
		h.Set(k, v)
	}
	if cfg.RestAPI.TLS.Enabled() {
		for k, v := range cfg.RestAPI.HTTPSExtraHeaders {
			h.Set(k, v)
		}
	}
	return h
}
