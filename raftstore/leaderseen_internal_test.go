package raftstore

import "testing"

func TestLeaderKnown_ClosedAtTheNextLeaderReport_ThenFreshAgain(t *testing.T) {
	s := &Store{leaderSeen: make(chan struct{})}
	before := s.leaderKnown()
	select {
	case <-before:
		t.Fatal("leaderKnown closed before any leader report")
	default:
	}
	s.noteLeader()
	select {
	case <-before:
	default:
		t.Fatal("leaderKnown taken before the report is still open after it")
	}
	select {
	case <-s.leaderKnown():
		t.Fatal("leaderKnown taken after the report is already closed")
	default:
	}
}
