package ctl

import (
	"reflect"
	"strings"
	"testing"
)

func TestSetPath_DottedGUCAndDeletion(t *testing.T) {
	m := map[string]any{"postgresql": map[string]any{"parameters": map[string]any{"work_mem": "4MB"}}}
	setPath(m, strings.Split("postgresql.parameters.auto_explain.log_min_duration", "."), "1s", nil)
	setPath(m, strings.Split("postgresql.parameters.work_mem", "."), nil, nil)
	want := map[string]any{"postgresql": map[string]any{"parameters": map[string]any{"auto_explain.log_min_duration": "1s"}}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %v", m)
	}
	setPath(m, strings.Split("postgresql.parameters.auto_explain.log_min_duration", "."), nil, nil)
	if len(m) != 0 {
		t.Fatalf("emptied maps kept: %v", m)
	}
}
