package ctl

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestResultTable_PythonSpellingsAndStatusMessage(t *testing.T) {
	r := &pgconn.Result{
		FieldDescriptions: []pgconn.FieldDescription{{Name: "ok", DataTypeOID: 16}, {Name: "n", DataTypeOID: 23}},
		Rows:              [][][]byte{{[]byte("t"), nil}, {[]byte("f"), []byte("2")}},
	}
	cols, rows := resultTable(r)
	var b strings.Builder
	writeQueryResult(&b, "tsv", "\t", cols, rows)
	if b.String() != "ok\tn\nTrue\tNone\nFalse\t2\n" {
		t.Fatalf("tsv %q", b.String())
	}
	cols, rows = resultTable(&pgconn.Result{CommandTag: pgconn.NewCommandTag("CREATE TABLE")})
	b.Reset()
	writeQueryResult(&b, "pretty", "\t", cols, rows)
	want := "+---------------+\n| statusmessage |\n+---------------+\n| CREATE TABLE  |\n+---------------+\n"
	if b.String() != want {
		t.Fatalf("pretty %q", b.String())
	}
}
