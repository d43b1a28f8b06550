package ha

import (
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

// Rule 2 assumes that a member recorded in Sync holds every acknowledged
// commit. A recorded standby that lost its data directory (disk replaced,
// directory moved aside by rule 4) and copies a new one from elsewhere
// still carries the name the set records, but not those commits: a copy
// from a clonefrom replica (asynchronous, behind) or from a backup
// repository (no_leader) ends where that source was. If the primary dies
// before it drops the name (it does so at its next turn once the standby
// stops streaming; a clone from another source does not need it alive),
// the copy is the only eligible candidate, within maximum_lag_on_failover
// of the old leader's last report, and is promoted without commits it once
// acknowledged. `reinitialize` is refused for a recorded standby for this
// reason (operations.go); a member without data copies only the running
// leader, or waits.
func TestDecide_RecordedSyncStandbyWithoutData_DoesNotCopyDataWhileRecorded(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(o *Observation)
	}{
		{"CloneFromATaggedReplica", func(o *Observation) {
			setMember(o, "n3", func(m *fsm.Member) { m.Tags = map[string]any{"clonefrom": true} })
		}},
		{"NoLeaderMethod", func(o *Observation) {
			o.Tags.CloneWithoutLeader = true
			o.Lease.Expired = true
			o.LiveMembers["n1"] = false
			setMember(o, "n1", func(m *fsm.Member) { m.State = "stopped" })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := scenario()
			o.Config.SynchronousMode = true
			o.State.Sync = fsm.Sync{Leader: "n1", Members: []string{"n2"}}
			o.PG = PGStatus{DataDir: DataDirMissing}
			tc.set(&o)
			p := Decide(o)
			if len(p.Actions) > 0 && p.Actions[0].Kind == ActClone && p.Actions[0].Target.Name == "n1" {
				return // a copy of the running leader holds every commit it acknowledged
			}
			if len(p.Actions) == 0 || p.Actions[0].Kind != ActClone {
				if k := p.Kinds(); len(k) != 1 || k[0] != ActWait {
					t.Fatalf("plan %v (%s), want a wait", k, p.Reason)
				}
				return
			}
			// What followed: the copy holds n3's position (or the
			// backup's), the leader dies, and the copy takes the key.
			o.PG = PGStatus{DataDir: DataDirValid, SystemID: "7000", Running: true, InRecovery: true, Timeline: 1, WALPosition: 900}
			o.Lease.Expired = true
			o.LiveMembers["n1"] = false
			next := Decide(o)
			t.Fatalf("recorded synchronous standby n2 without data copies a data directory (%s); "+
				"after the leader dies the copy, 100 bytes behind what n2 acknowledged, plans %v (%s)",
				p.Reason, next.Kinds(), next.Reason)
		})
	}
}
