package vip

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Capabilities needed to add addresses and send raw ARP frames.
const (
	capNetAdmin = 12
	capNetRaw   = 13
)

// NetCaps are the two capabilities, as SysProcAttr.AmbientCaps wants them.
var NetCaps = []uintptr{capNetAdmin, capNetRaw}

// ErrAmbientKept: the ambient set could not be cleared because the binary
// is linked with cgo (Go's AllThreadsSyscall refuses then); build it with
// CGO_ENABLED=0 (the Makefile does).
var ErrAmbientKept = errors.New("the ambient capabilities could not be cleared in a binary built with cgo; build it with CGO_ENABLED=0")

// DropAmbient clears the ambient capability set of every thread of this
// process and reports whether it held both network capabilities. The agent
// keeps them in its permitted and effective sets (netlink, the ARP packets),
// but every program it starts afterwards (pg_ctl, the postmaster and its
// backends, callback scripts) starts without them: ambient capabilities
// survive execve, so a PostgreSQL superuser's COPY … PROGRAM could otherwise
// reconfigure the host's network. The watchdog process, which removes the
// address when it fences, gets them back explicitly (watchdog.Start).
func DropAmbient() (hadNetCaps bool, err error) {
	amb, err := capSet("CapAmb")
	if err != nil {
		return false, err
	}
	had := amb&(1<<capNetAdmin) != 0 && amb&(1<<capNetRaw) != 0
	if amb == 0 {
		return had, nil
	}
	if _, _, errno := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); errno != 0 {
		if errno == syscall.ENOTSUP {
			return had, ErrAmbientKept
		}
		return had, fmt.Errorf("clearing the ambient capabilities: %w", errno)
	}
	return had, nil
}

// CheckCapabilities returns a clear error unless this process has
// CAP_NET_ADMIN and CAP_NET_RAW in its effective set.
func CheckCapabilities() error {
	eff, err := capSet("CapEff")
	if err != nil {
		return err
	}
	return checkCapEff(eff)
}

// capSet reads one capability set (CapEff, CapAmb…) of this thread.
func capSet(name string) (uint64, error) {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return 0, fmt.Errorf("reading capabilities: %w", err)
	}
	return parseCapSet(string(b), name)
}

func parseCapSet(status, name string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			set, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("reading capabilities: %s %q: %w", name, strings.TrimSpace(v), err)
			}
			return set, nil
		}
	}
	return 0, fmt.Errorf("reading capabilities: no %s line in /proc/thread-self/status", name)
}

func checkCapEff(eff uint64) error {
	var missing []string
	if eff&(1<<capNetAdmin) == 0 {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if eff&(1<<capNetRaw) == 0 {
		missing = append(missing, "CAP_NET_RAW")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the agent lacks %s: it needs CAP_NET_ADMIN to add the floating IP and CAP_NET_RAW to announce it; "+
			"run it with AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW (deploy/systemd/conclave.service) or remove the vip: section",
			strings.Join(missing, " and "))
	}
	return nil
}
