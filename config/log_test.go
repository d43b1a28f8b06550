package config

import (
	"strings"
	"testing"
)

func TestParse_LogDateformatAndLoggers(t *testing.T) {
	c, err := ParseWithEnv([]byte(minimal+`log:
  dateformat: '%d/%m/%Y %H:%M:%S'
  loggers:
    raft: warning
    pgctl.exec: DEBUG
    urllib3: WARN
`), "conclave.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.DateFormat != "%d/%m/%Y %H:%M:%S" {
		t.Errorf("dateformat %q", c.Log.DateFormat)
	}
	if got := c.Log.Loggers; got["raft"] != "WARNING" || got["pgctl.exec"] != "DEBUG" || got["urllib3"] != "WARNING" {
		t.Errorf("loggers %v", got)
	}
	// A Python logger of Patroni's files is accepted and named as doing nothing.
	if got := c.UnusedLine(); got != "accepted, not acted on: log.loggers.urllib3" {
		t.Errorf("UnusedLine %q", got)
	}
	if u := c.Unused[0]; u.Where != "conclave.yml:20" || !strings.Contains(u.Why, "raft") {
		t.Errorf("unused %+v", u)
	}
}

func TestParse_LogDateformatAndLoggers_BadValues(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown directive", "log:\n  dateformat: '%Y-%Q'\n", `conclave.yml:16: key "log.dateformat": unknown directive %Q`},
		{"lone percent", "log:\n  dateformat: '%H:%'\n", `conclave.yml:16: key "log.dateformat": "%H:%" ends with a lone %`},
		{"empty", "log:\n  dateformat: ''\n", `conclave.yml:16: key "log.dateformat": empty date format`},
		{"bad level", "log:\n  loggers:\n    raft: LOUD\n", `conclave.yml:17: key "log.loggers.raft": must be one of DEBUG`},
		{"not a map", "log:\n  loggers: [raft]\n", `conclave.yml:16: key "log.loggers": must be a map of module names to levels`},
		{"level not a name", "log:\n  loggers:\n    ha: [DEBUG]\n", `key "log.loggers.ha": must be a level name`},
	} {
		_, err := ParseWithEnv([]byte(minimal+tc.yaml), "conclave.yml", nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestParse_LogDateformatFromTheEnvironment(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "PATRONI_LOG_DATEFORMAT" {
				return v
			}
			return ""
		}
	}
	c, err := ParseWithEnv([]byte(minimal), "conclave.yml", env("%H:%M"))
	if err != nil || c.Log.DateFormat != "%H:%M" {
		t.Fatalf("dateformat %q, %v", c.Log.DateFormat, err)
	}
	if _, err := ParseWithEnv([]byte(minimal), "conclave.yml", env("%Q")); err == nil ||
		!strings.Contains(err.Error(), "PATRONI_LOG_DATEFORMAT") || !strings.Contains(err.Error(), `"log.dateformat"`) {
		t.Fatalf("bad dateformat from the environment: %v", err)
	}
}
