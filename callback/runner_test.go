package callback

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cb.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFire_PassesActionRoleScopeAfterTheScriptsOwnArguments(t *testing.T) {
	out := filepath.Join(t.TempDir(), "argv")
	s := script(t, `echo "$*" >> "$1"`)
	r, err := New(Config{Scope: "demo", Callbacks: map[string]string{"on_role_change": s + " '" + out + "'"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Fire(OnRoleChange, Primary)
	r.Wait()
	r.Fire(OnStart, Replica) // not configured: nothing runs
	r.Wait()
	if got, want := readLines(t, out), []string{out + " on_role_change primary demo"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("argv %q, want %q", got, want)
	}
}

func TestFire_ANewCallbackKillsTheOneStillRunning(t *testing.T) {
	dir := t.TempDir()
	// Each run records its start, sleeps in a child, and records its end.
	s := script(t, `echo "start $1" >> `+dir+`/log; sleep 30; echo "end $1" >> `+dir+`/log`)
	r, err := New(Config{Scope: "s", Callbacks: map[string]string{"on_start": s, "on_role_change": s, "on_reload": s}})
	if err != nil {
		t.Fatal(err)
	}
	r.Fire(OnStart, Replica)
	waitUntil(t, "on_start to run", func() bool { return len(readLines(t, dir+"/log")) == 1 })
	r.Fire(OnReload, Replica) // its own slot: does not kill on_start
	waitUntil(t, "on_reload to run", func() bool { return len(readLines(t, dir+"/log")) == 2 })
	began := time.Now()
	r.Fire(OnRoleChange, Primary) // kills on_start (and its sleep)
	waitUntil(t, "on_role_change to run", func() bool { return len(readLines(t, dir+"/log")) == 3 })
	r.Fire(OnReload, Primary) // kills the first on_reload
	r.Fire(OnRoleChange, Primary)
	r.Fire(OnReload, Primary)
	// Kill the last ones too so Wait returns; nothing may have reached "end".
	r.mu.Lock()
	for _, c := range r.running {
		if c != nil {
			killGroup(c)
		}
	}
	r.mu.Unlock()
	r.Wait()
	if time.Since(began) > 20*time.Second {
		t.Fatalf("killed callbacks kept running")
	}
	for _, l := range readLines(t, dir+"/log") {
		if strings.HasPrefix(l, "end") {
			t.Fatalf("a callback that should have been killed finished: %q", readLines(t, dir+"/log"))
		}
	}
}

func TestFire_ACallbackPastItsTimeoutIsKilledWithItsChildren(t *testing.T) {
	dir := t.TempDir()
	s := script(t, `(sleep 30; echo child >> `+dir+`/log) & sleep 30; echo end >> `+dir+`/log`)
	r, err := New(Config{Scope: "s", Callbacks: map[string]string{"on_stop": s}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	r.Fire(OnStop, Primary)
	r.Wait()
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("Wait took %v with a 200ms timeout", d)
	}
	if l := readLines(t, dir+"/log"); len(l) != 0 {
		t.Fatalf("script or child survived the timeout: %q", l)
	}
}

func TestFire_AMissingScriptIsLoggedAndDoesNotBlock(t *testing.T) {
	r, err := New(Config{Scope: "s", Callbacks: map[string]string{"on_start": "/nonexistent/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { r.Fire(OnStart, Primary); r.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Fire blocked on a missing script")
	}
}

func TestPrePromote_ZeroExitAllowsNonZeroOrTimeoutVetoes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, body string
		veto       bool
	}{
		{"exit 0", "exit 0", false},
		{"exit 1", "exit 1", true},
		{"timeout", "sleep 30", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(Config{Scope: "s", PrePromote: script(t, tt.body), ScriptTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			err = r.PrePromote(ctx)
			if got := errors.Is(err, ErrVetoed); got != tt.veto {
				t.Fatalf("vetoed = %v (%v), want %v", got, err, tt.veto)
			}
			if time.Since(began) > 5*time.Second {
				t.Fatalf("PrePromote took %v", time.Since(began))
			}
		})
	}
	r, _ := New(Config{PrePromote: "/nonexistent/fence"})
	if err := r.PrePromote(ctx); !errors.Is(err, ErrVetoed) {
		t.Fatalf("a pre_promote that cannot start must veto, got %v", err)
	}
	r, _ = New(Config{})
	if err := r.PrePromote(ctx); err != nil || r.HasPrePromote() {
		t.Fatalf("no pre_promote: %v", err)
	}
}

func TestBeforeStop_RunsToItsEndAndAFailureIsOnlyLogged(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ran")
	r, err := New(Config{BeforeStop: script(t, "sleep 0.2; touch "+out+"; exit 3")})
	if err != nil {
		t.Fatal(err)
	}
	r.BeforeStop(context.Background())
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("before_stop did not run to its end before returning: %v", err)
	}
}

func TestNew_BadCommandLine_NamesTheKey(t *testing.T) {
	_, err := New(Config{Callbacks: map[string]string{"on_start": `/bin/cb "unterminated`}, PrePromote: `x'`})
	if err == nil || !strings.Contains(err.Error(), `postgresql.callbacks.on_start: cannot split`) ||
		!strings.Contains(err.Error(), "postgresql.pre_promote") {
		t.Fatalf("err = %v", err)
	}
}

func TestSplit_QuotesAndEscapes(t *testing.T) {
	got, err := split(`/bin/cb -x 'a b' "c \"d\"" e\ f`)
	if want := []string{"/bin/cb", "-x", "a b", `c "d"`, "e f"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("split = %q, %v", got, err)
	}
}
