package logfile

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestModuleLevels_PerModuleLevelsInherited(t *testing.T) {
	var buf bytes.Buffer
	opts := &hclog.LoggerOptions{Name: "n1", Level: hclog.Info, JSONFormat: true, Output: &buf}
	ModuleLevels(opts, "n1", map[string]string{"raft": "WARNING", "pgctl.exec": "DEBUG", "ha": "ERROR", "n1": "ERROR", "urllib3": "ERROR"})
	root := hclog.New(opts)
	raft := root.Named("raft")
	raft.Info("raft info")              // below WARNING: dropped
	raft.Named("net").Warn("raft warn") // inherits WARNING
	root.Named("raftstore").Info("raftstore info")
	pg := root.Named("pgctl")
	pg.Debug("pgctl debug") // INFO: dropped
	pg.Named("exec").Debug("exec debug")
	root.Named("agent").Named("ha").With("k", 1).Warn("ha warn") // ERROR: dropped
	root.Debug("root debug")                                     // dropped
	root.With("k", 2).Info("root info")                          // "n1" is no module: INFO
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, m["@module"].(string)+": "+m["@message"].(string))
	}
	want := "n1.raft.net: raft warn|n1.raftstore: raftstore info|n1.pgctl.exec: exec debug|n1: root info"
	if strings.Join(got, "|") != want {
		t.Fatalf("lines %q\nwant %q", strings.Join(got, "|"), want)
	}
}
