package logfile

import (
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
)

// TimeFormat is the timestamp of every log line (and what a log.format
// writer parses back from hclog's JSON).
const TimeFormat = "2006-01-02T15:04:05.000Z0700"

// FileName is the file in log.dir (Patroni writes patroni.log there).
const FileName = "conclave.log"

// Options is the log: section as the root logger needs it, with the
// command line's overrides (--log-level, --log-json) already applied.
type Options struct {
	Name       string // the root logger's name: the member name
	Level      string // Patroni's level name (log.level)
	JSON       bool   // log.type: json
	Format     string // log.format, Patroni's Python format string
	DateFormat string // log.dateformat
	Dir        string // log.dir; "" logs to stderr
	FileSize   int64  // log.file_size
	FileNum    int    // log.file_num
	Loggers    map[string]string
	Source     string // the configuration file, named in errors
}

// style is how a line is laid out.
type style int

const (
	stylePlain  style = iota // hclog's plain layout
	styleJSON                // log.type: json, the shipping shape
	styleFormat              // log.format, Patroni's Python format string
)

func (o Options) style() style {
	switch {
	case o.JSON:
		return styleJSON
	case o.Format != "":
		return styleFormat
	}
	return stylePlain
}

// NewRoot builds the one root logger, writing to Dir (output) or stderr.
func NewRoot(o Options) (hclog.Logger, error) {
	out, err := output(o)
	if err != nil {
		return nil, err
	}
	plain := o.style() == stylePlain
	opts := &hclog.LoggerOptions{
		Name:            o.Name,
		Level:           Level(o.Level),
		JSONFormat:      !plain, // a log.format writer renders hclog's JSON lines
		Output:          out,
		IncludeLocation: false,
		TimeFormat:      TimeFormat,
		DisableTime:     plain && o.DateFormat != "", // output writes log.dateformat's date
	}
	ModuleLevels(opts, o.Name, o.Loggers) // log.loggers
	return hclog.New(opts), nil
}

// output is where the agent logs: Dir/conclave.log rotated by FileSize and
// FileNum when Dir is set (as Patroni, nothing on stderr then), else
// stderr. JSON lines get the shipping shape (time, level, logger, message,
// then the fields); with Format, hclog's JSON lines are rendered with it.
// The file stays open for the life of the process.
func output(o Options) (io.Writer, error) {
	var out io.Writer = os.Stderr
	if o.Dir != "" {
		w, err := Open(o.Dir, FileName, o.FileSize, o.FileNum)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Source, err)
		}
		out = w
		if err := CrashFile(o.Dir); err != nil { // a runtime crash's trace, kept beside
			return nil, fmt.Errorf("%s: %w", o.Source, err)
		}
	}
	var date *DateFormat // log.dateformat: plain lines and %(asctime)s, not JSON's time
	if o.DateFormat != "" {
		var err error
		if date, err = ParseDateFormat(o.DateFormat); err != nil { // config refused it already
			return nil, fmt.Errorf("%s: log.dateformat: %w", o.Source, err)
		}
	}
	switch {
	case o.style() == styleJSON:
		out = ShippingJSON(out)
	case o.style() == styleFormat:
		f, err := ParseFormat(o.Format)
		if err != nil { // config refused it already; kept for a Config built in code
			return nil, fmt.Errorf("%s: log.format: %w", o.Source, err)
		}
		if date != nil {
			f = f.WithDate(date)
		}
		out = f.Writer(out, TimeFormat)
	case date != nil:
		out = DatePrefix(out, date)
	}
	return out, nil
}
