package adapter

import (
	"testing"
	"time"
)

func TestStandbyTimeline_KeepsTheHighestOfOnePostmaster(t *testing.T) {
	var s standbyTimeline
	t0 := time.Unix(1000, 0)
	steps := []struct {
		started time.Time
		read    int
		want    int
	}{
		{t0, 1, 1},
		{t0, 2, 2},                  // streaming the new primary's timeline 2
		{t0, 1, 2},                  // the receiver stopped: the restartpoint still says 1
		{t0.Add(time.Minute), 1, 1}, // another postmaster: its own readings
	}
	for i, st := range steps {
		if got := s.observe(st.started, st.read); got != st.want {
			t.Fatalf("step %d: observe(%v, %d) = %d, want %d", i, st.started, st.read, got, st.want)
		}
	}
}
