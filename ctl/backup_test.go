package ctl

import (
	"strings"
	"testing"
)

func TestBackupMembers_DefaultsToAStreamingReplica_RefusesWithReason(t *testing.T) {
	members := []clusterMember{
		{Name: "n1", Role: "leader", State: "running"},
		{Name: "n2", Role: "replica", State: "starting"},
		{Name: "n3", Role: "replica", State: "streaming"},
	}
	leader, runner, err := backupMembers(members, "replica", "")
	if err != nil || leader.Name != "n1" || runner.Name != "n3" {
		t.Fatalf("got %s %s %v", leader.Name, runner.Name, err)
	}
	if _, runner, err := backupMembers(members, "primary", ""); err != nil || runner.Name != "n1" {
		t.Fatalf("from primary: %s %v", runner.Name, err)
	}
	_, _, err = backupMembers(members, "replica", "n2")
	if err == nil || !strings.Contains(err.Error(), "n2 is starting") || !strings.Contains(err.Error(), "--from primary") {
		t.Fatalf("named replica not streaming: %v", err)
	}
	_, _, err = backupMembers(members[:1], "replica", "")
	if err == nil || !strings.Contains(err.Error(), "there is no replica") {
		t.Fatalf("no replica: %v", err)
	}
	_, _, err = backupMembers(members[1:], "replica", "")
	if err == nil || !strings.Contains(err.Error(), "no running primary") {
		t.Fatalf("no primary: %v", err)
	}
}
