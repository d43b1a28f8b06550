package fsm_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

const (
	idA = "0123456789abcdef0123456789abcdef"
	idB = "fedcba9876543210fedcba9876543210"
)

func TestApply_SetClusterID(t *testing.T) {
	runApplyCases(t, []applyCase{
		{
			name: "the first id is recorded",
			cmd:  fsm.SetClusterID{ID: idA},
			check: func(t *testing.T, got fsm.State) {
				if got.ClusterID != idA {
					t.Errorf("cluster id %q, want %q", got.ClusterID, idA)
				}
			},
		},
		{
			name:  "a later id is ignored: the first wins",
			setup: []fsm.Command{fsm.SetClusterID{ID: idA}},
			cmd:   fsm.SetClusterID{ID: idB},
			check: func(t *testing.T, got fsm.State) {
				if got.ClusterID != idA {
					t.Errorf("cluster id %q, want the first %q", got.ClusterID, idA)
				}
			},
		},
		{name: "an empty id is refused", cmd: fsm.SetClusterID{}, wantErr: fsm.ErrInvalidCommand},
		{name: "an id that is not hex is refused", cmd: fsm.SetClusterID{ID: strings.Repeat("z", fsm.ClusterIDLen)}, wantErr: fsm.ErrInvalidCommand},
		{name: "a short id is refused", cmd: fsm.SetClusterID{ID: idA[:8]}, wantErr: fsm.ErrInvalidCommand},
	})
}

// Older nodes skip the command (an unrecorded voter after a rebuild may run
// one); nothing they decide reads the ID.
func TestSetClusterID_IsIgnorableByOlderNodes(t *testing.T) {
	if fsm.CmdSetClusterID&fsm.FlagIgnorable == 0 {
		t.Fatalf("CmdSetClusterID %#x lacks FlagIgnorable", fsm.CmdSetClusterID)
	}
}

func TestClusterID_SurvivesSnapshotAndRestore(t *testing.T) {
	f := fsm.New()
	f.Apply(commandLog(t, 1, fsm.SetClusterID{ID: idA}))
	var buf bytes.Buffer
	persist(t, f, &buf)
	g := fsm.New()
	if err := g.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := g.ClusterID(); got != idA {
		t.Fatalf("restored cluster id %q, want %q", got, idA)
	}
	// The restored ID still wins over a later proposal.
	g.Apply(commandLog(t, 2, fsm.SetClusterID{ID: idB}))
	if got := g.ClusterID(); got != idA {
		t.Fatalf("cluster id after a second SetClusterID %q, want %q", got, idA)
	}
}
