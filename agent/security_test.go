package agent

import (
	"testing"

	"github.com/conclave-ha/conclave/config"
)

func TestExtraHeaders_HTTPSOnesOnlyOverTLS(t *testing.T) {
	cfg := &config.Config{RestAPI: config.RestAPI{
		HTTPExtraHeaders:  map[string]string{"X-A": "1"},
		HTTPSExtraHeaders: map[string]string{"Strict-Transport-Security": "max-age=60", "X-A": "2"},
	}}
	if h := extraHeaders(cfg); h.Get("X-A") != "1" || h.Get("Strict-Transport-Security") != "" {
		t.Fatalf("plain HTTP: %v", h)
	}
	cfg.RestAPI.TLS.CertFile = "/etc/conclave/server.pem"
	if h := extraHeaders(cfg); h.Get("X-A") != "2" || h.Get("Strict-Transport-Security") != "max-age=60" {
		t.Fatalf("TLS: %v", h)
	}
}
