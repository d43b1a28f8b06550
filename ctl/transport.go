package ctl

import (
	"net"
	"net/http"
	"time"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/certs"
	"github.com/conclave-ha/conclave/config"
)

// ctlTransport is the CLI's HTTP transport: TLS from ctl.certfile/keyfile/
// keyfile_password (a client certificate), ctl.cacert (default
// restapi.cafile) and ctl.insecure, as patronictl. Writes carry the member
// credential when the file has raft.password (whoever can read that file can
// talk to Raft directly anyway), so the CLI of a member works with the
// default access rule wherever restapi.connect_address points.
func ctlTransport(cfg *config.Config) http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// A short dial timeout: a member that is down is skipped quickly for the next.
	tr.DialContext = (&net.Dialer{Timeout: 2 * time.Second}).DialContext
	var rt http.RoundTripper = tr
	if cfg.Ctl.TLS.Enabled() || cfg.Ctl.TLS.CAFile != "" || cfg.Ctl.Insecure || cfg.RestAPI.TLS.Enabled() {
		c := cfg.Ctl.TLS
		tlsCfg, err := certs.Client(certs.Files{CertFile: c.CertFile, KeyFile: c.KeyFile, KeyPassword: c.KeyFilePassword, CAFile: c.CAFile}, cfg.Ctl.Insecure)
		if err != nil {
			rt = failingTransport{err: ctlTLSError{err}}
		} else {
			tr.TLSClientConfig = tlsCfg
		}
	}
	return memberTokenTransport{next: rt, secret: cfg.Raft.Password, scope: cfg.Scope}
}

type ctlTLSError struct{ err error }

func (e ctlTLSError) Error() string { return "ctl.certfile/keyfile/cacert: " + e.err.Error() }
func (e ctlTLSError) Unwrap() error { return e.err }

// failingTransport answers every request with the error that kept the TLS
// settings from loading, so the command fails naming the keys.
type failingTransport struct{ err error }

func (t failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, t.err }

type memberTokenTransport struct {
	next          http.RoundTripper
	secret, scope string
}

func (t memberTokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead && t.secret != "" {
		req = req.Clone(req.Context())
		api.SetMemberToken(req, t.secret, t.scope)
	}
	return t.next.RoundTrip(req)
}
