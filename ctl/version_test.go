package ctl

import "testing"

func TestFormatPGVersion_AsPatronictl(t *testing.T) {
	for v, want := range map[int]string{150004: "15.4", 90624: "9.6.24", 100000: "10.0", 170001: "17.1"} {
		if got := formatPGVersion(v); got != want {
			t.Errorf("formatPGVersion(%d) = %q, want %q", v, got, want)
		}
	}
}
