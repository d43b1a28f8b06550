package pgctl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInitdb_RunsInitdbWithPwfileAndRenamesConf(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	var pwfile string
	fr.do = func(c call) ([]byte, error) {
		for _, a := range c.args {
			if p, ok := strings.CutPrefix(a, "--pwfile="); ok {
				pwfile = p
				if got := readFile(t, p); got != "su-secret\n" {
					t.Errorf("pwfile = %q", got)
				}
			}
		}
		makeValidDataDir(t, dir)
		return nil, nil
	}
	if err := i.Initdb(ctxT(t), []string{"--encoding=UTF8", "--data-checksums"}); err != nil {
		t.Fatal(err)
	}
	want := "initdb -D " + dir + " -U postgres --pwfile=" + pwfile +
		" --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --data-checksums"
	if got := fr.argvs(); len(got) != 1 || got[0] != want {
		t.Fatalf("argv = %q\nwant %q", got, want)
	}
	if fr.calls[0].name != "/pg/bin/initdb" {
		t.Errorf("binary = %s", fr.calls[0].name)
	}
	if exists(pwfile) {
		t.Error("pwfile not removed")
	}
	if exists(filepath.Join(dir, "postgresql.conf")) || !exists(filepath.Join(dir, "postgresql.base.conf")) {
		t.Error("postgresql.conf not renamed to postgresql.base.conf")
	}
}

func TestInitdb_CallerAuthFlagsReplaceDefaults(t *testing.T) {
	i, fr := newTestInstance(t, func(c *Config) { c.Superuser.Password = "" })
	fr.do = func(c call) ([]byte, error) { makeValidDataDir(t, i.Config().DataDir); return nil, nil }
	if err := i.Initdb(ctxT(t), []string{"--auth=trust"}); err != nil {
		t.Fatal(err)
	}
	want := "initdb -D " + i.Config().DataDir + " -U postgres --auth=trust"
	if got := fr.argvs()[0]; got != want {
		t.Fatalf("argv = %q, want %q", got, want)
	}
}

func TestInitdb_RefusesNonEmptyDirAndCleansUpOnFailure(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	fr.do = func(c call) ([]byte, error) {
		_ = os.MkdirAll(filepath.Join(dir, "base"), 0o700)
		return nil, errors.New("exit status 1")
	}
	if err := i.Initdb(ctxT(t), nil); err == nil {
		t.Fatal("want error")
	}
	if exists(dir) {
		t.Error("failed initdb left the data dir it created")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n := len(fr.calls)
	if err := i.Initdb(ctxT(t), nil); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("err = %v, want ErrNotEmpty", err)
	}
	if len(fr.calls) != n || !exists(filepath.Join(dir, "keep")) {
		t.Error("initdb ran over a non-empty dir")
	}
}

func TestStart_RunsDetachedPgCtlStart(t *testing.T) {
	i, fr := newTestInstance(t, func(c *Config) { c.StartTimeout = 1500 * time.Millisecond })
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	if err := i.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	want := "pg_ctl start -w -t 2 -D " + dir + " -l " + filepath.Join(filepath.Dir(dir), "postgresql-n1.log")
	if got := fr.argvs(); len(got) != 1 || got[0] != want {
		t.Fatalf("argv = %q, want %q", got, want)
	}
}

func TestStart_RefusesWhenPostmasterAlive(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	pid, kill := fakePostmaster(t, dir)
	if got, alive := i.PostmasterPID(); got != pid || !alive {
		t.Fatalf("PostmasterPID = %d,%v want %d,true", got, alive, pid)
	}
	if err := i.Start(ctxT(t)); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("err = %v, want ErrAlreadyRunning", err)
	}
	if len(fr.calls) != 0 {
		t.Fatalf("ran %q", fr.argvs())
	}
	kill()
	_ = os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte("999999\n"), 0o600)
	if _, alive := i.PostmasterPID(); alive {
		t.Fatal("stale pid reported alive")
	}
	if err := i.Start(ctxT(t)); err != nil {
		t.Fatalf("start with stale pid file: %v", err)
	}
}

func TestStopEscalating_FastTimesOut_ThenImmediate_WaitsForPID(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	pid, kill := fakePostmaster(t, dir)
	fr.do = func(c call) ([]byte, error) {
		if strings.Contains(c.argv(), "-m fast") {
			return nil, errors.New("exit status 1: server does not shut down")
		}
		kill()
		return nil, nil
	}
	if err := i.StopEscalating(ctxT(t), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pg_ctl stop -D " + dir + " -m fast -w -t 3",
		"pg_ctl stop -D " + dir + " -m immediate -w -t 3",
	}
	if got := fr.argvs(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("argv = %q\nwant %q", got, want)
	}
	if processGone(pid, dir) == "" {
		t.Fatal("postmaster still alive after StopEscalating")
	}
	if err := i.Stop(ctxT(t), StopOptions{}); err != nil || len(fr.calls) != 2 {
		t.Fatalf("stop of a stopped instance: err %v, calls %q", err, fr.argvs())
	}
}

func TestPromote_WaitsForEndOfRecoveryThenCheckpoints(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	fakePostmaster(t, dir)
	fc := &fakeConn{rows: map[string][]func(...any) error{
		qInRecovery: {boolRow(true), boolRow(true), boolRow(false)},
	}}
	i.dial = func(context.Context) (sqlConn, error) { return fc, nil }
	if err := i.Promote(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := fr.argvs(); len(got) != 1 || got[0] != "pg_ctl promote -w -t 60 -D "+dir {
		t.Fatalf("argv = %q", got)
	}
	if len(fc.rows[qInRecovery]) != 1 {
		t.Error("did not poll until pg_is_in_recovery() was false")
	}
	if len(fc.execs) != 1 || fc.execs[0] != qCheckpoint {
		t.Fatalf("execs = %q, want CHECKPOINT", fc.execs)
	}
}

func TestPromote_NotRunning(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	makeValidDataDir(t, i.Config().DataDir)
	if err := i.Promote(ctxT(t)); !errors.Is(err, ErrNotRunning) || len(fr.calls) != 0 {
		t.Fatalf("err = %v calls %q", err, fr.argvs())
	}
	if err := i.Reload(ctxT(t)); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("reload err = %v", err)
	}
}
