package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

func TestRouting_UnknownPathIs404JSON(t *testing.T) {
	srv := newTestServer(t, leaderNode(), compatCluster(t))
	code, body := srv.getJSON("/nope")
	if code != http.StatusNotFound || body.(map[string]any)["error"] == nil {
		t.Fatalf("GET /nope = %d %v", code, body)
	}
}

func TestRouting_WrongMethodIs405WithAllow(t *testing.T) {
	srv := newTestServer(t, leaderNode(), compatCluster(t))
	cases := map[string]string{
		"POST /patroni":  "GET, HEAD, OPTIONS",
		"DELETE /config": "GET, HEAD, OPTIONS, PATCH, PUT",
		"POST /metrics":  "GET, HEAD",
		"PUT /":          "GET, HEAD, OPTIONS",
	}
	for req, allow := range cases {
		method, path, _ := strings.Cut(req, " ")
		rec := srv.do(method, path, "")
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != allow {
			t.Errorf("%s = %d Allow %q, want 405 Allow %q", req, rec.Code, rec.Header().Get("Allow"), allow)
		}
		if rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: content type %q", req, rec.Header().Get("Content-Type"))
		}
	}
	if rec := srv.do(http.MethodOptions, "/config", ""); rec.Header().Get("Allow") == "" || rec.Code != 200 {
		t.Errorf("OPTIONS /config = %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestAuth_RequiredForUnsafeMethodsOnly(t *testing.T) {
	src := &fakeSource{node: leaderNode(), state: compatCluster(t)}
	w := &fakeWriter{}
	srv, err := New(Config{Source: src, Config: w, Auth: &BasicAuth{Username: "admin", Password: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, user, pass string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/config", strings.NewReader(`{"ttl": 31}`))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	if rec := send(http.MethodGet, "", ""); rec.Code != http.StatusOK {
		t.Errorf("GET without credentials = %d, want 200", rec.Code)
	}
	for _, c := range []struct{ user, pass string }{{"", ""}, {"admin", "wrong"}, {"root", "s3cret"}} {
		rec := send(http.MethodPatch, c.user, c.pass)
		if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
			t.Errorf("PATCH as %q/%q = %d, want 401 with WWW-Authenticate", c.user, c.pass, rec.Code)
		}
	}
	if w.calls != 0 {
		t.Fatalf("ConfigWriter called without credentials")
	}
	if rec := send(http.MethodPatch, "admin", "s3cret"); rec.Code != http.StatusOK {
		t.Errorf("PATCH with credentials = %d, want 200 (%s)", rec.Code, rec.Body)
	}
}

func TestNew_RequiresSourceAndRejectsDoubleRegistration(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without Source succeeded")
	}
	reg := prometheus.NewRegistry()
	src := &fakeSource{node: leaderNode(), state: compatCluster(t)}
	if _, err := New(Config{Source: src, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Source: src, Registry: reg}); err == nil {
		t.Error("second New on the same registry succeeded")
	}
}

func TestListenAndServe_NamesRestapiListenOnBindFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	src := &fakeSource{node: leaderNode(), state: compatCluster(t)}
	srv, err := New(Config{Source: src, Listen: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.ListenAndServe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "restapi.listen") {
		t.Fatalf("ListenAndServe on a busy port: %v", err)
	}
}

func TestServe_AnswersUntilContextDone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{node: leaderNode(), state: compatCluster(t)}
	srv, err := New(Config{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/patroni")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var body map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(b, &body) != nil || body["role"] != "primary" {
		t.Fatalf("GET /patroni over TCP = %d %s", resp.StatusCode, b)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/patroni"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestStatusFor_MapsEveryErrorKind(t *testing.T) {
	cases := map[error]int{
		errNotFound:                    404,
		errMethodNotAllowed:            405,
		errUnauthorized:                401,
		errBadRequest:                  400,
		errNoConfigWriter:              503,
		&http.MaxBytesError{Limit: 1}:  413,
		errors.New("raft: not leader"): 503,
	}
	for err, want := range cases {
		if got := statusFor(err); got != want {
			t.Errorf("statusFor(%v) = %d, want %d", err, got, want)
		}
	}
}

// A handler that panics answers 500 with one JSON line and the server goes
// on; the stack is logged at log.traceback_level.
func TestServer_HandlerPanic_Answers500AndLogsTheStackAtTracebackLevel(t *testing.T) {
	var logs bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
	srv, err := New(Config{Source: &fakeSource{node: leaderNode()}, Logger: logger, TracebackLevel: hclog.Debug})
	if err != nil {
		t.Fatal(err)
	}
	srv.handle("/boom", http.MethodGet, func(http.ResponseWriter, *http.Request) error { panic("boom") })
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if rec.Code != http.StatusInternalServerError || rec.Body.String() != `{"error":"internal error: boom"}`+"\n" {
		t.Fatalf("answer %d %q", rec.Code, rec.Body.String())
	}
	out := logs.String()
	if !strings.Contains(out, "[ERROR] api: request handler panicked") || !strings.Contains(out, "[DEBUG] api: traceback") ||
		!strings.Contains(out, "recoverPanic") {
		t.Fatalf("log:\n%s", out)
	}
}

func TestServer_ExtraHeadersOnEveryAnswer(t *testing.T) {
	srv, err := New(Config{Source: &fakeSource{node: leaderNode()}, ExtraHeaders: http.Header{"x-frame-options": {"DENY"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/primary", "/nosuch", "/metrics"} {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if got := rec.Header().Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options %q", path, got)
		}
	}
}
