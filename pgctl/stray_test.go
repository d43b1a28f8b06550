package pgctl

import "testing"

func TestStartsPostmaster_MatchesOnlyThisDataDirectorysPostmaster(t *testing.T) {
	dir := "/var/lib/pg/data"
	cases := []struct {
		name string
		argv []string
		want bool
	}{
		{"Postmaster", []string{"/usr/lib/postgresql/15/bin/postgres", "-D", dir, "-c", "config_file=x"}, true},
		{"PostmasterTrailingSlash", []string{"postgres", "-D", dir + "/"}, true},
		{"PgCtlShellWrapper", []string{"/bin/sh", "-c", `exec "/usr/lib/postgresql/15/bin/postgres" -D "` + dir + `" < "/dev/null" >> "log" 2>&1`}, true},
		{"PgCtlStartChildBeforeExec", []string{"/usr/lib/postgresql/15/bin/pg_ctl", "start", "-w", "-t", "60", "-D", dir, "-l", "log"}, true},
		{"PgCtlStop", []string{"pg_ctl", "stop", "-D", dir, "-m", "immediate"}, false},
		{"OtherDataDirectory", []string{"postgres", "-D", dir + "2"}, false},
		{"OtherDataDirectoryWrapper", []string{"sh", "-c", `exec "postgres" -D "` + dir + `2" < "/dev/null"`}, false},
		{"Backend", []string{"postgres: checkpointer "}, false},
		{"Basebackup", []string{"pg_basebackup", "-D", dir}, false},
		{"Empty", nil, false},
	}
	for _, tc := range cases {
		if got := startsPostmaster(tc.argv, dir); got != tc.want {
			t.Errorf("%s: startsPostmaster(%q) = %v, want %v", tc.name, tc.argv, got, tc.want)
		}
	}
}
