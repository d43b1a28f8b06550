package logfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestWriter_RotatesBySizeKeepingFileNum(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	w, err := Open(dir, "conclave.log", 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := func(i int) string { return fmt.Sprintf("line %02d %s\n", i, strings.Repeat("x", 30)) } // 40 bytes
	for i := 0; i < 10; i++ {
		if _, err := w.Write([]byte(line(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// 2 lines per file (a third would pass 100 bytes): lines 8-9 current,
	// 6-7 in .1, 4-5 in .2, older ones dropped.
	want := map[string]string{
		"conclave.log":   line(8) + line(9),
		"conclave.log.1": line(6) + line(7),
		"conclave.log.2": line(4) + line(5),
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Fatalf("files %v, want %d", entries, len(want))
	}
	for name, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != content {
			t.Fatalf("%s = %q (%v), want %q", name, got, err, content)
		}
	}
	// Reopening appends and counts the existing size.
	w, err = Open(dir, "conclave.log", 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte(line(10))); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "conclave.log")); string(got) != line(10) {
		t.Fatalf("after reopen: %q", got)
	}
}

func TestWriter_LongLineNotSplit(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, "c.log", 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	long := strings.Repeat("y", 50) + "\n"
	for i := 0; i < 2; i++ {
		if _, err := w.Write([]byte(long)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"c.log", "c.log.1"} {
		if got, _ := os.ReadFile(filepath.Join(dir, n)); string(got) != long {
			t.Fatalf("%s = %q", n, got)
		}
	}
}

func TestShippingJSON_OneObjectPerLineWithFixedKeys(t *testing.T) {
	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Name: "node1", JSONFormat: true, Output: ShippingJSON(&buf), Level: hclog.Debug})
	logger.Named("ha").Info("promoting", "node", "node1", "term", 4, "message", "field named message")
	logger.Warn("request failed", "error", "boom\nsecond line")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("not JSON: %s", lines[0])
	}
	if !strings.HasPrefix(lines[0], `{"time":`) || first["level"] != "info" || first["logger"] != "node1.ha" ||
		first["message"] != "promoting" || first["node"] != "node1" || first["term"] != float64(4) ||
		first["field.message"] != "field named message" {
		t.Fatalf("line %s", lines[0])
	}
	for _, k := range []string{"@timestamp", "@level", "@module", "@message"} {
		if _, ok := first[k]; ok {
			t.Fatalf("hclog key %s left in %s", k, lines[0])
		}
	}
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil || second["error"] != "boom\nsecond line" {
		t.Fatalf("second line %s: %v", lines[1], err)
	}
}
