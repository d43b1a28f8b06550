package logfile

import (
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Level maps Patroni's level names (DEBUG, INFO, WARNING, ERROR, CRITICAL)
// onto hclog's; anything else is INFO (config refuses other names).
func Level(name string) hclog.Level {
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
