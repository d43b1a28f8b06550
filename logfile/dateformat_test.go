package logfile

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestDateFormat_RendersPythonStrftime(t *testing.T) {
	// Sunday 3 January 2027, 14:05:09.123456 UTC: ISO week 53 of 2026.
	at := time.Date(2027, 1, 3, 14, 5, 9, 123456789, time.UTC)
	for format, want := range map[string]string{
		"%Y-%m-%d %H:%M:%S":  "2027-01-03 14:05:09",
		"%d/%m/%y %I:%M %p":  "03/01/27 02:05 PM",
		"%a %A %b %B %e":     "Sun Sunday Jan January  3",
		"%j %U %W %w %u":     "003 01 00 0 7",
		"%G-W%V %f %z %Z %%": "2026-W53 123456 +0000 UTC %",
		"%c | %x | %X":       "Sun Jan  3 14:05:09 2027 | 01/03/27 | 14:05:09",
		"[%H:%M]":            "[14:05]",
	} {
		f, err := ParseDateFormat(format)
		if err != nil {
			t.Fatalf("%q: %v", format, err)
		}
		if got := f.Format(at); got != want {
			t.Errorf("%q: %q, want %q", format, got, want)
		}
	}
	for _, bad := range []string{"", "%Y-%Q", "%H:%", "%E"} {
		if _, err := ParseDateFormat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDateFormat_PlainLinesAndAsctime(t *testing.T) {
	df, err := ParseDateFormat("%d.%m.%Y %H:%M:%S")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Name: "n1", DisableTime: true, Output: DatePrefix(&buf, df)})
	before := time.Now()
	log.Named("ha").Info("promoted", "timeline", 2)
	after := time.Now()
	line := buf.String()
	if tail := " [INFO]  n1.ha: promoted: timeline=2\n"; line != df.Format(before)+tail && line != df.Format(after)+tail {
		t.Fatalf("line %q, want %q + %q", line, df.Format(before), tail)
	}

	f, err := ParseFormat("%(asctime)s %(levelname)s: %(message)s")
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	w := f.WithDate(df).Writer(&buf, testLayout)
	w.Write([]byte(`{"@level":"info","@message":"x","@timestamp":"2026-12-01T02:50:00.123Z"}` + "\n"))
	if got := buf.String(); got != "01.12.2026 02:50:00 INFO: x\n" {
		t.Fatalf("asctime with dateformat: %q", got)
	}
}
