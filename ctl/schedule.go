package ctl

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// parseScheduled is patronictl's parse_scheduled for --scheduled of
// switchover and restart: "now" (or nothing) is at once (the zero time); a
// time without a zone is taken in the local zone.
func parseScheduled(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return time.Time{}, nil
	}
	t, err := fsm.ParseScheduledAt(s)
	if errors.Is(err, fsm.ErrNoTimezone) {
		for _, l := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04"} {
			if t, err = time.ParseInLocation(l, s, time.Local); err == nil {
				break
			}
		}
	}
	if err != nil {
		return time.Time{}, UsageError{fmt.Errorf("Unable to parse scheduled timestamp (%s). It should be in an unambiguous format (e.g. ISO 8601)", s)}
	}
	return t, nil
}

// scheduledAtText is parseScheduled as the REST API's scheduled_at, in
// Python's isoformat() as patronictl sends and shows it ("" for now).
func scheduledAtText(s string) (string, error) {
	t, err := parseScheduled(s)
	if err != nil || t.IsZero() {
		return "", err
	}
	return pyDatetime(t, "T"), nil
}

// pyDatetime prints t as Python's datetime does: sep "T" is isoformat(),
// " " is str() (patronictl's confirmation of a scheduled restart).
// Microseconds appear, all six digits, only when not zero.
func pyDatetime(t time.Time, sep string) string {
	layout := "2006-01-02" + sep + "15:04:05"
	if t.Nanosecond()/1000 != 0 {
		layout += ".000000"
	}
	return t.Format(layout + "-07:00")
}
