package logfile

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

const testLayout = "2006-01-02T15:04:05.000Z0700"

func TestFormat_PatroniDefaultRendersHclogLines(t *testing.T) {
	f, err := ParseFormat("%(asctime)s %(levelname)-7s %(name)s: %(message)s (%%)")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Name: "node1", JSONFormat: true, TimeFormat: testLayout,
		Output: f.Writer(&buf, testLayout), Level: hclog.Debug})
	log.Named("ha").Warn("promoting", "reason", "leader lost", "term", 4)
	line := buf.String()
	// "2026-12-01 02:50:00,123 WARNING node1.ha: promoting reason="leader lost" term=4 (%)\n"
	if !strings.HasSuffix(line, ` WARNING node1.ha: promoting reason="leader lost" term=4 (%)`+"\n") ||
		strings.Count(line, "\n") != 1 || line[4] != '-' || line[10] != ' ' || line[19] != ',' {
		t.Fatalf("line %q", line)
	}
}

func TestFormat_NumbersAndUnknownFields(t *testing.T) {
	f, err := ParseFormat("%(levelno)03d %(process)d %(funcName)s %(lineno)d")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := f.Writer(&buf, testLayout)
	w.Write([]byte(`{"@level":"error","@message":"x","@timestamp":"2026-12-01T02:50:00.000Z"}` + "\n"))
	if got := buf.String(); !strings.HasPrefix(got, "040 ") || !strings.HasSuffix(got, " - 0\n") {
		t.Fatalf("line %q", got)
	}
	for _, bad := range []string{"%(nosuch)s", "%(message)q", "%(message"} {
		if _, err := ParseFormat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
