package agent

import (
	"slices"
	"testing"

	"github.com/conclave-ha/conclave/raftstore"
)

// The takeover and the rebuild wait for every Raft server's report: a
// non-voter (a sixth member, or one not promoted yet) may run the primary
// or hold the latest timeline as well as a voter.
func TestServerAddrs_ListsNonVotersToo(t *testing.T) {
	got := serverAddrs([]raftstore.Server{
		{ID: "n1:5010", Addr: "n1:5010", Voter: true, Leader: true},
		{ID: "n2:5010", Addr: "n2:5010", Voter: true},
		{ID: "n6:5010", Addr: "n6:5010", Voter: false},
	})
	if want := []string{"n1:5010", "n2:5010", "n6:5010"}; !slices.Equal(got, want) {
		t.Fatalf("awaited servers %v, want %v", got, want)
	}
}
