package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/conclave-ha/conclave/ctl"
	"github.com/conclave-ha/conclave/ctl/cliargs"
	"github.com/conclave-ha/conclave/dynconfig"
)

// fakeAgent is a REST API answering /cluster and /config like an agent.
type fakeAgent struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	cfg map[string]any
	idx int
	// writes records PATCH/PUT bodies with their If-Match.
	writes []string
}

// newFakeAgent serves cluster as GET /cluster, with SELF replaced by its
// own host:port; listen is its address ("" = 127.0.0.1:0).
func newFakeAgent(t *testing.T, listen, cluster string) *fakeAgent {
	f := &fakeAgent{t: t, cfg: map[string]any{"ttl": 30, "loop_wait": 10}, idx: 7}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/cluster":
			io.WriteString(w, strings.ReplaceAll(cluster, "SELF", f.addr()))
		case r.URL.Path == "/history":
			io.WriteString(w, "[]")
		case r.URL.Path == "/config" && r.Method == http.MethodGet:
			w.Header().Set("ETag", fmt.Sprintf(`"%d"`, f.idx))
			json.NewEncoder(w).Encode(f.cfg)
		case r.URL.Path == "/config":
			body, _ := io.ReadAll(r.Body)
			f.writes = append(f.writes, r.Method+" "+r.Header.Get("If-Match")+" "+string(body))
			if m := r.Header.Get("If-Match"); m != "" && m != fmt.Sprintf(`"%d"`, f.idx) {
				w.WriteHeader(http.StatusConflict)
				io.WriteString(w, `{"error": "the configuration changed since it was read"}`)
				return
			}
			var patch map[string]any
			json.Unmarshal(body, &patch)
			if r.Method == http.MethodPut {
				f.cfg = patch
			} else {
				f.cfg = dynconfig.MergeDynamicPatch(f.cfg, patch)
			}
			f.idx++
			if unused := dynconfig.NotActedOnIn(f.cfg); len(unused) > 0 { // as api.writeConfig
				w.Header().Set("Warning", `299 conclave "accepted but not acted on: `+strings.Join(unused, "; ")+`"`)
			}
			json.NewEncoder(w).Encode(f.cfg)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	if listen != "" {
		l, err := net.Listen("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		f.srv.Listener.Close()
		f.srv.Listener = l
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAgent) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// writeConf writes a minimal valid configuration whose REST API is at rest.
func writeConf(t *testing.T, rest string, partners ...string) string {
	t.Helper()
	return writeConfWith(t, confPorts{rest: rest, raft: "127.0.0.1:15010", pg: "127.0.0.1:5432"}, "", partners...)
}

// confPorts are a test configuration's addresses and optional bin_dir.
type confPorts struct{ rest, raft, pg, binDir string }

// writeConfWith writes a configuration with the given addresses, extra
// YAML appended, and raft.partner_addrs.
func writeConfWith(t *testing.T, p confPorts, extra string, partners ...string) string {
	t.Helper()
	dir := t.TempDir()
	var pl, bin string
	for _, a := range partners {
		pl += "\n  - " + a
	}
	if pl != "" {
		pl = "\n  partner_addrs:" + pl
	}
	if p.binDir != "" {
		bin = "\n  bin_dir: " + p.binDir
	}
	conf := fmt.Sprintf(`scope: demo
name: node1
restapi:
  listen: %s
raft:
  data_dir: %s/raft
  self_addr: %s%s
postgresql:
  listen: %s
  data_dir: %s/data%s
  authentication:
    superuser: {username: postgres}
    replication: {username: replicator}
%s`, p.rest, dir, p.raft, pl, p.pg, dir, bin, extra)
	path := filepath.Join(dir, "conclave.yml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCLI runs the conclave app with args and stdin; it returns stdout,
// stderr and the error main would report. Tests set CONCLAVE_CACHE_DIR.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Reader, app.Writer, app.ErrWriter = strings.NewReader(stdin), &out, &errOut
	err := app.Run(cliargs.Interspersed(app, append([]string{"conclave"}, args...)))
	return out.String(), errOut.String(), err
}

// fakeCluster has node1 (api_url DEAD) and node2 (api_url SELF).
const fakeCluster = `{"scope": "demo", "members": [
 {"name": "node1", "role": "leader", "state": "running", "api_url": "http://DEAD/patroni", "host": "127.0.0.1", "port": 5432, "timeline": 1},
 {"name": "node2", "role": "replica", "state": "streaming", "api_url": "http://SELF/patroni", "host": "127.0.0.2", "port": 5432, "timeline": 1, "lag": 0}]}`

// wrapAfterGet runs hook after every GET /config answered by f.
func wrapAfterGet(f *fakeAgent, hook func()) http.Handler {
	inner := f.srv.Config.Handler
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		if r.URL.Path == "/config" && r.Method == http.MethodGet {
			f.mu.Lock()
			hook()
			f.mu.Unlock()
		}
	})
}

func asUsage(err error, u *ctl.UsageError) bool { return errors.As(err, u) }
