package backup

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	// archiveIDRE is a directory of a stanza's archive: <version>-<history id>.
	archiveIDRE = regexp.MustCompile(`^(\d+)-(\d+)$`)
	// archivedSegmentRE is an archived segment: its name, the SHA-1 of its
	// contents, and the compression extension if any.
	archivedSegmentRE = regexp.MustCompile(`^([0-9A-F]{24})-([0-9a-f]{40})(\.[a-z0-9]+)?$`)
)

// ArchivedSegments says which of the WAL segments names the stanza's
// current archive (the archive id of the newest database history entry:
// the database archive-push writes to) already holds, and with which
// checksum: segment name -> SHA-1 of the archived copy's contents. pgBackRest
// accepts a segment pushed again with the same checksum and refuses one
// with another checksum for ever (error 045: "already exists … with a
// different checksum"), which stalls archiving behind it; callers compare
// before they queue a segment for archiving again. It lists only the
// directories the names fall in (repo-ls).
func (p PgBackRest) ArchivedSegments(ctx context.Context, names []string) (map[string]string, error) {
	got := map[string]string{}
	if len(names) == 0 {
		return got, nil
	}
	base := "archive/" + p.Stanza
	out, err := p.run(ctx, "repo-ls", base)
	if err != nil {
		return nil, err
	}
	id, best := "", -1
	for _, line := range strings.Fields(string(out)) {
		if m := archiveIDRE.FindStringSubmatch(line); m != nil {
			if n, _ := strconv.Atoi(m[2]); n > best {
				id, best = line, n
			}
		}
	}
	if id == "" {
		return got, nil // nothing archived yet
	}
	want := map[string]bool{}
	dirs := map[string]bool{}
	for _, n := range names {
		want[n] = true
		if len(n) == 24 {
			dirs[n[:16]] = true
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		out, err := p.run(ctx, "repo-ls", base+"/"+id+"/"+dir)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Fields(string(out)) {
			if m := archivedSegmentRE.FindStringSubmatch(line); m != nil && want[m[1]] {
				got[m[1]] = m[2]
			}
		}
	}
	return got, nil
}
