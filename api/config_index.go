package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/conclave-ha/conclave/fsm"
)

// The configuration's index as an HTTP validator, so that a client can make
// a read-modify-write of /config safe (conclave edit-config does): GET
// /config answers ETag: "<index>", the index at which the configuration was
// last changed; PATCH or PUT with If-Match: "<index>" is refused with 409 when
// the configuration changed since, as patronictl's edit-config is refused
// by its DCS compare-and-swap. The write itself is proposed with the same
// index as its compare-and-swap, so a change committed in between is refused
// too. Without If-Match the write is guarded only from this node's read.

func configETag(index uint64) string { return `"` + strconv.FormatUint(index, 10) + `"` }

// checkIfMatch returns an error wrapping fsm.ErrConfigConflict when r has an
// If-Match header that does not name index, and a bad request when the
// header is not one of our ETags.
func checkIfMatch(r *http.Request, index uint64) error {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return nil
	}
	want, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: If-Match must be the ETag of GET /config (a quoted index), got %q", errBadRequest, h)
	}
	if want != index {
		return fmt.Errorf("%w: the configuration changed since it was read (read at index %d, now at %d)", fsm.ErrConfigConflict, want, index)
	}
	return nil
}
