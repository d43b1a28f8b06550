package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/ctl"
)

// validConf writes a configuration that passes every check on this
// machine: free ports, writable directories, a bin_dir with the binaries.
func validConf(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	for _, b := range []string{"postgres", "initdb", "pg_ctl", "pg_basebackup", "pg_rewind"} {
		os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\n"), 0o755)
	}
	return writeConfWith(t, confPorts{rest: deadAddr(t), raft: deadAddr(t), pg: deadAddr(t), binDir: bin}, extra)
}

func TestValidateConfig_GoodFile_ValidAndNamesKeysNotActedOn(t *testing.T) {
	p := validConf(t, "tags:\n  nostream: yes\n")
	out, errOut, err := runCLI(t, "", "validate-config", p)
	if err != nil || out != "configuration is valid\n" {
		t.Fatalf("err %v out %q", err, out)
	}
	if !strings.Contains(errOut, p+": warning: accepted, not acted on: tags.nostream\n") || !strings.Contains(errOut, p+":16: tags.nostream: every replica streams") {
		t.Fatalf("stderr %q", errOut)
	}
}

func TestValidateConfig_BadFile_EveryProblemOnItsOwnLineAndNonZero(t *testing.T) {
	p := validConf(t, "tags:\n  nofailover: n\n  failover_priority: high\n")
	out, errOut, err := runCLI(t, "", "validate-config", p)
	if err == nil || out != "" {
		t.Fatalf("err %v out %q", err, out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 2 || !strings.Contains(errOut, p+":16: key \"tags.nofailover\"") || !strings.Contains(errOut, p+":17: key \"tags.failover_priority\"") {
		t.Fatalf("stderr %q", errOut)
	}
}

func TestValidateConfig_MissingBinaries_NamesKeyAndFile(t *testing.T) {
	p := validConf(t, "")
	data, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(data), "  bin_dir: ", "  bin_dir: /nonexistent", 1)), 0o600)
	line := strings.Count(string(data[:strings.Index(string(data), "  bin_dir: ")]), "\n") + 1
	_, errOut, err := runCLI(t, "", "validate-config", p)
	if want := fmt.Sprintf("%s:%d: postgresql.bin_dir", p, line); err == nil || !strings.HasPrefix(errOut, want) {
		t.Fatalf("err %v stderr %q, want it to start with %q (file:line of the key)", err, errOut, want)
	}
}

func TestValidateConfig_NoFile_UsageError(t *testing.T) {
	_, _, err := runCLI(t, "", "validate-config")
	var u ctl.UsageError
	if err == nil || !asUsage(err, &u) {
		t.Fatalf("err %v, want usage error", err)
	}
}
