package watchdog

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clocks is one reading of the two kernel clocks, in nanoseconds.
// CLOCK_MONOTONIC does not advance while the machine is suspended (a VM
// paused by its hypervisor, a laptop asleep); CLOCK_BOOTTIME does. Between
// two readings, Boot advancing more than Mono means the machine was
// suspended for the difference, time the rest of the cluster lived through.
// The lease guard in package ha can use the same reading (ReadClocks).
type Clocks struct {
	Mono int64 // CLOCK_MONOTONIC
	Boot int64 // CLOCK_BOOTTIME
}

// ReadClocks reads CLOCK_MONOTONIC and CLOCK_BOOTTIME.
func ReadClocks() (Clocks, error) {
	var m, b unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m); err != nil {
		return Clocks{}, err
	}
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &b); err != nil {
		return Clocks{}, err
	}
	return Clocks{Mono: m.Nano(), Boot: b.Nano()}, nil
}

// SuspendMeter turns successive Clocks readings into the time the machine
// spent suspended between them. It tracks the largest offset
// CLOCK_BOOTTIME - CLOCK_MONOTONIC seen so far, which only grows while the
// machine is suspended. Noise (a process preempted between the two
// clock_gettime calls of one reading makes that reading's offset too large
// by the delay) is counted at most once, since the next readings must exceed
// it before anything counts again, and steps under a millisecond count as
// zero. The zero value is ready to use; not safe for concurrent use.
type SuspendMeter struct {
	maxOffset int64
	started   bool
}

// Observe returns the suspension newly seen in c since the previous
// reading (0 for the first).
func (m *SuspendMeter) Observe(c Clocks) time.Duration {
	off := c.Boot - c.Mono
	if !m.started {
		m.maxOffset, m.started = off, true
		return 0
	}
	if off <= m.maxOffset {
		return 0
	}
	d := off - m.maxOffset
	m.maxOffset = off
	if d < int64(time.Millisecond) {
		return 0
	}
	return time.Duration(d)
}

// monoNow reads CLOCK_MONOTONIC in nanoseconds.
func monoNow() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	return ts.Nano(), nil
}
