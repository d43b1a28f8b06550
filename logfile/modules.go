package logfile

import (
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Modules are the names of the agent's sub-loggers that log.loggers can
// set a level for (Patroni's per-logger levels): each names what its lines
// are about.
var Modules = []string{
	"ha",         // HA decisions, role changes, the lease
	"raft",       // hashicorp/raft itself
	"raftstore",  // the Raft node: bootstrap, join, leadership
	"api",        // the REST API
	"pgctl",      // PostgreSQL binaries and SQL (pgctl.exec: each command run)
	"postgres",   // the PostgreSQL adapter and PostgreSQL's own output
	"pgbackrest", // the backup tool
	"callback",   // callback scripts
	"vip",        // the floating IP
	"watchdog",   // the process watchdog
}

// IsModule reports whether name is one of Modules, or a dotted path under
// one ("pgctl.exec").
func IsModule(name string) bool {
	first, _, _ := strings.Cut(name, ".")
	for _, m := range Modules {
		if first == m {
			return true
		}
	}
	return false
}

// ModuleLevels gives sub-loggers the levels of log.loggers. root is the
// root logger's name (the member name); levels maps a module, or a dotted
// path of modules ("pgctl.exec"), to Patroni's level name. Set the result
// in LoggerOptions with IndependentLevels: a sub-logger whose path below
// root ends with a module of levels gets its level (the longest such
// module wins), and the loggers named under it inherit it.
func ModuleLevels(opts *hclog.LoggerOptions, root string, levels map[string]string) {
	if len(levels) == 0 {
		return
	}
	lv := make(map[string]hclog.Level, len(levels))
	for m, l := range levels {
		if IsModule(m) { // others are named as not acted on (config)
			lv[m] = Level(l)
		}
	}
	if len(lv) == 0 {
		return
	}
	opts.IndependentLevels = true
	opts.SubloggerHook = func(sub hclog.Logger) hclog.Logger {
		path := sub.Name()
		if root != "" {
			path = strings.TrimPrefix(path, root+".")
			if path == root {
				return sub // the root itself, or a With on it
			}
		}
		best := ""
		for m := range lv {
			if (path == m || strings.HasSuffix(path, "."+m)) && len(m) > len(best) {
				best = m
			}
		}
		if best != "" {
			sub.SetLevel(lv[best])
		}
		return sub
	}
}
