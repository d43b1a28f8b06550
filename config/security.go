package config

import (
	"net"
	"strings"

	"gopkg.in/yaml.v3"
)

// Log rotation defaults, as Patroni's log.file_size and log.file_num.
const (
	DefaultLogFileSize = 25000000 // bytes
	DefaultLogFileNum  = 4
)

// TLSFiles are the certificate settings of restapi: (and, under other
// names, ctl:). KeyFile defaults to CertFile (a PEM holding both).
type TLSFiles struct {
	CertFile, KeyFile, KeyFilePassword, CAFile string
}

// Enabled reports whether a certificate is configured.
func (t TLSFiles) Enabled() bool { return t.CertFile != "" }

// Ctl is the ctl: section: what the CLI uses to reach the REST API. Unset
// keys fall back to the restapi: settings, as patronictl does.
type Ctl struct {
	// TLS: ctl.certfile, keyfile, keyfile_password (a client certificate)
	// and ctl.cacert (kept in TLS.CAFile), which falls back to restapi.cafile.
	TLS TLSFiles
	// Insecure skips verifying the server's certificate (ctl.insecure).
	Insecure bool
	// Authentication falls back to restapi.authentication.
	Authentication Credentials
}

func (d *decoder) ctl(c *Ctl) func(string, *yaml.Node) {
	return func(key string, v *yaml.Node) {
		d.mapping(v, key, []field{
			{"certfile", d.str(&c.TLS.CertFile)},
			{"keyfile", d.str(&c.TLS.KeyFile)},
			{"keyfile_password", d.str(&c.TLS.KeyFilePassword)},
			{"cacert", d.str(&c.TLS.CAFile)},
			{"insecure", d.boolean(&c.Insecure)},
			{"authentication", d.credentials(&c.Authentication)},
		}, nil)
	}
}

// securityDefaults fills the keys of this file's sections: rotation sizes,
// verify_client, and the ctl: fallbacks to restapi:.
func (c *Config) securityDefaults(isSet func(string) bool) {
	if !isSet("log.file_size") {
		c.Log.FileSize = DefaultLogFileSize
	}
	if !isSet("log.file_num") {
		c.Log.FileNum = DefaultLogFileNum
	}
	r := &c.RestAPI
	r.VerifyClient = strings.ToLower(r.VerifyClient)
	if r.VerifyClient == "" {
		r.VerifyClient = "none"
	}
	if r.TLS.KeyFile == "" {
		r.TLS.KeyFile = r.TLS.CertFile
	}
	if c.Raft.TLS.KeyFile == "" {
		c.Raft.TLS.KeyFile = c.Raft.TLS.CertFile
	}
	ctl := &c.Ctl
	if ctl.TLS.KeyFile == "" {
		ctl.TLS.KeyFile = ctl.TLS.CertFile
	}
	if ctl.TLS.CAFile == "" {
		ctl.TLS.CAFile = r.TLS.CAFile
	}
	if ctl.Authentication.Username == "" {
		ctl.Authentication = r.Authentication
	}
}

// validateSecurity checks restapi:'s TLS and allowlist keys and ctl:.
// Files are read when the server or the CLI starts (package certs), with
// the key's name in the error.
func (d *decoder) validateSecurity(c *Config) {
	r := c.RestAPI
	switch r.VerifyClient {
	case "none":
	case "optional", "required":
		if !r.TLS.Enabled() {
			d.errorf("restapi.verify_client", "%s needs restapi.certfile (client certificates exist only over TLS)", r.VerifyClient)
		}
		if r.TLS.CAFile == "" {
			d.errorf("restapi.verify_client", "%s needs restapi.cafile, the CA that signs client certificates", r.VerifyClient)
		}
	default:
		d.errorf("restapi.verify_client", "must be none, optional or required, got %q", r.VerifyClient)
	}
	if r.TLS.KeyFile != "" && !r.TLS.Enabled() {
		d.errorf("restapi.keyfile", "set restapi.certfile too (a key without a certificate does nothing)")
	}
	if r.Authentication.Username != "" && r.Authentication.Password == "" {
		d.errorf("restapi.authentication.password", "missing: basic auth needs a username and a password")
	}
	for i, entry := range r.Allowlist {
		if strings.TrimSpace(entry) == "" {
			d.errorf("restapi.allowlist", "entry %d is empty", i)
			continue
		}
		if strings.Contains(entry, "/") {
			if _, _, err := net.ParseCIDR(entry); err != nil {
				d.errorf("restapi.allowlist", "entry %q is not a valid CIDR (as in 10.0.0.0/24)", entry)
			}
		}
	}
	if t := c.Raft.TLS; t.Enabled() || t.CAFile != "" || t.KeyFile != "" {
		// Mutual TLS: every node presents a certificate and checks the other's.
		for _, k := range []struct{ key, val string }{{"raft.certfile", t.CertFile}, {"raft.cafile", t.CAFile}} {
			if k.val == "" {
				d.errorf(k.key, "missing: Raft's mutual TLS needs raft.certfile, raft.keyfile and raft.cafile together")
			}
		}
	}
	ctl := c.Ctl
	if ctl.TLS.KeyFile != "" && !ctl.TLS.Enabled() {
		d.errorf("ctl.keyfile", "set ctl.certfile too (a key without a certificate does nothing)")
	}
}

// securityPaths are the file paths of these sections, made absolute
// together with the others.
func (c *Config) securityPaths() []*string {
	return []*string{&c.RestAPI.TLS.CertFile, &c.RestAPI.TLS.KeyFile, &c.RestAPI.TLS.CAFile,
		&c.Ctl.TLS.CertFile, &c.Ctl.TLS.KeyFile, &c.Ctl.TLS.CAFile,
		&c.Raft.TLS.CertFile, &c.Raft.TLS.KeyFile, &c.Raft.TLS.CAFile}
}

// APIScheme is https when the REST API serves TLS.
func (c *Config) APIScheme() string {
	if c.RestAPI.TLS.Enabled() {
		return "https"
	}
	return "http"
}
