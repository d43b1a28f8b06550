package main

import (
	"fmt"
	"io"
	"os"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/logfile"
)

// logFileName is the file in log.dir (Patroni writes patroni.log there).
const logFileName = "conclave.log"

// logStyle is how a line is laid out.
type logStyle int

const (
	logPlain         logStyle = iota // hclog's plain layout
	logJSON                          // log.type: json, the shipping shape
	logPatroniFormat                 // log.format, Patroni's Python format string
)

// logOutput is where the agent logs: log.dir/conclave.log rotated by
// log.file_size and log.file_num when log.dir is set (as Patroni, nothing on
// stderr then), else stderr. JSON lines get the shipping shape (time, level,
// logger, message, then the fields); with log.format, hclog's JSON lines are
// rendered with it. The file stays open for the life of the process.
func logOutput(cfg *config.Config, style logStyle) (io.Writer, error) {
	var out io.Writer = os.Stderr
	if cfg.Log.Dir != "" {
		w, err := logfile.Open(cfg.Log.Dir, logFileName, int64(cfg.Log.FileSize), cfg.Log.FileNum)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Path, err)
		}
		out = w
		if err := logfile.CrashFile(cfg.Log.Dir); err != nil { // a runtime crash's trace, kept beside
			return nil, fmt.Errorf("%s: %w", cfg.Path, err)
		}
	}
	var date *logfile.DateFormat // log.dateformat: plain lines and %(asctime)s, not JSON's time
	if cfg.Log.DateFormat != "" {
		var err error
		if date, err = logfile.ParseDateFormat(cfg.Log.DateFormat); err != nil { // config refused it already
			return nil, fmt.Errorf("%s: log.dateformat: %w", cfg.Path, err)
		}
	}
	switch {
	case style == logJSON:
		out = logfile.ShippingJSON(out)
	case style == logPatroniFormat:
		f, err := logfile.ParseFormat(cfg.Log.Format)
		if err != nil { // config refused it already; kept for a Config built in code
			return nil, fmt.Errorf("%s: log.format: %w", cfg.Path, err)
		}
		if date != nil {
			f = f.WithDate(date)
		}
		out = f.Writer(out, logTimeFormat)
	case date != nil:
		out = logfile.DatePrefix(out, date)
	}
	return out, nil
}
