package logfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A panic nobody recovers leaves its trace in log.dir.
func TestCrashFile_PanicTraceKept(t *testing.T) {
	if dir := os.Getenv("LOGFILE_CRASH_DIR"); dir != "" {
		if err := CrashFile(dir); err != nil {
			t.Fatal(err)
		}
		go panic("boom in a goroutine")
		select {}
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashFile_PanicTraceKept$")
	cmd.Env = append(os.Environ(), "LOGFILE_CRASH_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "boom in a goroutine") {
		t.Fatalf("child did not crash: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, CrashFileName))
	if err != nil || !strings.Contains(string(got), "panic: boom in a goroutine") || !strings.Contains(string(got), "goroutine ") {
		t.Fatalf("crash file %q: %v", got, err)
	}
}
