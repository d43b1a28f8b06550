package pgctl

import (
	"os"
	"strings"
	"testing"
)

func TestParseControlData_RealSample(t *testing.T) {
	b, err := os.ReadFile("testdata/pg_controldata_shutdown.txt")
	if err != nil {
		t.Fatal(err)
	}
	cd, err := parseControlData(b)
	if err != nil {
		t.Fatal(err)
	}
	if cd.SystemID != "7712611834677299674" || cd.ClusterState != StateShutDown || cd.Timeline != 1 ||
		cd.CheckpointLSN != 0x1500718 || cd.MinRecoveryEndLSN != 0 || cd.MinRecoveryEndTimeline != 0 ||
		cd.WALLogHints || cd.DataChecksums || !cd.CleanShutdown() {
		t.Fatalf("parsed %+v", cd)
	}
	if _, err := parseControlData([]byte(strings.Split(string(b), "Latest checkpoint location")[0])); err == nil {
		t.Fatal("truncated output accepted")
	}
	inProd, _ := parseControlData([]byte(strings.Replace(string(b), "shut down", StateInProduction, 1)))
	if inProd.CleanShutdown() {
		t.Fatal("in production counted as clean")
	}
}

func TestConnInfo_String_Quoting(t *testing.T) {
	for _, tc := range []struct {
		in   ConnInfo
		want string
	}{
		{ConnInfo{Host: "h", Port: 5432, User: "u"}, "host=h port=5432 user=u"},
		{ConnInfo{Host: "/run/pg", User: "u", Password: `a b'c\d`, AppName: "n1", DBName: "postgres"},
			`host=/run/pg user=u password='a b\'c\\d' dbname=postgres application_name=n1`},
		{ConnInfo{User: "x=y"}, `user='x=y'`},
		{ConnInfo{}, ""},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%+v: got %q want %q", tc.in, got, tc.want)
		}
	}
}

func TestLSN_ParseAndFormat(t *testing.T) {
	for s, n := range map[string]uint64{"0/0": 0, "0/1500718": 0x1500718, "16/B374D848": 0x16B374D848, "FFFFFFFF/FFFFFFFF": 1<<64 - 1} {
		got, err := ParseLSN(s)
		if err != nil || got != n {
			t.Errorf("ParseLSN(%q) = %x, %v", s, got, err)
		}
		if FormatLSN(n) != s {
			t.Errorf("FormatLSN(%x) = %s", n, FormatLSN(n))
		}
	}
	for _, bad := range []string{"", "12", "x/1", "1/100000000"} {
		if _, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) accepted", bad)
		}
	}
}

func TestSlotName_Sanitises(t *testing.T) {
	if got := SlotName("Node-1.dc"); got != "node_1_dc" {
		t.Fatal(got)
	}
	if got := SlotName(strings.Repeat("a", 70)); len(got) != 63 {
		t.Fatal(len(got))
	}
}

func TestRoleStatement_QuotesNameAndPassword(t *testing.T) {
	s, err := roleStatement(`we"ird`, false, []string{"LOGIN", "REPLICATION"}, `p'w\x`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `CREATE ROLE "we""ird" WITH LOGIN REPLICATION PASSWORD E'p''w\\x'`; s != want {
		t.Fatalf("got %s\nwant %s", s, want)
	}
	if s, _ := roleStatement("u", true, []string{"LOGIN"}, ""); s != `ALTER ROLE "u" WITH LOGIN` {
		t.Fatal(s)
	}
	if _, err := quoteLiteral("a\x00b"); err == nil {
		t.Fatal("NUL accepted")
	}
}

func TestRoleOptions_AllowListOnly(t *testing.T) {
	got, err := roleOptions([]string{"createrole", "CreateDB", "connection limit 5"})
	if err != nil || strings.Join(got, " ") != "LOGIN CREATEROLE CREATEDB CONNECTION LIMIT 5" {
		t.Fatalf("%q %v", got, err)
	}
	if got, _ := roleOptions([]string{"nologin"}); strings.Join(got, " ") != "NOLOGIN" {
		t.Fatalf("%q", got)
	}
	for _, bad := range []string{"SUPERUSER; DROP TABLE x", "PASSWORD 'x'", "VALID UNTIL 'x'"} {
		if _, err := roleOptions([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTail_KeepsLastLines(t *testing.T) {
	var b strings.Builder
	for k := 0; k < 30; k++ {
		b.WriteString("line" + string(rune('a'+k%26)) + "\n\n")
	}
	got := strings.Split(tail([]byte(b.String()), 20), " | ")
	if len(got) != 20 || got[19] != "lined" {
		t.Fatalf("%q", got)
	}
}
