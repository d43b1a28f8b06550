package main

import (
	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/logfile"
)

// newLogger builds the one root logger from the log: section, which
// --log-level and --log-json override.
func newLogger(c *cli.Context, cfg *config.Config) (hclog.Logger, error) {
	l := cfg.Log
	o := logfile.Options{Name: cfg.Name, Level: l.Level, JSON: l.Type == "json" || c.Bool("log-json"), Format: l.Format,
		DateFormat: l.DateFormat, Dir: l.Dir, FileSize: int64(l.FileSize), FileNum: l.FileNum, Loggers: l.Loggers, Source: cfg.Path}
	if c.IsSet("log-level") {
		o.Level = c.String("log-level")
	}
	return logfile.NewRoot(o)
}
