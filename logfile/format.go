package logfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Format is a Python logging format string (Patroni's log.format, such as
// "%(asctime)s %(levelname)s: %(message)s"), parsed once.
type Format struct {
	parts []formatPart
	date  *DateFormat // log.dateformat for %(asctime)s; nil: Python's default with milliseconds
}

// WithDate renders %(asctime)s with d (Patroni's log.dateformat): as
// Python's logging with a datefmt, without milliseconds.
func (f *Format) WithDate(d *DateFormat) *Format {
	g := *f
	g.date = d
	return &g
}

type formatPart struct {
	literal string
	attr    string // LogRecord attribute; "" for a literal
	spec    string // Go verb with Python's flags, width and precision, e.g. "%-8s"
}

// pyField is %(name)flags width .precision type, or %%.
var pyField = regexp.MustCompile(`%\(([A-Za-z_]+)\)([#0 +-]*[0-9]*(?:\.[0-9]+)?)([sdifr])|%%`)

// formatAttrs are the LogRecord attributes Python's logging knows; a name
// outside this list is refused at load (Python would fail at every line).
// Those a Go process has no value for render as "-" (strings) or 0.
var formatAttrs = map[string]bool{
	"asctime": true, "created": true, "levelname": true, "levelno": true, "message": true, "msg": true,
	"msecs": true, "name": true, "process": true, "processName": true, "relativeCreated": true,
	"thread": true, "threadName": true, "filename": true, "funcName": true, "lineno": true,
	"module": true, "pathname": true, "args": true, "exc_info": true, "exc_text": true,
	"stack_info": true, "taskName": true,
}

// ParseFormat parses a Python logging format string. The error names the
// first field it cannot render.
func ParseFormat(s string) (*Format, error) {
	f := &Format{}
	last := 0
	for _, m := range pyField.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			f.parts = append(f.parts, formatPart{literal: s[last:m[0]]})
		}
		last = m[1]
		if s[m[0]:m[1]] == "%%" {
			f.parts = append(f.parts, formatPart{literal: "%"})
			continue
		}
		attr, flags, verb := s[m[2]:m[3]], s[m[4]:m[5]], s[m[6]:m[7]]
		if !formatAttrs[attr] {
			return nil, fmt.Errorf("unknown field %%(%s) (Python's LogRecord has no such attribute)", attr)
		}
		switch verb {
		case "i":
			verb = "d"
		case "r":
			verb = "q"
		}
		f.parts = append(f.parts, formatPart{attr: attr, spec: "%" + flags + verb})
	}
	if rest := s[last:]; strings.Contains(rest, "%(") {
		return nil, fmt.Errorf("cannot parse %q (fields are written %%(name)s)", rest)
	}
	if last < len(s) {
		f.parts = append(f.parts, formatPart{literal: s[last:]})
	}
	for _, p := range f.parts {
		if p.attr != "" {
			return f, nil
		}
	}
	return nil, fmt.Errorf("no %%(name)s field in %q", s)
}

// Writer wraps w: each JSON line hclog writes (JSONFormat, timestamps in
// timeLayout) is written as one line rendered with f, the line's fields
// appended to the message as key=value. A write that is not one JSON
// object passes through unchanged.
func (f *Format) Writer(w io.Writer, timeLayout string) io.Writer {
	return &formatWriter{f: f, w: w, layout: timeLayout, start: time.Now(), pid: os.Getpid()}
}

type formatWriter struct {
	f      *Format
	w      io.Writer
	layout string
	start  time.Time
	pid    int
}

func (fw *formatWriter) Write(p []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || dec.More() {
		return fw.w.Write(p)
	}
	line := fw.f.render(fw.record(m))
	if _, err := io.WriteString(fw.w, line+"\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}

// record is the LogRecord of one hclog JSON line.
type record struct {
	t             time.Time
	asctime       string
	level, logger string
	message       string
	levelno, pid  int
	sinceStart    time.Duration
}

func (fw *formatWriter) record(m map[string]any) record {
	r := record{pid: fw.pid}
	ts, _ := m["@timestamp"].(string)
	t, err := time.Parse(fw.layout, ts)
	if err != nil {
		t = time.Now()
	}
	r.t, r.sinceStart = t, t.Sub(fw.start)
	if fw.f.date != nil {
		r.asctime = fw.f.date.Format(t)
	} else {
		r.asctime = t.Format("2006-01-02 15:04:05") + fmt.Sprintf(",%03d", t.Nanosecond()/1e6)
	}
	lvl, _ := m["@level"].(string)
	r.level, r.levelno = pythonLevel(lvl)
	r.logger, _ = m["@module"].(string)
	msg, _ := m["@message"].(string)
	var fields []string
	for k, v := range m {
		if !strings.HasPrefix(k, "@") {
			fields = append(fields, k+"="+fieldValue(v))
		}
	}
	sort.Strings(fields)
	r.message = strings.Join(append([]string{msg}, fields...), " ")
	return r
}

func fieldValue(v any) string {
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		return string(b)
	}
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		return strconv.Quote(s)
	}
	return s
}

// pythonLevel maps hclog's level names onto Python's names and numbers.
func pythonLevel(l string) (string, int) {
	switch l {
	case "trace", "debug":
		return "DEBUG", 10
	case "warn":
		return "WARNING", 30
	case "error":
		return "ERROR", 40
	}
	return "INFO", 20
}

func (f *Format) render(r record) string {
	var b strings.Builder
	for _, p := range f.parts {
		if p.attr == "" {
			b.WriteString(p.literal)
			continue
		}
		b.WriteString(fmt.Sprintf(p.spec, r.value(p.attr, p.spec)))
	}
	return b.String()
}

// value is attr as the verb in spec wants it (a number for %d and %f).
func (r record) value(attr, spec string) any {
	var v any
	switch attr {
	case "asctime":
		v = r.asctime
	case "created":
		v = float64(r.t.UnixNano()) / 1e9
	case "msecs":
		v = float64(r.t.Nanosecond()) / 1e6
	case "relativeCreated":
		v = float64(r.sinceStart) / float64(time.Millisecond)
	case "levelname":
		v = r.level
	case "levelno":
		v = r.levelno
	case "message", "msg":
		v = r.message
	case "name":
		v = r.logger
	case "process":
		v = r.pid
	case "processName", "threadName":
		v = "MainProcess"
		if attr == "threadName" {
			v = "MainThread"
		}
	case "thread", "lineno":
		v = 0
	default: // filename, funcName, module, pathname, args, exc_info...: nothing to show
		v = "-"
	}
	switch spec[len(spec)-1] {
	case 'd':
		switch n := v.(type) {
		case int:
			return n
		case float64:
			return int64(n)
		}
		return 0
	case 'f':
		switch n := v.(type) {
		case int:
			return float64(n)
		case float64:
			return n
		}
		return 0.0
	}
	return fmt.Sprint(v)
}
