package pgctl

import (
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
