package dynconfig

import (
	"reflect"
	"testing"
)

func TestNotActedOnIn_NamesSetKeysTopLevelAndNested_IgnoresNullAndAbsent(t *testing.T) {
	doc := map[string]any{
		"ttl":             30,
		"standby_cluster": map[string]any{"host": "10.0.0.1"},
		"check_timeline":  nil, // a PATCH's null removes the key: not set
		"postgresql": map[string]any{
			"use_pg_rewind": true,
			"remove_data_directory_on_rewind_failure": true,
		},
	}
	want := []string{
		"standby_cluster (standby clusters are not supported)",
		"postgresql.remove_data_directory_on_rewind_failure (a data directory is always moved aside, never removed)",
	}
	if got := NotActedOnIn(doc); !reflect.DeepEqual(got, want) {
		t.Fatalf("NotActedOnIn = %q, want %q", got, want)
	}
	if got := NotActedOnIn(map[string]any{"ttl": 30, "postgresql": "not a map"}); got != nil {
		t.Fatalf("nothing set: %q", got)
	}
}
