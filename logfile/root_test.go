package logfile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// rootLogger builds the agent's root logger for o as `run` does.
func rootLogger(t *testing.T, o Options) hclog.Logger {
	t.Helper()
	log, err := NewRoot(o)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// loggerTo logs one line through rootLogger and returns what it wrote to
// log.dir.
func loggerTo(t *testing.T, o Options) string {
	t.Helper()
	log := rootLogger(t, o)
	log.Named("ha").Info("promoted", "timeline", 2, "reason", "failover")
	raw, err := os.ReadFile(filepath.Join(o.Dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func logOptions(t *testing.T, jsonLines bool, format string) Options {
	return Options{Name: "node1", Level: "INFO", JSON: jsonLines, Format: format, Dir: t.TempDir(), FileSize: 1 << 20, FileNum: 2}
}

// log.dir with log.type json: one object per line with the shipping keys
// first; with log.format: Patroni's layout; nothing goes to stderr.
func TestNewRoot_DirTypeAndFormat(t *testing.T) {
	line := strings.TrimSpace(loggerTo(t, logOptions(t, true, "")))
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil || m["logger"] != "node1.ha" || m["message"] != "promoted" ||
		m["level"] != "info" || m["reason"] != "failover" || !strings.HasPrefix(line, `{"time":`) {
		t.Fatalf("json line %q (%v)", line, err)
	}
	line = strings.TrimSpace(loggerTo(t, logOptions(t, false, "%(levelname)s %(name)s: %(message)s")))
	if line != "INFO node1.ha: promoted reason=failover timeline=2" {
		t.Fatalf("format line %q", line)
	}
}

// log.dateformat dates plain lines and %(asctime)s; log.loggers sets a
// module's level apart from log.level.
func TestNewRoot_DateformatAndLoggers(t *testing.T) {
	o := logOptions(t, false, "")
	o.DateFormat = "%Y/%m/%d"
	year := time.Now().Format("2006/")
	if line := loggerTo(t, o); !strings.HasPrefix(line, year) || !strings.Contains(line, " [INFO]  node1.ha: promoted: ") {
		t.Fatalf("plain line with dateformat %q", line)
	}
	o = logOptions(t, false, "%(asctime)s %(message)s")
	o.DateFormat = "%Y/%m/%d"
	if line := loggerTo(t, o); !strings.HasPrefix(line, year) || strings.Count(line, " ") != 3 {
		t.Fatalf("format line with dateformat %q", line)
	}
	o = logOptions(t, false, "")
	o.Loggers = map[string]string{"ha": "WARNING"}
	if line := loggerTo(t, o); line != "" {
		t.Fatalf("ha at WARNING logged an info line: %q", line)
	}
}

// log.type json: every line is one JSON object with time, level, logger and
// message, whoever wrote it: hashicorp/raft's own logger (a real one-node
// Raft), net/http's error log (StandardLogger, as the REST API wires it),
// a callback's output, a multi-line error and a stack trace, a value JSON
// cannot encode.
func TestNewRoot_JSON_EveryLineOneObjectWithFixedKeys(t *testing.T) {
	o := logOptions(t, true, "")
	o.Level = "DEBUG"
	log := rootLogger(t, o)
	rc := raft.DefaultConfig()
	rc.LocalID = "n1"
	rc.Logger = log.Named("raft")
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	_, trans := raft.NewInmemTransport("n1")
	store := raft.NewInmemStore()
	r, err := raft.NewRaft(rc, &raft.MockFSM{}, store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: trans.LocalAddr()}}})
	select {
	case <-r.LeaderCh():
	case <-time.After(10 * time.Second):
		t.Fatal("no raft leader")
	}
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	log.Named("api").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Printf("[ERR] http: TLS handshake error from 10.0.0.9:4711: EOF")
	log.Named("callback").Named("on_start").Info("callback output", "line", `he said "hi"	and left`)
	log.Named("ha").Error("action failed", "error", "promote: pg_ctl: exit status 1\nFATAL:  lock file exists\nHINT: is another postmaster running?",
		"stack", "goroutine 1 [running]:\nmain.main()\n\t/src/main.go:12 +0x1d")
	log.Named("ha").Info("odd value", "fn", func() {})
	raw, err := os.ReadFile(filepath.Join(o.Dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	modules := map[string]bool{}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not one JSON object: %q", line)
		}
		for _, k := range []string{"time", "level", "logger", "message"} {
			if s, _ := m[k].(string); s == "" {
				t.Fatalf("line without %q: %s", k, line)
			}
		}
		if _, err := time.Parse(TimeFormat, m["time"].(string)); err != nil {
			t.Fatalf("time %q: %v", m["time"], err)
		}
		modules[m["logger"].(string)] = true
	}
	for _, want := range []string{"node1.raft", "node1.api", "node1.callback.on_start", "node1.ha"} {
		if !modules[want] {
			t.Errorf("no line from %s in %d lines: %v", want, len(lines), modules)
		}
	}
}
