package ctl

import (
	"reflect"
	"testing"
)

func TestSplitCluster_FirstPositionalIsClusterOnlyWhenItEqualsScope(t *testing.T) {
	for _, c := range []struct {
		args  []string
		named bool
		rest  []string
	}{
		{nil, false, nil},
		{[]string{"demo"}, true, []string{}},
		{[]string{"demo", "node2"}, true, []string{"node2"}},
		{[]string{"node2"}, false, []string{"node2"}},
		{[]string{"node2", "demo"}, false, []string{"node2", "demo"}},
	} {
		named, rest := splitCluster("demo", c.args)
		if named != c.named || len(rest) != len(c.rest) || (len(rest) > 0 && !reflect.DeepEqual(rest, c.rest)) {
			t.Errorf("splitCluster(%q) = %v %q, want %v %q", c.args, named, rest, c.named, c.rest)
		}
	}
}
