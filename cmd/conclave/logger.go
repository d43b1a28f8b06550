package main

import (
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/conclave-ha/conclave/config"
)

// newLogger builds the one root logger from log.level/log.format, which
// --log-level and --log-json override.
func newLogger(c *cli.Context, cfg *config.Config) hclog.Logger {
	level := cfg.Log.Level
	if c.IsSet("log-level") {
		level = c.String("log-level")
	}
	jsonFormat := strings.EqualFold(cfg.Log.Format, "json") || c.Bool("log-json")
	return hclog.New(&hclog.LoggerOptions{
		Name:            cfg.Name,
		Level:           logLevel(level),
		JSONFormat:      jsonFormat,
		Output:          os.Stderr,
		IncludeLocation: false,
		TimeFormat:      "2006-01-02T15:04:05.000Z0700",
	})
}

// logLevel maps Patroni's level names onto hclog's.
func logLevel(name string) hclog.Level {
	switch strings.ToUpper(name) {
	case "DEBUG":
		return hclog.Debug
	case "WARNING", "WARN":
		return hclog.Warn
	case "ERROR", "CRITICAL":
		return hclog.Error
	}
	return hclog.Info
}
