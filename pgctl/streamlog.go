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

// streamPatterns are PostgreSQL 15's messages (walreceiver and startup
// process on the standby, walsender errors relayed by it) that retrying
// does not cure.
var streamPatterns = []struct {
	text    string
	problem StreamProblem
}{
	{"has already been removed", StreamWALRemoved},                 // requested WAL segment %s has already been removed
	{"is not a child of", StreamTimeline},                          // new timeline %u is not a child of database system timeline %u
	{"of the primary is behind recovery timeline", StreamTimeline}, // highest timeline %u of the primary is behind recovery timeline %u
	{"is not in this server's history", StreamTimeline},            // requested starting point %X/%X on timeline %u is not in this server's history
	{"is not a child of this server's history", StreamTimeline},    // requested timeline %u is not a child of this server's history
	{"is ahead of the WAL flush position of this server", StreamTimeline},
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
			if strings.Contains(line, p.text) {
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
