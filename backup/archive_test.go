package backup

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// listRunner answers repo-ls by the listed path.
type listRunner struct {
	dirs  map[string]string
	calls []string
}

func (r *listRunner) Run(_ context.Context, _ []string, _ string, args ...string) ([]byte, []byte, error) {
	path := args[len(args)-1]
	r.calls = append(r.calls, strings.Join(args, " "))
	return []byte(r.dirs[path]), nil, nil
}

// Only the newest archive id counts (the database archive-push writes to),
// only the directories of the asked segments are listed, and each segment
// comes back with the checksum in its archived name, whatever the
// compression.
func TestArchivedSegments_CurrentArchiveIdAndChecksums(t *testing.T) {
	sum := func(c string) string { return strings.Repeat(c, 40) }
	r := &listRunner{dirs: map[string]string{
		"archive/s": "14-1\n15-2\narchive.info\narchive.info.copy\n",
		"archive/s/15-2/0000000100000000": "000000010000000000000003-" + sum("a") + ".gz\n" +
			"000000010000000000000004-" + sum("b") + "\n" +
			"000000010000000000000005.partial-" + sum("c") + ".gz\n" +
			"00000002.history\n",
		"archive/s/14-1/0000000100000000": "000000010000000000000006-" + sum("d") + ".gz\n",
	}}
	got, err := PgBackRest{Stanza: "s", Runner: r}.ArchivedSegments(context.Background(),
		[]string{"000000010000000000000003", "000000010000000000000004", "000000010000000000000005", "000000010000000000000006"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"000000010000000000000003": sum("a"), "000000010000000000000004": sum("b")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if len(r.calls) != 2 || r.calls[0] != "--stanza=s repo-ls archive/s" {
		t.Fatalf("calls %q", r.calls)
	}
	r.dirs = map[string]string{}
	if got, err := (PgBackRest{Stanza: "s", Runner: r}).ArchivedSegments(context.Background(), []string{"000000010000000000000003"}); err != nil || len(got) != 0 {
		t.Fatalf("empty repository: %v %v", got, err)
	}
}
