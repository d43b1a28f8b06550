package main

import (
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/ctl"
)

func TestDSN_LeaderByDefaultRoleAndMember(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	a := newFakeAgent(t, "", fakeCluster)
	conf := writeConf(t, a.addr())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"dsn"}, "host=127.0.0.1 port=5432\n"},
		{[]string{"dsn", "demo", "-r", "replica"}, "host=127.0.0.2 port=5432\n"},
		{[]string{"dsn", "-m", "node2"}, "host=127.0.0.2 port=5432\n"},
		{[]string{"dsn", "--multi-host"}, "host=127.0.0.1,127.0.0.2 port=5432,5432 target_session_attrs=read-write\n"},
		{[]string{"dsn", "--multi-host", "-r", "replica"}, "host=127.0.0.1,127.0.0.2 port=5432,5432 target_session_attrs=standby\n"},
	} {
		out, _, err := runCLI(t, "", append([]string{"-c", conf}, c.args...)...)
		if err != nil || out != c.want {
			t.Errorf("%v: %q, %v; want %q", c.args, out, err, c.want)
		}
	}
	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{"dsn", "-m", "node2", "-r", "any"}, "mutually exclusive"},
		{[]string{"dsn", "-m", "node9"}, `no member "node9"`},
		{[]string{"dsn", "-r", "boss"}, "--role must be one of"},
		{[]string{"dsn", "--multi-host", "-m", "node1"}, "cannot be combined"},
		{[]string{"dsn", "other"}, `unexpected argument "other"`},
	} {
		_, _, err := runCLI(t, "", append([]string{"-c", conf}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args, err, c.mention)
		}
	}
}

func TestVersion_AloneAndPerMember(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	out, _, err := runCLI(t, "", "version")
	if err != nil || out != "conclave version "+buildVersion+"\n" {
		t.Fatalf("%q %v", out, err)
	}
	a := newFakeAgent(t, "", strings.ReplaceAll(fakeCluster, "DEAD", deadAddr(t)))
	out, _, err = runCLI(t, "", "-c", writeConf(t, a.addr()), "version", "demo")
	// The fake agent answers /patroni with 404: the member line says it failed.
	if err != nil || !strings.HasPrefix(out, "conclave version "+buildVersion+"\n\nnode1: failed to get version: ") || !strings.Contains(out, "\nnode2: failed to get version: ") {
		t.Fatalf("%q %v", out, err)
	}
	if _, _, err := runCLI(t, "", "-c", writeConf(t, a.addr()), "version", "node7"); err == nil || !strings.Contains(err.Error(), "no member node7") {
		t.Fatalf("error %v", err)
	}
}

func TestQuery_UsageErrors(t *testing.T) {
	t.Setenv("CONCLAVE_CACHE_DIR", t.TempDir())
	conf := writeConf(t, deadAddr(t))
	for _, c := range []struct {
		args    []string
		mention string
	}{
		{[]string{"query"}, "either --command or --file"},
		{[]string{"query", "-c", "select 1", "-f", "x.sql"}, "mutually exclusive"},
		{[]string{"query", "-c", "select 1", "--format", "xml"}, "--format must be"},
	} {
		_, _, err := runCLI(t, "", append([]string{"--config", conf}, c.args...)...)
		var u ctl.UsageError
		if err == nil || !strings.Contains(err.Error(), c.mention) || !asUsage(err, &u) {
			t.Errorf("%v: error %v, want a usage error mentioning %q", c.args, err, c.mention)
		}
	}
}
