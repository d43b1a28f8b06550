package ctl

import (
	"strings"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

func TestScheduledAtText(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"now":                             "",
		"2026-11-30T17:20:44+00:00":       "2026-11-30T17:20:44+00:00",
		"2026-11-30 17:20:44.5+00:00":     "2026-11-30T17:20:44.500000+00:00",
		"2026-11-30T17:20:44.123456Z":     "2026-11-30T17:20:44.123456+00:00",
		"2026-11-30T17:20:44.123456+0100": "2026-11-30T17:20:44.123456+01:00",
	} {
		got, err := scheduledAtText(in)
		if err != nil || got != want {
			t.Errorf("scheduledAtText(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	local, err := scheduledAtText("2026-11-30T17:20")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := time.Parse("2006-01-02T15:04:05.999999-07:00", local); got.Hour() != 17 && got.In(time.Local).Hour() != 17 {
		t.Errorf("a time without zone is not taken in the local zone: %s", local)
	}
	if _, err := scheduledAtText("tomorrow"); err == nil {
		t.Error("an unparsable time was accepted")
	}
}

func TestCheckFailover_AMemberOlderThanTheHandOver_IsRefusedNamingIt(t *testing.T) {
	view := func(old clusterMember) *session {
		return &session{view: clusterView{Scope: "demo", Members: []clusterMember{
			{Name: "node1", Role: "leader", State: "running", Version: "0.1.0+af651b5", Protocol: old.Protocol},
			{Name: "node2", Role: "replica", State: "streaming", Version: "0.2.0", Protocol: fsm.Protocol},
			{Name: "node3", Role: "replica", State: "streaming", Version: old.Version, Protocol: fsm.Protocol},
		}}}
	}
	err := view(clusterMember{Version: "0.2.0"}).checkFailover("switchover", "node1", "node2", true)
	if err == nil || !strings.Contains(err.Error(), "the agent of node1 is older than the hand-over") {
		t.Errorf("switchover from an older primary: %v; want a refusal naming node1", err)
	}
	if err := view(clusterMember{Version: "0.2.0", Protocol: fsm.Protocol}).checkFailover("switchover", "node1", "node2", true); err != nil {
		t.Errorf("every member at this level: %v", err)
	}
	// An older agent answered /cluster: no levels reported, the request
	// goes out (and its 404 tells).
	s := view(clusterMember{})
	for i := range s.view.Members {
		s.view.Members[i].Version, s.view.Members[i].Protocol = "", 0
	}
	if err := s.checkFailover("switchover", "node1", "node2", true); err != nil {
		t.Errorf("view without levels: %v", err)
	}
}
