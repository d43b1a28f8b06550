package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
)

// anchorDCS is the bootstrap.dcs of the Patroni run the capture comes from
// (shared/bench/patroni/lib.sh, profile default), as a user writes it.
const anchorDCS = `scope: anchor
name: node2
restapi:
  listen: 127.0.0.1:25802
  connect_address: 127.0.0.1:25802
raft:
  data_dir: /tmp/conclave-api-test/raft
  self_addr: 127.0.0.1:25902
bootstrap:
  dcs:
    ttl: 30
    loop_wait: 10
    retry_timeout: 10
    maximum_lag_on_failover: 1048576
    synchronous_mode: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 50
        shared_buffers: 32MB
        wal_keep_size: 256MB
        max_wal_senders: 10
        max_replication_slots: 10
postgresql:
  listen: 127.0.0.1:25432
  connect_address: 127.0.0.1:25432
  data_dir: /tmp/conclave-api-test/data
  authentication:
    superuser: {username: postgres, password: postgres}
    replication: {username: replicator, password: replicator}
`

// The dynamic configuration goes the way it goes in a running agent: the
// file's bootstrap.dcs parsed by config, proposed as a SetConfig entry,
// applied by the FSM, served by GET /config. What comes out must be what
// Patroni served for the same bootstrap.dcs (not the capture read back).
func TestConfigGet_MatchesTheCapture(t *testing.T) {
	cfg, err := config.Parse([]byte(anchorDCS), "anchor.yml")
	if err != nil {
		t.Fatal(err)
	}
	entry, err := fsm.Encode(fsm.SetConfig{Config: cfg.Bootstrap.DCS, IfEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	st := compatCluster(t)
	st.Config, st.ConfigIndex = nil, 0
	if err := fsm.ApplyEntry(&st, entry, 41); err != nil {
		t.Fatalf("apply SetConfig: %v", err)
	}
	srv := newTestServer(t, leaderNode(), st)
	code, got := srv.getJSON("/config")
	if code != http.StatusOK || !jsonEqual(got, compatJSON(t, "rest_leader_config.txt")) {
		t.Fatalf("GET /config = %d %v\nwant (Patroni 3.0.2) %v", code, got, compatJSON(t, "rest_leader_config.txt"))
	}
	st = compatCluster(t)
	st.Config = nil
	srv = newTestServer(t, leaderNode(), st)
	if _, got := srv.getJSON("/config"); !jsonEqual(got, map[string]any{}) {
		t.Fatalf("GET /config without config = %v, want {}", got)
	}
}

func TestConfigPatch_MergesDeletesNullsAndWrites(t *testing.T) {
	srv := newTestServer(t, leaderNode(), compatCluster(t))
	rec := srv.do(http.MethodPatch, "/config",
		`{"ttl": 40, "synchronous_mode": null, "postgresql": {"parameters": {"max_connections": 100, "wal_keep_size": null}}}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("PATCH /config = %d %s", rec.Code, rec.Body)
	}
	want := compatConfig(t)
	want["ttl"] = 40
	delete(want, "synchronous_mode")
	params := want["postgresql"].(map[string]any)["parameters"].(map[string]any)
	params["max_connections"] = 100
	delete(params, "wal_keep_size")

	w := srv.writer
	if w.calls != 1 || w.expectIndex != 7 {
		t.Fatalf("SetConfig calls=%d expectIndex=%d, want 1 call at index 7", w.calls, w.expectIndex)
	}
	if !jsonEqual(w.cfg, want) {
		t.Errorf("SetConfig got %v\nwant %v", w.cfg, want)
	}
	var body any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !jsonEqual(body, want) {
		t.Errorf("response %s, want the merged config", rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}

// Keys Conclave stores but does not act on are named in a Warning header
// (the body stays Patroni's); a document without them gets none.
func TestConfigPatch_KeysNotActedOn_NamedInAWarningHeader(t *testing.T) {
	srv := newTestServer(t, leaderNode(), compatCluster(t))
	rec := srv.do(http.MethodPatch, "/config", `{"ttl": 40}`)
	if rec.Code != http.StatusOK || rec.Header().Get("Warning") != "" {
		t.Fatalf("PATCH ttl: %d, Warning %q; want 200 and none", rec.Code, rec.Header().Get("Warning"))
	}
	rec = srv.do(http.MethodPatch, "/config", `{"standby_cluster": {"host": "10.0.0.1", "port": 5432}}`)
	want := `299 conclave "accepted but not acted on: standby_cluster (standby clusters are not supported)"`
	if rec.Code != http.StatusOK || rec.Header().Get("Warning") != want {
		t.Fatalf("PATCH standby_cluster: %d, Warning %q; want 200 and %q", rec.Code, rec.Header().Get("Warning"), want)
	}
}

func TestConfigPut_ReplacesTheWholeConfig(t *testing.T) {
	srv := newTestServer(t, leaderNode(), compatCluster(t))
	rec := srv.do(http.MethodPut, "/config", `{"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "pause": null}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT /config = %d %s", rec.Code, rec.Body)
	}
	want := map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10}
	if !jsonEqual(srv.writer.cfg, want) {
		t.Errorf("SetConfig got %v, want %v", srv.writer.cfg, want)
	}
}

func TestConfigWrite_RejectsBadInputWithoutWriting(t *testing.T) {
	cases := []struct {
		name, method, body, mention string
	}{
		{"invalid value", http.MethodPatch, `{"ttl": "abc"}`, "ttl"},
		{"unknown key", http.MethodPatch, `{"tll": 30}`, "tll"},
		{"nested invalid", http.MethodPatch, `{"postgresql": {"use_slots": "yes"}}`, "postgresql.use_slots"},
		{"ttl too short after merge", http.MethodPatch, `{"ttl": 5}`, "ttl"},
		{"put invalid", http.MethodPut, `{"loop_wait": 0}`, "loop_wait"},
		// Apply accepts any string here (older releases did); the API is
		// where an unreadable member_slots_ttl is refused.
		{"member_slots_ttl without a known unit", http.MethodPatch, `{"member_slots_ttl": "30 minutes"}`, "member_slots_ttl"},
		{"member_slots_ttl empty", http.MethodPut, `{"member_slots_ttl": ""}`, "member_slots_ttl"},
		{"malformed JSON", http.MethodPatch, `{"ttl": `, "malformed JSON"},
		{"trailing data", http.MethodPatch, `{"ttl": 30} {}`, "malformed JSON"},
		{"array body", http.MethodPatch, `[1, 2]`, "JSON object"},
		{"null body", http.MethodPut, `null`, "JSON object"},
		{"string body", http.MethodPut, `"x"`, "JSON object"},
		{"empty body", http.MethodPatch, ``, "empty body"},
		{"blank body", http.MethodPut, "  \n", "empty body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, leaderNode(), compatCluster(t))
			rec := srv.do(tc.method, "/config", tc.body)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("%s /config %q = %d, want 400", tc.method, tc.body, rec.Code)
			}
			var e map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !strings.Contains(e["error"], tc.mention) {
				t.Errorf("error body %s does not mention %q", rec.Body, tc.mention)
			}
			if srv.writer.calls != 0 {
				t.Errorf("ConfigWriter called %d times", srv.writer.calls)
			}
		})
	}
}

func TestConfigWrite_MapsWriterErrors(t *testing.T) {
	cases := map[string]struct {
		err  error
		want int
	}{
		"conflict":          {fmt.Errorf("propose: %w", fsm.ErrConfigConflict), http.StatusConflict},
		"rejected by apply": {fmt.Errorf("propose: %w: dcs key \"ttl\"", fsm.ErrInvalidConfig), http.StatusBadRequest},
		"no quorum":         {fmt.Errorf("propose: raft: not leader"), http.StatusServiceUnavailable},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newTestServer(t, leaderNode(), compatCluster(t))
			srv.writer.err = tc.err
			if rec := srv.do(http.MethodPatch, "/config", `{"ttl": 31}`); rec.Code != tc.want {
				t.Fatalf("PATCH /config = %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
		})
	}
}

func TestConfigWrite_WithoutWriterIsUnavailable(t *testing.T) {
	src := &fakeSource{node: leaderNode(), state: compatCluster(t)}
	srv, err := New(Config{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, src: src, srv: srv}
	if rec := ts.do(http.MethodPatch, "/config", `{"ttl": 31}`); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("PATCH /config without writer = %d, want 503", rec.Code)
	}
	if rec := ts.do(http.MethodGet, "/config", ""); rec.Code != http.StatusOK {
		t.Fatalf("GET /config without writer = %d, want 200", rec.Code)
	}
}

func TestConfigWrite_BodyLimit(t *testing.T) {
	srv := newTestServer(t, leaderNode(), compatCluster(t))
	big := `{"postgresql": {"parameters": {"x": "` + strings.Repeat("a", maxBodyBytes) + `"}}}`
	if rec := srv.do(http.MethodPatch, "/config", big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("PATCH with a 1 MiB body = %d, want 413", rec.Code)
	}
	if srv.writer.calls != 0 {
		t.Fatal("ConfigWriter called")
	}
}
