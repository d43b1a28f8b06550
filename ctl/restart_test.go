package ctl

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testSession is a session over a three-member view whose terminal reads input.
func testSession(input string) (*session, *bytes.Buffer) {
	out := &bytes.Buffer{}
	view := clusterView{Scope: "demo", Members: []clusterMember{
		{Name: "node2", Role: "replica"}, {Name: "node1", Role: "leader"}, {Name: "node3", Role: "sync_standby"},
	}}
	return &session{view: view, term: newTerminal(strings.NewReader(input), out)}, out
}

func TestSelectMembers_AsPatronictl(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		role   string
		action string
		want   []string
		err    string
	}{
		{"NoNames_AllMembers", nil, "any", "restart", []string{"node1", "node2", "node3"}, ""},
		{"RolePrimary_TheLeader", nil, "primary", "restart", []string{"node1"}, ""},
		{"RoleReplica_TheOthers", nil, "replica", "restart", []string{"node2", "node3"}, ""},
		{"Named", []string{"node2"}, "any", "restart", []string{"node2"}, ""},
		{"UnknownMember", []string{"node9"}, "any", "restart", nil, "node9 is not a member of cluster"},
		{"NamedOtherRole", []string{"node2"}, "primary", "restart", nil, "No primary among provided members"},
		{"ReinitOfTheLeader", []string{"node1"}, "replica", "reinitialize", nil, "No replica among provided members"},
		{"BadRole", nil, "leaderish", "restart", nil, "--role"},
		{"ReinitNeedsAName", nil, "replica", "reinitialize", nil, "no member given"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, out := testSession("")
			got, err := s.selectMembers(c.args, c.role, true, c.action)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(memberNames(got), c.want) {
				t.Fatalf("%v %v, want %v", memberNames(got), err, c.want)
			}
			// patronictl prints the table for every verb with --role, --force or not.
			if !strings.HasPrefix(out.String(), "+ Cluster: demo ") {
				t.Errorf("no member table before the action:\n%s", out.String())
			}
		})
	}
}

func TestSelectMembers_AsksWhichThenConfirmAborts(t *testing.T) {
	s, out := testSession("node2\nn\n")
	ms, err := s.selectMembers(nil, "replica", false, "reinitialize")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.confirmMembers(ms, false, "reinitialize", ""); err == nil || err.Error() != "Aborted reinitialize" {
		t.Fatalf("answer n: %v", err)
	}
	for _, q := range []string{"Which member do you want to reinitialize [node2, node3]? []: ", "Are you sure you want to reinitialize members node2? [y/N]: "} {
		if !strings.Contains(out.String(), q) {
			t.Errorf("prompt %q not shown in:\n%s", q, out.String())
		}
	}
	s, out = testSession("maybe\ny\n")
	if err := s.confirmMembers([]clusterMember{{Name: "node3"}}, false, "restart", "2026-11-30 17:20:44+00:00"); err != nil {
		t.Fatalf("answer y after an invalid one: %v", err)
	}
	if want := "Are you sure you want to schedule restart of members node3 at 2026-11-30 17:20:44+00:00? [y/N]: Error: invalid input\n"; !strings.HasPrefix(out.String(), want) {
		t.Errorf("got %q, want it to start with %q", out.String(), want)
	}
	s, _ = testSession("")
	if err := s.confirmMembers([]clusterMember{{Name: "node3"}}, false, "restart", ""); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("no answer on stdin: %v", err)
	}
}

func TestParseScheduled(t *testing.T) {
	for _, s := range []string{"", "now"} {
		if at, err := parseScheduled(s); err != nil || !at.IsZero() {
			t.Errorf("%q: %v %v", s, at, err)
		}
	}
	want := time.Date(2026, 11, 30, 17, 20, 44, 0, time.UTC)
	for _, s := range []string{"2026-11-30T17:20:44+00:00", "2026-11-30 17:20:44+00:00", "2026-11-30T18:20:44+01:00"} {
		if at, err := parseScheduled(s); err != nil || !at.Equal(want) {
			t.Errorf("%q: %v %v", s, at, err)
		}
	}
	if at, err := parseScheduled("2026-11-30 17:20:44.5+00:00"); err != nil || !at.Equal(want.Add(500*time.Millisecond)) {
		t.Errorf("fractional: %v %v", at, err)
	}
	if at, err := parseScheduled("2026-11-30T17:20"); err != nil || at.Location() != time.Local {
		t.Errorf("no zone: %v %v, want local time", at, err)
	}
	if _, err := parseScheduled("tomorrow"); err == nil {
		t.Error("tomorrow accepted")
	}
}

func TestCheckPGVersion(t *testing.T) {
	for _, ok := range []string{"15", "15.2", "9.6", "9.6.3"} {
		if err := checkPGVersion(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"9", "x", "15.a", "1.2.3.4"} {
		if err := checkPGVersion(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
