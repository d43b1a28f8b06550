package adapter

import (
	"reflect"
	"testing"

	"github.com/conclave-ha/conclave/config"
	"github.com/conclave-ha/conclave/fsm"
)

func TestSyncNames_RenderedListIsParsedBack(t *testing.T) {
	cases := []struct {
		names []string
		any   bool
		text  string
	}{
		{nil, false, ""},
		{nil, true, "*"},
		{[]string{"node2"}, false, `1 ("node2")`},
		{[]string{"a", `we"ird`}, false, `2 ("a", "we""ird")`},
	}
	for _, c := range cases {
		if got := renderSyncNames(c.names, c.any); got != c.text {
			t.Errorf("render(%v, %v) = %q, want %q", c.names, c.any, got, c.text)
		}
		names, any := parseSyncNames(c.text)
		if !reflect.DeepEqual(names, c.names) || any != c.any {
			t.Errorf("parse(%q) = %v, %v; want %v, %v", c.text, names, any, c.names, c.any)
		}
	}
	for text, want := range map[string][]string{"node2": {"node2"}, "FIRST 1 (b, a)": {"a", "b"}, "ANY 2 (x,y)": {"x", "y"}} {
		if got, _ := parseSyncNames(text); !reflect.DeepEqual(got, want) {
			t.Errorf("parse(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestServerConfig_MaxSlotWALKeepSize_BoundedUnlessTheUserSetsIt(t *testing.T) {
	dyn := fsm.DefaultDynamicConfig()
	p := &Postgres{dynamic: func() fsm.DynamicConfig { return dyn }}
	cfg := &config.Config{}
	if got := p.serverConfig(cfg, nil).Parameters["max_slot_wal_keep_size"]; got != DefaultMaxSlotWALKeepSize {
		t.Fatalf("max_slot_wal_keep_size %v, want the bounded default %s", got, DefaultMaxSlotWALKeepSize)
	}
	dyn.Parameters = map[string]any{"max_slot_wal_keep_size": "-1"}
	if got := p.serverConfig(cfg, nil).Parameters["max_slot_wal_keep_size"]; got != "-1" {
		t.Fatalf("dynamic max_slot_wal_keep_size -1 became %v", got)
	}
	cfg.PostgreSQL.Parameters = map[string]any{"max_slot_wal_keep_size": "10GB"}
	if got := p.serverConfig(cfg, nil).Parameters["max_slot_wal_keep_size"]; got != "10GB" {
		t.Fatalf("local max_slot_wal_keep_size 10GB became %v", got)
	}
}
