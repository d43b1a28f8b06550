package raftstore

import (
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

func TestMayMintClusterID(t *testing.T) {
	at := func(levels ...int) fsm.State {
		st := fsm.State{Members: map[string]fsm.Member{}}
		for i, l := range levels {
			name := string(rune('a' + i))
			st.Members[name] = fsm.Member{Name: name, Protocol: l}
		}
		return st
	}
	withID := at(fsm.Protocol, fsm.Protocol)
	withID.ClusterID = "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name string
		st   fsm.State
		want bool
	}{
		{"no member listed yet", at(), false},
		{"every member at this level", at(fsm.Protocol, fsm.Protocol), true},
		{"an agent older than the level", at(fsm.Protocol, fsm.ProtocolClusterID-1), false},
		{"an agent older than the protocol field", at(fsm.Protocol, 0), false},
		{"an id already recorded", withID, false},
	}
	for _, tc := range cases {
		if got := mayMintClusterID(tc.st); got != tc.want {
			t.Errorf("%s: mayMintClusterID = %v, want %v", tc.name, got, tc.want)
		}
	}
}
