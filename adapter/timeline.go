package adapter

import "time"

// standbyTimeline keeps the highest timeline a running standby has shown
// since its postmaster started. The status query reads a standby's
// timeline from its last restartpoint (pg_control_checkpoint), raised to
// the WAL receiver's timeline while one streams; restartpoints are rare
// (checkpoint_timeout), so when the upstream dies and the receiver stops,
// the reading fell back to the timeline before the last promotion. ha then
// took a replica that had followed the promotion for one diverged from it
// (rule 4), stopped it to pg_rewind from the dead primary, and with the
// rewind unfinished it was no candidate: a second failover never happened.
// Recovery only ever moves a running standby to newer timelines, so the
// highest reading of the same postmaster is the one it replays.
type standbyTimeline struct {
	started time.Time // postmaster start time of the readings kept
	highest int
}

// observe returns the timeline to report for a standby reading tl from the
// postmaster started at started.
func (s *standbyTimeline) observe(started time.Time, tl int) int {
	if !started.Equal(s.started) {
		s.started, s.highest = started, 0
	}
	s.highest = max(s.highest, tl)
	return s.highest
}
