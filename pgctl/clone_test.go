package pgctl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBasebackup_ArgvAndPgpass(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	fr.do = func(c call) ([]byte, error) {
		pgpass := i.Config().PgpassPath
		if want := []string{"PGPASSFILE=" + pgpass, "PGCONNECT_TIMEOUT=5"}; strings.Join(c.env, " ") != strings.Join(want, " ") {
			t.Errorf("env = %q, want %q", c.env, want)
		}
		got := readFile(t, pgpass)
		want := "*:*:*:repl:re\\:pl\\\\pw\n*:*:*:rewinder:rw\n*:*:*:postgres:su-secret\n"
		if got != want {
			t.Errorf("pgpass = %q, want %q", got, want)
		}
		if fi, _ := os.Stat(pgpass); fi.Mode().Perm() != 0o600 {
			t.Errorf("pgpass mode %v", fi.Mode())
		}
		makeValidDataDir(t, dir)
		return nil, nil
	}
	if err := i.Basebackup(ctxT(t), ConnInfo{Host: "10.0.0.2", Port: 5432}); err != nil {
		t.Fatal(err)
	}
	want := "pg_basebackup -D " + dir + " -X stream -c fast -w -d host=10.0.0.2 port=5432 user=repl application_name=n1"
	if got := fr.argvs(); len(got) != 1 || got[0] != want {
		t.Fatalf("argv = %q\nwant %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "standby.signal")); err != nil {
		t.Errorf("the clone is not marked a standby: %v", err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v", fi.Mode())
	}
}

func TestBasebackup_PasswordGoesToPgpassNotArgv(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	fr.do = func(c call) ([]byte, error) {
		if got := readFile(t, i.Config().PgpassPath); !strings.HasPrefix(got, "*:*:*:other:o'pw\n") {
			t.Errorf("pgpass = %q", got)
		}
		return nil, nil
	}
	_ = i.Basebackup(ctxT(t), ConnInfo{Host: "h", User: "other", Password: "o'pw"})
	if got := fr.argvs()[0]; strings.Contains(got, "pw") {
		t.Fatalf("password on argv: %q", got)
	}
}

func TestBasebackup_RefusesNonEmptyDir(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	if err := i.Basebackup(ctxT(t), ConnInfo{Host: "h"}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("err = %v, want ErrNotEmpty", err)
	}
	if len(fr.calls) != 0 || !exists(filepath.Join(dir, "PG_VERSION")) {
		t.Fatal("basebackup touched a non-empty dir")
	}
}

func TestBasebackup_FailureEmptiesOnlyWhatItCreated(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fr.do = func(c call) ([]byte, error) {
		makeValidDataDir(t, dir)
		return nil, errors.New("exit status 1")
	}
	if err := i.Basebackup(ctxT(t), ConnInfo{Host: "h"}); err == nil {
		t.Fatal("want error")
	}
	if st, _ := i.DataDirState(); st != DataDirEmpty {
		t.Fatalf("after failure state = %v, want empty (dir kept, contents removed)", st)
	}
}

func controlDataSample(t *testing.T, state string) []byte {
	b, err := os.ReadFile("testdata/pg_controldata_shutdown.txt")
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.Replace(string(b), "shut down", state, 1))
}

func TestRewind_CleanTarget(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	fr.do = func(c call) ([]byte, error) {
		if strings.HasSuffix(c.name, "pg_controldata") {
			return controlDataSample(t, StateShutDown), nil
		}
		return nil, nil
	}
	if err := i.Rewind(ctxT(t), ConnInfo{Host: "10.0.0.2", Port: 5432}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pg_controldata -D " + dir,
		"pg_rewind -D " + dir + " --source-server=host=10.0.0.2 port=5432 user=rewinder dbname=postgres application_name=n1",
	}
	if got := fr.argvs(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("argv = %q\nwant %q", got, want)
	}
	if env := strings.Join(fr.calls[1].env, " "); !strings.Contains(env, "PGPASSFILE=") {
		t.Errorf("pg_rewind env = %q", env)
	}
	if env := strings.Join(fr.calls[0].env, " "); env != "LC_ALL=C" {
		t.Errorf("pg_controldata env = %q", env)
	}
}

func TestRewind_UncleanTarget_MovesStandbySignalAsideAndRestoresIt(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	dir := i.Config().DataDir
	makeValidDataDir(t, dir)
	sig := filepath.Join(dir, "standby.signal")
	if err := os.WriteFile(sig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fr.do = func(c call) ([]byte, error) {
		if strings.HasSuffix(c.name, "pg_controldata") {
			return controlDataSample(t, StateInProduction), nil
		}
		if exists(sig) {
			t.Error("standby.signal present during pg_rewind's single-user recovery")
		}
		return nil, errors.New("exit status 1")
	}
	if err := i.Rewind(ctxT(t), ConnInfo{Host: "h"}); err == nil {
		t.Fatal("want error")
	}
	if !exists(sig) {
		t.Fatal("standby.signal not restored after failed rewind")
	}
}

func TestRewind_SourceLostMidRun_IsSourceUnreachable(t *testing.T) {
	for _, msg := range []string{
		"pg_rewind: error: could not fetch remote file \"base/5/1259\": server closed the connection unexpectedly",
		"pg_rewind: error: connection to server at \"h\" (10.0.0.2), port 5432 failed: Connection refused",
	} {
		i, fr := newTestInstance(t, nil)
		makeValidDataDir(t, i.Config().DataDir)
		fr.do = func(c call) ([]byte, error) {
			if strings.HasSuffix(c.name, "pg_controldata") {
				return controlDataSample(t, StateShutDown), nil
			}
			return nil, errors.New(msg)
		}
		if err := i.Rewind(ctxT(t), ConnInfo{Host: "h"}); !errors.Is(err, ErrSourceUnreachable) {
			t.Errorf("%s: err = %v, want ErrSourceUnreachable", msg, err)
		}
	}
}

func TestRewind_RefusesWhenRunning(t *testing.T) {
	i, fr := newTestInstance(t, nil)
	makeValidDataDir(t, i.Config().DataDir)
	fakePostmaster(t, i.Config().DataDir)
	if err := i.Rewind(ctxT(t), ConnInfo{Host: "h"}); !errors.Is(err, ErrAlreadyRunning) || len(fr.calls) != 0 {
		t.Fatalf("err = %v, calls %q", err, fr.argvs())
	}
}
