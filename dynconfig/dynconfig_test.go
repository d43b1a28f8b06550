package dynconfig

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDynamicConfig_EmptyOrNil_GivesDefaults(t *testing.T) {
	for _, raw := range []map[string]any{nil, {}} {
		got, err := ParseDynamicConfig(raw)
		if err != nil {
			t.Fatalf("ParseDynamicConfig(%v): %v", raw, err)
		}
		if !reflect.DeepEqual(got, DefaultDynamicConfig()) {
			t.Fatalf("got %+v, want defaults %+v", got, DefaultDynamicConfig())
		}
		if err := ValidateDynamicConfig(raw); err != nil {
			t.Fatalf("ValidateDynamicConfig(%v): %v", raw, err)
		}
	}
	d := DefaultDynamicConfig()
	if d.TTL != 3 || d.LoopWait != 1 || d.RetryTimeout != 1 || d.MaximumLagOnFailover != 1048576 ||
		d.PrimaryStartTimeout != 300 || d.SynchronousNodeCount != 1 || !d.UseSlots || d.UsePgRewind ||
		d.CheckTimeline || d.MaxTimelinesHistory != 0 || d.PrimaryStopTimeout != 0 {
		t.Fatalf("unexpected defaults %+v", d)
	}
}

func TestDynamicConfig_PatroniDocument_ParsesAllKeys(t *testing.T) {
	var raw map[string]any
	doc := `{"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "maximum_lag_on_failover": 5000000000,
	  "master_start_timeout": 100, "primary_stop_timeout": 7, "synchronous_mode": true,
	  "synchronous_mode_strict": true, "synchronous_node_count": 2, "failsafe_mode": true, "pause": true,
	  "check_timeline": true, "max_timelines_history": 5, "member_slots_ttl": "30min",
	  "standby_cluster": {"host": "10.0.0.1", "port": 5432},
	  "postgresql": {"use_pg_rewind": true, "use_slots": false, "parameters": {"max_connections": 50,
	    "shared_buffers": "32MB", "hot_standby": true, "random_page_cost": 1.1},
	    "pg_hba": ["local all all trust"], "recovery_conf": {"restore_command": "cp %p %f"},
	    "remove_data_directory_on_rewind_failure": true},
	  "slots": {"keep": {"type": "physical"}, "cdc": {"database": "app", "plugin": "pgoutput"}, "bare": null},
	  "ignore_slots": [{"name": "ext", "type": "logical"}]}`
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		t.Fatal(err)
	}
	c, err := ParseDynamicConfig(raw)
	if err != nil {
		t.Fatalf("ParseDynamicConfig: %v", err)
	}
	if c.TTL != 30 || c.LoopWait != 10 || c.RetryTimeout != 10 || c.MaximumLagOnFailover != 5000000000 ||
		c.PrimaryStartTimeout != 100 || c.PrimaryStopTimeout != 7 || !c.SynchronousMode ||
		!c.SynchronousModeStrict || c.SynchronousNodeCount != 2 || !c.FailsafeMode || !c.Pause ||
		!c.CheckTimeline || c.MaxTimelinesHistory != 5 || !c.UsePgRewind || c.UseSlots ||
		!c.RemoveDataDirectoryOnRewindFailure {
		t.Fatalf("unexpected %+v", c)
	}
	if c.Parameters["shared_buffers"] != "32MB" || c.Parameters["max_connections"] != float64(50) {
		t.Fatalf("parameters %v", c.Parameters)
	}
	wantSlots := map[string]Slot{
		"keep": {Type: "physical"}, "bare": {Type: "physical"},
		"cdc": {Type: "logical", Database: "app", Plugin: "pgoutput"},
	}
	if !reflect.DeepEqual(c.Slots, wantSlots) {
		t.Fatalf("slots %+v", c.Slots)
	}
	if len(c.PgHBA) != 1 || c.RecoveryConf["restore_command"] != "cp %p %f" ||
		c.StandbyCluster["host"] != "10.0.0.1" || len(c.IgnoreSlots) != 1 {
		t.Fatalf("unexpected %+v", c)
	}
}

func TestDynamicConfig_MemberSlotsTTL_UnitsAsPatroniReadsThem(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want time.Duration
	}{
		{"15s", 15 * time.Second}, {"30min", 30 * time.Minute}, {"2h", 2 * time.Hour}, {"1d", 24 * time.Hour},
		{"1500ms", 1500 * time.Millisecond}, {"45", 45 * time.Second}, {" 10 s ", 10 * time.Second},
		{float64(20), 20 * time.Second}, {0, 0}, {"0", 0},
	} {
		c, err := ParseDynamicConfig(map[string]any{"member_slots_ttl": tc.v})
		if err != nil || c.MemberSlotsTTL != tc.want {
			t.Errorf("member_slots_ttl %#v: got %v, %v; want %v", tc.v, c.MemberSlotsTTL, err, tc.want)
		}
	}
	if d := DefaultDynamicConfig().MemberSlotsTTL; d != 30*time.Minute {
		t.Errorf("default member_slots_ttl %v, want 30m (Patroni 4)", d)
	}
}

func TestDynamicConfig_PrimaryStartTimeout_WinsOverMasterName(t *testing.T) {
	c, err := ParseDynamicConfig(map[string]any{"master_start_timeout": 10, "primary_start_timeout": 20})
	if err != nil || c.PrimaryStartTimeout != 20 {
		t.Fatalf("got %d, %v", c.PrimaryStartTimeout, err)
	}
	c, err = ParseDynamicConfig(map[string]any{"master_stop_timeout": 10, "primary_stop_timeout": 0})
	if err != nil || c.PrimaryStopTimeout != 0 {
		t.Fatalf("got %d, %v", c.PrimaryStopTimeout, err)
	}
}

func TestDynamicConfig_AcceptsEveryIntegerRepresentation(t *testing.T) {
	for _, v := range []any{5, int8(5), int16(5), int32(5), int64(5), uint(5), uint8(5), uint16(5), uint32(5),
		uint64(5), float32(5), float64(5), json.Number("5"), json.Number("5.0")} {
		c, err := ParseDynamicConfig(map[string]any{"ttl": v})
		if err != nil || c.TTL != 5 {
			t.Errorf("ttl %T(%v): got %d, %v", v, v, c.TTL, err)
		}
	}
}

func TestDynamicConfig_Rules_RejectBadValues(t *testing.T) {
	tests := []struct {
		name string
		raw  map[string]any
		want string // substring of the error
	}{
		{"loop_wait string", map[string]any{"loop_wait": "abc"}, `dcs key "loop_wait": must be an integer >= 1, got "abc"`},
		{"numeric string", map[string]any{"ttl": "30"}, `dcs key "ttl": must be an integer >= 2, got "30"`},
		{"fractional float", map[string]any{"ttl": 30.5}, `dcs key "ttl": must be an integer >= 2, got 30.5`},
		{"bool as int", map[string]any{"ttl": true}, `dcs key "ttl": must be an integer >= 2, got true`},
		{"ttl too small", map[string]any{"ttl": 1}, `dcs key "ttl": must be an integer >= 2`},
		{"loop_wait zero", map[string]any{"loop_wait": 0}, `dcs key "loop_wait": must be an integer >= 1`},
		{"retry_timeout zero", map[string]any{"retry_timeout": 0}, `dcs key "retry_timeout": must be an integer >= 1`},
		{"ttl rule", map[string]any{"ttl": 20, "loop_wait": 10, "retry_timeout": 10},
			`dcs key "ttl": loop_wait (10) + 2*retry_timeout (10) = 30 exceeds ttl (20)`},
		{"ttl rule with defaults", map[string]any{"ttl": 2}, `loop_wait (1) + 2*retry_timeout (1) = 3 exceeds ttl (2)`},
		{"negative lag", map[string]any{"maximum_lag_on_failover": -1}, `dcs key "maximum_lag_on_failover": must be an integer >= 0`},
		{"sync count zero", map[string]any{"synchronous_node_count": 0}, `dcs key "synchronous_node_count": must be an integer >= 1`},
		{"negative start timeout", map[string]any{"master_start_timeout": -5}, `dcs key "master_start_timeout": must be an integer >= 0`},
		{"negative primary start", map[string]any{"primary_start_timeout": -1}, `dcs key "primary_start_timeout"`},
		{"negative stop timeout", map[string]any{"primary_stop_timeout": -1}, `dcs key "primary_stop_timeout"`},
		{"negative master stop", map[string]any{"master_stop_timeout": -1}, `dcs key "master_stop_timeout"`},
		{"negative history", map[string]any{"max_timelines_history": -1}, `dcs key "max_timelines_history"`},
		{"int32 overflow", map[string]any{"ttl": int64(1) << 31}, `dcs key "ttl": must be an integer >= 2 and <= 2147483647, got 2147483648`},
		{"uint64 overflow", map[string]any{"maximum_lag_on_failover": uint64(1) << 63}, `dcs key "maximum_lag_on_failover": must be an integer`},
		{"float overflow", map[string]any{"loop_wait": 1e30}, `dcs key "loop_wait": must be an integer`},
		{"bool yes", map[string]any{"synchronous_mode": "yes"}, `dcs key "synchronous_mode": must be true or false, got "yes"`},
		{"quorum", map[string]any{"synchronous_mode": "quorum"}, `dcs key "synchronous_mode": "quorum" (Patroni 4 quorum commit) is not supported; use true or false`},
		{"pause int", map[string]any{"pause": 1}, `dcs key "pause": must be true or false, got 1`},
		{"failsafe", map[string]any{"failsafe_mode": "true"}, `dcs key "failsafe_mode"`},
		{"strict", map[string]any{"synchronous_mode_strict": nil}, `dcs key "synchronous_mode_strict": must be true or false, got null`},
		{"check_timeline", map[string]any{"check_timeline": "no"}, `dcs key "check_timeline"`},
		{"typo", map[string]any{"synchronus_mode": true}, `unknown dcs key "synchronus_mode" (did you mean "synchronous_mode"?)`},
		{"unknown far", map[string]any{"banana": 1}, `unknown dcs key "banana"`},
		{"postgresql not map", map[string]any{"postgresql": "x"}, `dcs key "postgresql": must be a map, got "x"`},
		{"pg unknown", map[string]any{"postgresql": map[string]any{"use_slot": true}}, `unknown dcs key "postgresql.use_slot" (did you mean "use_slots"?)`},
		{"use_slots string", map[string]any{"postgresql": map[string]any{"use_slots": "false"}}, `dcs key "postgresql.use_slots": must be true or false, got "false"`},
		{"use_pg_rewind int", map[string]any{"postgresql": map[string]any{"use_pg_rewind": 1}}, `dcs key "postgresql.use_pg_rewind"`},
		{"remove dir", map[string]any{"postgresql": map[string]any{"remove_data_directory_on_diverged_timelines": "x"}}, `dcs key "postgresql.remove_data_directory_on_diverged_timelines"`},
		{"parameters list", map[string]any{"postgresql": map[string]any{"parameters": []any{"a"}}}, `dcs key "postgresql.parameters": must be a map, got a list`},
		{"parameter map value", map[string]any{"postgresql": map[string]any{"parameters": map[string]any{"x": map[string]any{}}}}, `dcs key "postgresql.parameters.x": must be a string, number or boolean, got a map`},
		{"pg_hba not strings", map[string]any{"postgresql": map[string]any{"pg_hba": []any{"ok", 3}}}, `dcs key "postgresql.pg_hba": must be a list of strings`},
		{"recovery_conf list", map[string]any{"postgresql": map[string]any{"recovery_conf": []any{}}}, `dcs key "postgresql.recovery_conf": must be a map`},
		{"slots list", map[string]any{"slots": []any{"a"}}, `dcs key "slots": must be a map`},
		{"slot bad name", map[string]any{"slots": map[string]any{"Bad-Name": nil}}, `dcs key "slots.Bad-Name": slot name may contain only`},
		{"slot bad type", map[string]any{"slots": map[string]any{"s": map[string]any{"type": "weird"}}}, `dcs key "slots.s.type": must be physical or logical, got "weird"`},
		{"logical without plugin", map[string]any{"slots": map[string]any{"s": map[string]any{"type": "logical", "database": "d"}}}, `dcs key "slots.s": a logical slot needs both database and plugin`},
		{"slot unknown field", map[string]any{"slots": map[string]any{"s": map[string]any{"typ": "physical"}}}, `unknown dcs key "slots.s.typ" (did you mean "type"?)`},
		{"ignore_slots map", map[string]any{"ignore_slots": map[string]any{}}, `dcs key "ignore_slots": must be a list of maps`},
		{"ignore_slots item", map[string]any{"ignore_slots": []any{"x"}}, `dcs key "ignore_slots[0]": must be a map`},
		{"ignore_slots field", map[string]any{"ignore_slots": []any{map[string]any{"nam": "x"}}}, `unknown dcs key "ignore_slots[0].nam" (did you mean "name"?)`},
		{"standby_cluster scalar", map[string]any{"standby_cluster": true}, `dcs key "standby_cluster": must be a map, got true`},
		{"member_slots_ttl negative", map[string]any{"member_slots_ttl": -1}, `dcs key "member_slots_ttl"`},
		{"member_slots_ttl bad unit", map[string]any{"member_slots_ttl": "30 minutes"}, `dcs key "member_slots_ttl": must be a non-negative integer (seconds) or one with a unit ms, s, min, h or d such as "15s" or "30min", got "30 minutes"`},
		{"member_slots_ttl negative string", map[string]any{"member_slots_ttl": "-5s"}, `dcs key "member_slots_ttl": must be a non-negative integer`},
		{"member_slots_ttl bool", map[string]any{"member_slots_ttl": true}, `dcs key "member_slots_ttl": must be an integer >= 0, got true`},
		{"member_slots_ttl overflow", map[string]any{"member_slots_ttl": "2000000000d"}, `dcs key "member_slots_ttl": value "2000000000d" is too large`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDynamicConfig(tt.raw)
			if err == nil {
				t.Fatalf("want error containing %q, got nil", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			var de *DynamicConfigError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DynamicConfigError", err)
			}
			if _, ok := tt.raw["member_slots_ttl"].(string); ok {
				// Older releases stored any string: reading one falls back
				// to the default (TestParseDynamicConfig_UnreadableStoredMemberSlotsTTL_FallsBackForThatKeyOnly).
				return
			}
			if _, perr := ParseDynamicConfig(tt.raw); perr == nil || perr.Error() != err.Error() {
				t.Fatalf("Parse and Validate disagree: %v vs %v", perr, err)
			}
		})
	}
}

func TestDynamicConfig_SeveralProblems_ReportedInKeyOrder(t *testing.T) {
	err := ValidateDynamicConfig(map[string]any{"ttl": "x", "loop_wait": "y", "pause": 3})
	want := `dcs key "loop_wait": must be an integer >= 1, got "y"` + "\n" +
		`dcs key "pause": must be true or false, got 3` + "\n" +
		`dcs key "ttl": must be an integer >= 2, got "x"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestMergeDynamicPatch_MergesNestedMapsAndDeletesNulls(t *testing.T) {
	base := map[string]any{
		"ttl": 30, "loop_wait": 10,
		"postgresql": map[string]any{
			"use_slots":  true,
			"parameters": map[string]any{"max_connections": 100, "work_mem": "4MB"},
		},
		"slots": map[string]any{"a": map[string]any{"type": "physical"}},
		"list":  []any{"x", map[string]any{"k": "v"}},
	}
	patch := map[string]any{
		"ttl":       20,
		"loop_wait": nil,
		"postgresql": map[string]any{
			"parameters": map[string]any{"work_mem": nil, "shared_buffers": "1GB"},
		},
		"slots":   nil,
		"pause":   true,
		"missing": nil,
		"new":     map[string]any{"a": 1, "b": nil},
	}
	baseCopy := dynCopyMap(base)
	patchCopy := dynCopyMap(patch)
	got := MergeDynamicPatch(base, patch)
	want := map[string]any{
		"ttl": 20,
		"postgresql": map[string]any{
			"use_slots":  true,
			"parameters": map[string]any{"max_connections": 100, "shared_buffers": "1GB"},
		},
		"list":  []any{"x", map[string]any{"k": "v"}},
		"pause": true,
		"new":   map[string]any{"a": 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	if !reflect.DeepEqual(base, baseCopy) || !reflect.DeepEqual(patch, patchCopy) {
		t.Fatalf("inputs were mutated: base %v, patch %v", base, patch)
	}
	// The result shares no maps or slices with the inputs.
	got["postgresql"].(map[string]any)["use_slots"] = false
	got["list"].([]any)[1].(map[string]any)["k"] = "changed"
	if !reflect.DeepEqual(base, baseCopy) {
		t.Fatalf("result aliases base: %v", base)
	}
}

func TestMergeDynamicPatch_ReplacesScalarWithMapAndMapWithScalar(t *testing.T) {
	got := MergeDynamicPatch(map[string]any{"a": 1, "b": map[string]any{"c": 1}},
		map[string]any{"a": map[string]any{"x": 1}, "b": "flat"})
	want := map[string]any{"a": map[string]any{"x": 1}, "b": "flat"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if got := MergeDynamicPatch(nil, nil); got == nil || len(got) != 0 {
		t.Fatalf("nil, nil: got %v", got)
	}
}

func TestDynamicConfig_ParseDoesNotAliasInput(t *testing.T) {
	raw := map[string]any{"postgresql": map[string]any{"parameters": map[string]any{"a": "1"}, "pg_hba": []any{"x"}}}
	c, err := ParseDynamicConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	c.Parameters["a"] = "2"
	c.PgHBA[0] = "y"
	pg := raw["postgresql"].(map[string]any)
	if pg["parameters"].(map[string]any)["a"] != "1" || pg["pg_hba"].([]any)[0] != "x" {
		t.Fatalf("ParseDynamicConfig aliases its input: %v", raw)
	}
}

func TestClosestKey_OnlyWithinTwoEdits(t *testing.T) {
	known := []string{"ttl", "loop_wait", "retry_timeout"}
	for in, want := range map[string]string{"loopwait": "loop_wait", "tl": "ttl", "retry_timeot": "retry_timeout", "zzzzz": ""} {
		if got := ClosestKey(in, known); got != want {
			t.Errorf("ClosestKey(%q) = %q, want %q", in, got, want)
		}
	}
}
