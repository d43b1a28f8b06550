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

// DiagnoseStreaming reads the end of the server log (pg_ctl -l LogFile)
// and returns the last replication error that retrying cannot cure and the
// log line's message, unless the server restarted or streamed since. It
// decides nothing: ha does. A log it cannot read gives StreamOK.
func (i *Instance) DiagnoseStreaming() (StreamProblem, string) {
	f, err := os.Open(i.cfg.LogFile)
	if err != nil {
		return StreamOK, ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > streamLogTail {
		if _, err := f.Seek(st.Size()-streamLogTail, io.SeekStart); err != nil {
			return StreamOK, ""
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, streamLogTail))
	if err != nil {
		return StreamOK, ""
	}
	return diagnoseStreamLog(string(b))
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
