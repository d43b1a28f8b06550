package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

func secretConfig() map[string]any {
	return map[string]any{
		"ttl": json.Number("30"),
		"standby_cluster": map[string]any{
			"primary_conninfo": "host=10.0.0.9 user=repl password='p@ss word' sslmode=require",
			"restore_command":  "cp /archive/%f %p",
		},
		"postgresql": map[string]any{
			"parameters": map[string]any{"max_connections": json.Number("100"), "ssl_passphrase_command": "echo opensesame"},
			"recovery_conf": map[string]any{
				"primary_conninfo": "postgresql://repl:hunter2@10.0.0.9:5432/postgres",
			},
		},
	}
}

func TestMaskConfig_HidesSecretsOnly(t *testing.T) {
	got := maskConfig(secretConfig())
	raw, _ := json.Marshal(got)
	for _, secret := range []string{"p@ss word", "hunter2", "opensesame"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("%q shown: %s", secret, raw)
		}
	}
	sc := got["standby_cluster"].(map[string]any)
	if sc["primary_conninfo"] != "host=10.0.0.9 user=repl password=******** sslmode=require" ||
		sc["restore_command"] != "cp /archive/%f %p" {
		t.Fatalf("standby_cluster %v", sc)
	}
	pg := got["postgresql"].(map[string]any)
	if pg["recovery_conf"].(map[string]any)["primary_conninfo"] != "postgresql://repl:********@10.0.0.9:5432/postgres" ||
		pg["parameters"].(map[string]any)["ssl_passphrase_command"] != secretMask || got["ttl"] != json.Number("30") {
		t.Fatalf("masked %s", raw)
	}
}

// A client that reads /config, changes one key and writes the document
// back (PUT) or patches with the masked values keeps the stored secrets.
func TestConfigWrite_MaskSentBackKeepsStoredSecret(t *testing.T) {
	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			srv := newTestServer(t, leaderNode(), fsm.State{Config: secretConfig(), ConfigIndex: 7})
			code, body := srv.getJSON("/config")
			if code != 200 {
				t.Fatal(code)
			}
			doc := body.(map[string]any)
			doc["ttl"] = 31
			b, _ := json.Marshal(doc)
			rec := srv.do(method, "/config", string(b))
			if rec.Code != 200 {
				t.Fatalf("%s: %d %s", method, rec.Code, rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "opensesame") {
				t.Fatalf("answer shows a secret: %s", rec.Body.String())
			}
			stored := srv.writer.cfg
			pg := stored["postgresql"].(map[string]any)
			if pg["parameters"].(map[string]any)["ssl_passphrase_command"] != "echo opensesame" ||
				pg["recovery_conf"].(map[string]any)["primary_conninfo"] != "postgresql://repl:hunter2@10.0.0.9:5432/postgres" ||
				stored["standby_cluster"].(map[string]any)["primary_conninfo"] != "host=10.0.0.9 user=repl password='p@ss word' sslmode=require" {
				t.Fatalf("stored %v", stored)
			}
		})
	}
}

func TestConfigWrite_MaskWithoutStoredSecretIs400(t *testing.T) {
	srv := newTestServer(t, leaderNode(), fsm.State{Config: secretConfig(), ConfigIndex: 7})
	for _, body := range []string{
		`{"postgresql": {"parameters": {"ssl_passphrase_command": "********"}, "recovery_conf": {"primary_conninfo": "********"}}}`,
		`{"standby_cluster": {"primary_conninfo": "host=10.0.0.8 password=********"}}`,
	} {
		rec := srv.do(http.MethodPatch, "/config", body)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "send the real value") {
			t.Errorf("%s: %d %s", body, rec.Code, rec.Body.String())
		}
	}
	if srv.writer.calls != 0 {
		t.Fatalf("%d writes after refusals", srv.writer.calls)
	}
}
