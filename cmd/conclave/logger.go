package main

import (
	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/logfile"
)

// logTimeFormat is the timestamp of every log line (and what a log.format
// writer parses back from hclog's JSON).
const logTimeFormat = "2006-01-02T15:04:05.000Z0700"

// newLogger builds the one root logger from log.level/log.type/log.format,
// which --log-level and --log-json override, writing to log.dir
// (logoutput.go) or stderr.
func newLogger(c *cli.Context, cfg *config.Config) (hclog.Logger, error) {
	level := cfg.Log.Level
	if c.IsSet("log-level") {
		level = c.String("log-level")
	}
	style := logPlain
	switch {
	case cfg.Log.Type == "json" || c.Bool("log-json"):
		style = logJSON
	case cfg.Log.Format != "":
		style = logPatroniFormat
	}
	out, err := logOutput(cfg, style)
	if err != nil {
		return nil, err
	}
	opts := &hclog.LoggerOptions{
		Name:            cfg.Name,
		Level:           logfile.Level(level),
		JSONFormat:      style != logPlain, // a log.format writer renders hclog's JSON lines
		Output:          out,
		IncludeLocation: false,
		TimeFormat:      logTimeFormat,
		DisableTime:     style == logPlain && cfg.Log.DateFormat != "", // logOutput writes log.dateformat's date
	}
	logfile.ModuleLevels(opts, cfg.Name, cfg.Log.Loggers) // log.loggers
	return hclog.New(opts), nil
}
