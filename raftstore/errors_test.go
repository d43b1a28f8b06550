package raftstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/conclave-ha/conclave/fsm"
)

func TestNothingAppended_OnlyNoLeaderOrNotLeaderWithoutUnknownOutcome(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no leader", ErrNoLeader, true},
		{"not leader", fmt.Errorf("propose command 5: %w", ErrNotLeader), true},
		{"route gave up waiting for a leader", fmt.Errorf("%w: %w; last: %w", ErrTimeout, context.DeadlineExceeded, ErrNoLeader), true},
		{"forwarded, answer lost", fmt.Errorf("%w: %w", ErrUnknownOutcome, errors.New("eof")), false},
		{"leadership lost", mapRaftErr(raft.ErrLeadershipLost), false},
		{"enqueue timeout", fmt.Errorf("%w: enqueue", ErrTimeout), false},
		{"rejected", fmt.Errorf("%w: %w", ErrRejected, fsm.ErrLeaderChanged), false},
		{"remote not leader", decodeErr(rpcResponse{Error: "x", Code: "not_leader"}), true},
		{"remote unknown outcome", decodeErr(rpcResponse{Error: "x", Code: "unknown_outcome"}), false},
		{"other", errors.New("boom"), false},
	} {
		if got := nothingAppended(c.err); got != c.want {
			t.Errorf("%s: nothingAppended(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
