package backup

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestReplicaArgs_PatroniOrder_NoParamsKeepsOptions(t *testing.T) {
	opts := []MethodOption{{"process-max", "2"}}
	got := ReplicaArgs("s", "/d", "host=h port=1", false, opts)
	want := []string{"--scope=s", "--role=replica", "--datadir=/d", "--connstring=host=h port=1", "--process-max=2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	if got := ReplicaArgs("s", "/d", "c", true, opts); !reflect.DeepEqual(got, []string{"--process-max=2"}) {
		t.Fatalf("no_params: got %q", got)
	}
	if got := BootstrapArgs("s", "/d", false, nil); !reflect.DeepEqual(got, []string{"--scope=s", "--datadir=/d"}) {
		t.Fatalf("bootstrap: got %q", got)
	}
}

func TestShell_QuotedCommandAndArgumentsWithSpaces(t *testing.T) {
	name, argv := Shell(`printf '%s|' "a b"`, []string{"--connstring=host=h port=1"})
	out, err := exec.Command(name, argv...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "a b|--connstring=host=h port=1|" {
		t.Fatalf("got %q", out)
	}
}

func TestNodeEnv_PointsPgBackRestAtTheNode(t *testing.T) {
	got := Node{DataDir: "/d", Port: 5433, SocketDir: "/s", ConfigFile: "/c"}.Env()
	want := []string{"PGBACKREST_PG1_PATH=/d", "PGBACKREST_PG1_PORT=5433", "PGBACKREST_PG1_SOCKET_PATH=/s", "PGBACKREST_CONFIG=/c"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
}

type fakeRunner struct {
	argv   []string
	out    string
	stderr string
	err    error
}

func (f *fakeRunner) Run(_ context.Context, _ []string, name string, args ...string) ([]byte, []byte, error) {
	f.argv = append([]string{name}, args...)
	return []byte(f.out), []byte(f.stderr), f.err
}

func TestCheck_RepositoryMissing_ErrRepoUnreachable(t *testing.T) {
	r := &fakeRunner{stderr: "ERROR: [055]: unable to open missing file '/repo/archive/s/archive.info' for read", err: errors.New("exit status 55")}
	err := PgBackRest{Stanza: "s", Runner: r}.Check(context.Background())
	if !errors.Is(err, ErrRepoUnreachable) || !strings.Contains(err.Error(), "stanza s") {
		t.Fatalf("got %v", err)
	}
	if strings.Join(r.argv, " ") != "pgbackrest --stanza=s check" {
		t.Fatalf("argv %q", r.argv)
	}
}

func TestList_ParsesInfoJSON(t *testing.T) {
	r := &fakeRunner{out: `[{"name":"s","status":{"code":0,"message":"ok"},"backup":[{"label":"20261201-030000F","type":"full",
	"archive":{"start":"000000010000000000000004","stop":"000000010000000000000004"},
	"info":{"size":100,"repository":{"size":40}},"timestamp":{"start":1764558000,"stop":1764558010}}]}]`}
	got, err := PgBackRest{Stanza: "s", Runner: r}.List(context.Background())
	if err != nil || len(got) != 1 || got[0].Label != "20261201-030000F" || got[0].Stop.Unix() != 1764558010 || got[0].RepoBytes != 40 {
		t.Fatalf("got %+v, %v", got, err)
	}
	r.out = `[{"name":"s","status":{"code":2,"message":"no valid backups"},"backup":[]}]`
	if got, err := (PgBackRest{Stanza: "s", Runner: r}).List(context.Background()); err != nil || len(got) != 0 {
		t.Fatalf("no backups: %+v, %v", got, err)
	}
}

// A failure that is not the repository's names the verb and carries
// pgBackRest's own error, on one line (stanza-create's "do not match" is
// how the agent tells another database's stanza apart).
func TestRun_OtherFailure_CarriesPgBackRestsErrorOnOneLine(t *testing.T) {
	r := &fakeRunner{stderr: "ERROR: [028]: backup and archive info files exist but do not match the database\nHINT: is this the correct stanza?\n", err: errors.New("exit status 28")}
	err := PgBackRest{Stanza: "s", Runner: r}.StanzaCreate(context.Background())
	want := "pgbackrest stanza-create (stanza s): exit status 28: ERROR: [028]: backup and archive info files exist but do not match the database | HINT: is this the correct stanza?"
	if err == nil || err.Error() != want || errors.Is(err, ErrRepoUnreachable) {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}
