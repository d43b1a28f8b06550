package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/ctl"
)

func TestEditConfig_SetAndPg_PrintsDiffAsksAndPatchesWithIfMatch(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newFakeAgent(t, "", fakeCluster)
	out, _, err := runCLI(t, "y\n", "edit-config", "-c", writeConf(t, a.addr()), "-s", "ttl=20", "-s", "synchronous_mode=on", "-p", "max_connections=200")
	if err != nil {
		t.Fatal(err)
	}
	want := `--- 
+++ 
@@ -1,2 +1,6 @@
 loop_wait: 10
-ttl: 30
+postgresql:
+  parameters:
+    max_connections: 200
+synchronous_mode: true
+ttl: 20
Apply these changes? [y/N]: Configuration changed
`
	if out != want {
		t.Fatalf("output\n%q\nwant\n%q", out, want)
	}
	// ttl=20 is an integer, "on" a boolean: values typed on the command line are YAML.
	if len(a.writes) != 1 || a.writes[0] != `PATCH "7" {"postgresql":{"parameters":{"max_connections":200}},"synchronous_mode":true,"ttl":20}` {
		t.Fatalf("writes %q", a.writes)
	}
}

// A key the cluster stores but does not act on is named after the change.
func TestEditConfig_KeyNotActedOn_WarnsAfterTheChange(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newFakeAgent(t, "", fakeCluster)
	out, _, err := runCLI(t, "", "edit-config", "-c", writeConf(t, a.addr()), "-s", "standby_cluster.host=10.0.0.1", "--force")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "Configuration changed\nWarning: accepted but not acted on: standby_cluster (standby clusters are not supported)\n") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestEditConfig_AnswerNo_ChangesNothing(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newFakeAgent(t, "", fakeCluster)
	out, _, err := runCLI(t, "n\n", "edit-config", "-c", writeConf(t, a.addr()), "-s", "ttl=20")
	if err == nil || !strings.Contains(out, "+ttl: 20") || len(a.writes) != 0 {
		t.Fatalf("err %v, out %q, writes %q", err, out, a.writes)
	}
}

func TestEditConfig_ConcurrentChange_SaysSoAndFails(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newFakeAgent(t, "", fakeCluster)
	conf := writeConf(t, a.addr())
	// Another edit lands between this one's read and its write.
	a.srv.Config.Handler = wrapAfterGet(a, func() { a.idx++ })
	_, _, err := runCLI(t, "", "edit-config", "-c", conf, "-s", "ttl=20", "--force")
	if err == nil || !strings.Contains(err.Error(), "concurrent changes") {
		t.Fatalf("error %v", err)
	}
}

func TestEditConfig_Unchanged_NotChanged(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newFakeAgent(t, "", fakeCluster)
	out, _, err := runCLI(t, "", "edit-config", "-c", writeConf(t, a.addr()), "-s", "ttl=30")
	if err != nil || out != "Not changed\n" || len(a.writes) != 0 {
		t.Fatalf("err %v out %q writes %q", err, out, a.writes)
	}
}

func TestEditConfig_ReplaceFromStdin_NeedsForceThenPuts(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newFakeAgent(t, "", fakeCluster)
	conf := writeConf(t, a.addr())
	out, _, err := runCLI(t, "ttl: 25\n", "edit-config", "-c", conf, "--replace", "-")
	if err != nil || !strings.HasSuffix(out, "Use --force option to apply changes\n") || len(a.writes) != 0 {
		t.Fatalf("err %v out %q writes %q", err, out, a.writes)
	}
	out, _, err = runCLI(t, "ttl: 25\n", "edit-config", "-c", conf, "--replace", "-", "--force")
	if err != nil || !strings.Contains(out, "-loop_wait: 10") || len(a.writes) != 1 || a.writes[0] != `PUT "7" {"ttl":25}` {
		t.Fatalf("err %v out %q writes %q", err, out, a.writes)
	}
}

func TestEditConfig_ApplyFileAndEditor(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newFakeAgent(t, "", fakeCluster)
	conf := writeConf(t, a.addr())
	f := filepath.Join(t.TempDir(), "patch.yml")
	os.WriteFile(f, []byte("loop_wait: null\npause: yes\n"), 0o600)
	if _, _, err := runCLI(t, "", "edit-config", "-c", conf, "--apply", f, "--force"); err != nil {
		t.Fatal(err)
	}
	if len(a.writes) != 1 || a.writes[0] != `PATCH "7" {"loop_wait":null,"pause":true}` {
		t.Fatalf("writes %q", a.writes)
	}
	// The editor is a script that rewrites ttl.
	ed := filepath.Join(t.TempDir(), "ed.sh")
	os.WriteFile(ed, []byte("#!/bin/sh\nsed -i 's/ttl: 30/ttl: 9/' \"$1\"\n"), 0o700)
	t.Setenv("EDITOR", ed)
	out, _, err := runCLI(t, "yes\n", "edit-config", "-c", conf)
	if err != nil || !strings.Contains(out, "+ttl: 9") || a.writes[len(a.writes)-1] != `PATCH "8" {"ttl":9}` {
		t.Fatalf("err %v out %q writes %q", err, out, a.writes)
	}
}

func TestEditConfig_BadSetting_UsageError(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newFakeAgent(t, "", fakeCluster)
	_, _, err := runCLI(t, "", "edit-config", "-c", writeConf(t, a.addr()), "-s", "ttl")
	var u ctl.UsageError
	if err == nil || !strings.Contains(err.Error(), `invalid parameter setting "ttl"`) || !asUsage(err, &u) {
		t.Fatalf("error %v, want a usage error", err)
	}
}
