package fsm

import "testing"

func TestAllSupport_EveryListedMemberMustAdvertiseTheLevel(t *testing.T) {
	s := State{}
	if s.AllSupport(ProtocolSwapSync) {
		t.Error("an empty member list supports SwapSync")
	}
	s.Members = map[string]Member{"a": {Name: "a", Protocol: Protocol}, "b": {Name: "b", Protocol: Protocol}}
	if !s.AllSupport(ProtocolSwapSync) {
		t.Error("all members at the current level: not supported")
	}
	s.Members["c"] = Member{Name: "c"} // an agent older than Member.Protocol
	if s.AllSupport(ProtocolSwapSync) {
		t.Error("an older agent listed: supported")
	}
}
