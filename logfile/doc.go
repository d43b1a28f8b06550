// Package logfile is where the agent's log lines go besides stderr: a file
// in log.dir rotated by size as Patroni's (log.file_size, log.file_num:
// Python's RotatingFileHandler), the JSON line shape for log shippers,
// Patroni's log.format (a Python logging format string, format.go) and its
// level names (level.go), and the root logger built from the log: section
// (root.go: the agent's and the watchdog's).
//
// It only re-lays out lines hclog already wrote (never adds a value that is
// not in the line); it imports no other package of ours.
package logfile
