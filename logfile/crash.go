package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
)

// CrashFileName is the file in log.dir that a Go runtime crash (a panic
// no code recovered, a fatal error) is copied to.
const CrashFileName = "conclave-crash.log"

// CrashFile makes the Go runtime copy a crash's trace into dir/conclave-crash.log
// (appended; it still goes to stderr too). The trace is the runtime's
// multi-line text, not a log line: the process cannot log once it is
// crashing, and with log.dir nothing else would keep it.
func CrashFile(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, CrashFileName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log.dir: %w", err)
	}
	defer f.Close() // SetCrashOutput keeps its own descriptor
	if err := debug.SetCrashOutput(f, debug.CrashOptions{}); err != nil {
		return fmt.Errorf("log.dir: crash output: %w", err)
	}
	return nil
}
