package config

import (
	"reflect"
	"testing"
)

func TestParse_YAML11Booleans_ReadAsPyYAMLReadsThem(t *testing.T) {
	data := replace(t, "  data_dir: /tmp/data\n", "  data_dir: /tmp/data\n  use_pg_rewind: NO\n  use_unix_socket: True\n")
	data += `tags:
  nofailover: yes
  noloadbalance: On
  nosync: TRUE
  clonefrom: off
bootstrap:
  dcs:
    synchronous_mode: on
    failsafe_mode: Yes
    postgresql:
      use_slots: off
      parameters:
        hot_standby: on
`
	c, err := ParseWithEnv([]byte(data), "conclave.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Tags.NoFailover || !c.Tags.NoLoadBalance || !c.Tags.NoSync || c.Tags.CloneFrom {
		t.Errorf("tags %+v", c.Tags)
	}
	if c.PostgreSQL.UsePgRewind == nil || *c.PostgreSQL.UsePgRewind || !c.PostgreSQL.UseUnixSocket {
		t.Errorf("postgresql use_pg_rewind %v use_unix_socket %v", c.PostgreSQL.UsePgRewind, c.PostgreSQL.UseUnixSocket)
	}
	dcs := c.Bootstrap.DCS
	if dcs["synchronous_mode"] != true || dcs["failsafe_mode"] != true {
		t.Errorf("dcs %v", dcs)
	}
	pg := dcs["postgresql"].(map[string]any)
	if pg["use_slots"] != false || pg["parameters"].(map[string]any)["hot_standby"] != true {
		t.Errorf("dcs.postgresql %v", pg)
	}
	dyn, err := c.Dynamic()
	if err != nil || !dyn.SynchronousMode || dyn.UseSlots {
		t.Errorf("typed dynamic configuration %+v, %v", dyn, err)
	}
}

func TestUnmarshalYAML11_ValuesAndEmptyDocument(t *testing.T) {
	for _, c := range []struct {
		in   string
		want any
	}{
		// As Python 3's yaml.safe_load reads them (printed by PyYAML 6).
		{"on", true}, {"OFF", false}, {"NO", false}, {"True", true}, {"tRUE", "tRUE"}, {"Off", false},
		{"'on'", "on"}, {"y", "y"}, {"n", "n"}, {"20", 20}, {"", nil}, {"null", nil},
		{"{a: yes, b: [no, 'no']}", map[string]any{"a": true, "b": []any{false, "no"}}},
	} {
		got, err := UnmarshalYAML11([]byte(c.in))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("UnmarshalYAML11(%q) = %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
	if _, err := UnmarshalYAML11([]byte("a: [")); err == nil {
		t.Error("bad YAML accepted")
	}
}
