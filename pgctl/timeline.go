package pgctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TimelineForkLSN returns where timeline tl forked off its parent, from the
// timeline history file in pg_wal (readable whether or not the server
// runs). Timeline 1 has no parent: 0 and no error.
func (i *Instance) TimelineForkLSN(tl int) (uint64, error) {
	if tl <= 1 {
		return 0, nil
	}
	path := filepath.Join(i.cfg.DataDir, "pg_wal", fmt.Sprintf("%08X.history", tl))
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("timeline %d history: %w", tl, err)
	}
	lsn := LastSwitchPoint(string(b))
	if lsn == 0 {
		return 0, fmt.Errorf("timeline %d history %s: no switch point", tl, path)
	}
	return lsn, nil
}

// LastSwitchPoint parses the last "parentTLI<TAB>LSN<TAB>reason" line of a
// timeline history file (0 if none).
func LastSwitchPoint(history string) uint64 {
	var lsn uint64
	for _, line := range strings.Split(history, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if v, err := ParseLSN(f[1]); err == nil {
			lsn = v
		}
	}
	return lsn
}

// timelineMarkerFile lives in the data directory, so pg_basebackup and
// pg_rewind copy it with the rest: a clone or a rewound node inherits the
// marker of the history it now has, and pg_rewind removes a marker its
// source lacks.
const timelineMarkerFile = "conclave.timeline"

// TimelineMark records which leader tenure created a timeline by promotion.
type TimelineMark struct {
	Timeline int    `json:"timeline"`
	Epoch    uint64 `json:"epoch"`
	Member   string `json:"member"`
}

// WriteTimelineMark writes m into the data directory (after a promotion).
func (i *Instance) WriteTimelineMark(m TimelineMark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := writeFileAtomic(filepath.Join(i.cfg.DataDir, timelineMarkerFile), b); err != nil {
		return fmt.Errorf("write timeline marker: %w", err)
	}
	return nil
}

// ReadTimelineMark returns the data directory's marker (zero if none).
func (i *Instance) ReadTimelineMark() (TimelineMark, error) {
	var m TimelineMark
	b, err := os.ReadFile(filepath.Join(i.cfg.DataDir, timelineMarkerFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return TimelineMark{}, fmt.Errorf("timeline marker: %w", err)
	}
	return m, nil
}
