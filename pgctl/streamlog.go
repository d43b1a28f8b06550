package pgctl

import (
	"io"
	"os"
	"strings"
)

// StreamProblem classifies why a standby does not stream, as its log says.
type StreamProblem int

const (
	// StreamOK: no replication error since the server last started or
	// last started streaming.
	StreamOK StreamProblem = iota
	// StreamWALRemoved: the primary removed WAL this standby still needs.
	StreamWALRemoved
	// StreamTimeline: the primary's history does not contain this
	// standby's timeline or position.
	StreamTimeline
)

// streamLogTail is how much of the end of the log is read.
const streamLogTail = 256 << 10

// streamPatterns are PostgreSQL 15's messages that retrying does not cure.
// Relayed ones are the upstream walsender's errors: they count only in the
// form this standby's walreceiver logs them, after one of relayPrefixes, so
// this node's own walsender refusing a client of its own (a backup tool or
// a cascading standby asking for WAL this node removed) is not taken for a
// stream this node cannot get. The others are logged only by a standby's
// startup process or walreceiver.
//
// The messages are matched in English: with another lc_messages nothing
// matches (neither errors nor the reset lines), so the diagnosis is off and
// a standby that does not stream is only reported, never repaired.
type streamPattern struct {
	text    string
	problem StreamProblem
	relayed bool // an upstream's error: only after one of relayPrefixes
}

var streamPatterns = []streamPattern{
	{"has already been removed", StreamWALRemoved, true},                        // requested WAL segment %s has already been removed
	{"is not in this server's history", StreamTimeline, true},                   // requested starting point %X/%X on timeline %u is not in this server's history
	{"is not a child of this server's history", StreamTimeline, true},           // requested timeline %u is not a child of this server's history
	{"is ahead of the WAL flush position of this server", StreamTimeline, true}, // requested starting point %X/%X is ahead of the WAL flush position of this server %X/%X
	{"is not a child of database system timeline", StreamTimeline, false},       // new timeline %u is not a child of database system timeline %u (startup process)
	{"of the primary is behind recovery timeline", StreamTimeline, false},       // highest timeline %u of the primary is behind recovery timeline %u (walreceiver)
}

// relayPrefixes are how the walreceiver logs an error its upstream sent.
var relayPrefixes = []string{"could not receive data from WAL stream:", "could not start WAL streaming:"}

// matches reports whether line carries p in the form counted.
func (p streamPattern) matches(line string) bool {
	i := strings.Index(line, p.text)
	if i < 0 {
		return false
	}
	if !p.relayed {
		return true
	}
	for _, pre := range relayPrefixes {
		if j := strings.Index(line, pre); j >= 0 && j < i {
			return true
		}
	}
	return false
}

// streamResets are lines after which earlier errors no longer describe the
// server: it restarted, or it streamed again.
var streamResets = []string{"started streaming WAL from primary", "starting PostgreSQL "}

// LogMark returns the current end of the server log (0 if unreadable), for
// DiagnoseStreaming: the adapter takes one at each start and each change of
// upstream, so errors about an earlier upstream are never charged to the
// current one.
func (i *Instance) LogMark() int64 {
	st, err := os.Stat(i.cfg.LogFile)
	if err != nil {
		return 0
	}
	return st.Size()
}

// DiagnoseStreaming reads the server log (pg_ctl -l LogFile) after the
// offset from (a LogMark; at most the last streamLogTail bytes) and returns
// the last replication error that retrying cannot cure and the log line's
// message, unless the server restarted or streamed since. It decides
// nothing: ha does. A log it cannot read gives StreamOK. A log shorter than
// from was truncated or rotated: then its tail is read.
func (i *Instance) DiagnoseStreaming(from int64) (StreamProblem, string) {
	f, err := os.Open(i.cfg.LogFile)
	if err != nil {
		return StreamOK, ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return StreamOK, ""
	}
	if from > st.Size() {
		from = 0
	}
	start := max(from, st.Size()-streamLogTail)
	// Read from one byte earlier and drop the first (partial) line: a line
	// cut by the offset is not judged by its end alone.
	if start > 0 {
		start--
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return StreamOK, ""
	}
	b, err := io.ReadAll(io.LimitReader(f, streamLogTail+1))
	if err != nil {
		return StreamOK, ""
	}
	text := string(b)
	if start > 0 {
		nl := strings.IndexByte(text, '\n')
		if nl < 0 {
			return StreamOK, ""
		}
		text = text[nl+1:]
	}
	return diagnoseStreamLog(text)
}

func diagnoseStreamLog(log string) (StreamProblem, string) {
	problem, detail := StreamOK, ""
	for _, line := range strings.Split(log, "\n") {
		for _, r := range streamResets {
			if strings.Contains(line, r) {
				problem, detail = StreamOK, ""
			}
		}
		for _, p := range streamPatterns {
			if p.matches(line) {
				problem, detail = p.problem, logMessage(line)
				break
			}
		}
	}
	return problem, detail
}

// logMessage strips the timestamp and severity prefixes of a log line and
// keeps the innermost message, at most 200 bytes.
func logMessage(line string) string {
	msg := strings.TrimSpace(line)
	for _, sev := range []string{"ERROR:", "FATAL:", "LOG:"} {
		if i := strings.LastIndex(msg, sev); i >= 0 {
			msg = strings.TrimSpace(msg[i+len(sev):])
			break
		}
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
