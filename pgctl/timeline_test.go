package pgctl

import "testing"

func TestLastSwitchPoint_ReadsTheLastHistoryLine(t *testing.T) {
	history := "1\t0/3000148\tno recovery target specified\n\n2\t0/5000060\tno recovery target specified\n"
	if got := LastSwitchPoint(history); got != 0x5000060 {
		t.Fatalf("switch point %X, want 5000060", got)
	}
	if got := LastSwitchPoint(""); got != 0 {
		t.Fatalf("empty history gave %X", got)
	}
}
