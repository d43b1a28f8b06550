//go:build integration

package integration

// The floating IP and the callbacks through planned operations (issue 12):
// an operator restart in place and a planned switchover.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// conclaveHere runs the CLI inside n's namespace, from a member host (whose
// writes the default REST guard accepts), against n's configuration.
func (n *node) conclaveHere(args ...string) (string, error) {
	argv := append(append(append([]string{}, n.prefix[1:]...), binary, "-c", n.cfgPath), args...)
	cmd := exec.Command(n.prefix[0], argv...)
	cmd.Env = append(os.Environ(), "CONCLAVE_CACHE_DIR="+filepath.Join(filepath.Dir(n.dir), "cli-cache"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// indexes are the positions of the lines containing every one of subs.
func (b *lineBuffer) indexes(subs ...string) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int
	for i, l := range b.lines {
		all := true
		for _, sub := range subs {
			all = all && strings.Contains(l, sub)
		}
		if all {
			out = append(out, i)
		}
	}
	return out
}

// absentBetween reports the first sample after since in which node did not
// hold the address, and the first one after that in which it held it again.
func (s *vipSampler) absentBetween(node int, since time.Time) (gone, back time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.samples {
		switch {
		case x.at.Before(since):
		case gone.IsZero() && !slices.Contains(x.holders, node):
			gone = x.at
		case !gone.IsZero() && slices.Contains(x.holders, node):
			return gone, x.at
		}
	}
	return gone, time.Time{}
}

// orderedIn reports whether want appear in ev in this order (others may be
// in between).
func orderedIn(ev []string, want ...string) bool {
	i := 0
	for _, e := range ev {
		if i < len(want) && e == want[i] {
			i++
		}
	}
	return i == len(want)
}

// An operator restart of the primary removes the floating IP before
// PostgreSQL stops and adds it back once it is the primary again, with one
// on_restart and no on_stop or on_start; a planned switchover removes it on
// the old primary before the clean stop, the candidate adds it only after
// that, the new primary's script records on_role_change primary and the old
// one's on_stop primary then on_role_change replica. A client writing through
// the address gets through after each, and no 20 ms sample ever saw the
// address in two namespaces.
func TestVIP_RestartAndSwitchover_AddressGoesBeforeTheStop_CallbacksReportTheRoles(t *testing.T) {
	tb := newTestbed(t, 3)
	ip := tb.addr(200)
	b := setUpVIPWith(t, tb, ip, func(n *node) string {
		return callbacksYAML(n, writeScript(t, filepath.Join(n.dir, "cb.sh"), `out=$1; shift; echo "$*" >> "$out"`))
	})
	s := startVIPSampler(t, tb, ip)
	idx, scope, old := b.c.nodeIndex, b.c.scope, b.leader
	waitFor(t, 10*time.Second, "the floating IP on "+old.name+" only", func() error {
		if h := s.holders(); !slices.Equal(h, []int{idx(old)}) {
			return fmt.Errorf("held by %v", h)
		}
		return nil
	})
	client := startVIPClient(t, tb, ip, old.pgPort)
	client.waitWrites(t, time.Now().Add(-time.Minute), 10*time.Second)
	removed := []string{"floating IP removed", "a planned stop of the primary"}

	// 1. Restart in place.
	t0 := time.Now()
	if out, err := old.conclaveHere("restart", scope, old.name, "--force"); err != nil || !strings.Contains(out, "Success: restart on member "+old.name) {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "the floating IP back on "+old.name, func() error {
		if h := s.holders(); !slices.Equal(h, []int{idx(old)}) {
			return fmt.Errorf("held by %v", h)
		}
		return nil
	})
	gone, back := s.absentBetween(idx(old), t0)
	if gone.IsZero() || back.IsZero() {
		t.Errorf("the floating IP never left %s during its restart (gone %v, back %v)", old.name, gone, back)
	}
	if len(old.logs.indexes(removed...)) != 1 {
		t.Errorf("%s did not log removing the floating IP for the restart", old.name)
	}
	d := client.waitWritesOn(t, old, back, 10*time.Second)
	t.Logf("restart of %s: VIP gone %v after the request, back %v after it; first write through it %v after it came back",
		old.name, gone.Sub(t0).Round(time.Millisecond), back.Sub(t0).Round(time.Millisecond), d.Round(time.Millisecond))
	waitFor(t, 10*time.Second, old.name+"'s on_restart primary", func() error {
		if !slices.Contains(events(old), "on_restart primary "+scope) {
			return fmt.Errorf("%s recorded %q", old.name, events(old))
		}
		return nil
	})
	if ev := events(old); slices.Contains(ev, "on_stop primary "+scope) || strings.Count(strings.Join(ev, "\n"), "on_start") != 1 {
		t.Errorf("%s recorded %q: a restart is one on_restart, no on_stop and no second on_start", old.name, ev)
	}

	// 2. Planned switchover, once the replicas stream again after the restart.
	if leader := waitConverged(b.c, 30*time.Second); leader != old {
		t.Fatalf("leader after the restart: %s, want %s", leader.name, old.name)
	}
	cand := b.others(old)[0]
	waitReportedWithin1MB(t, cand)
	t1 := time.Now()
	if out, err := old.conclaveHere("switchover", scope, "--leader", old.name, "--candidate", cand.name, "--force"); err != nil ||
		!strings.Contains(out, `Successfully switched over to "`+cand.name+`"`) {
		t.Fatalf("switchover: %v\n%s", err, out)
	}
	waitFor(t, 15*time.Second, "the floating IP on "+cand.name+" only", func() error {
		if h := s.holders(); !slices.Equal(h, []int{idx(cand)}) {
			return fmt.Errorf("held by %v", h)
		}
		return nil
	})
	lastOld, firstNew := s.handover(idx(old), idx(cand), t1)
	d = client.waitWritesOn(t, cand, firstNew, 15*time.Second)
	t.Logf("switchover %s -> %s: old dropped the VIP %v after the request, new added it %v after; first write through it %v after that",
		old.name, cand.name, lastOld.Sub(t1).Round(time.Millisecond), firstNew.Sub(t1).Round(time.Millisecond), d.Round(time.Millisecond))
	rm, stops := old.logs.indexes(removed...), old.logs.indexes("switchover: stopping PostgreSQL cleanly")
	if len(rm) != 2 || len(stops) != 1 || rm[1] > stops[0] {
		t.Errorf("%s's log: floating IP removals for a planned stop at lines %v, clean stop at %v; want the second removal before the stop", old.name, rm, stops)
	}
	waitFor(t, 10*time.Second, "the switchover's callbacks", func() error {
		if !slices.Contains(events(cand), "on_role_change primary "+scope) {
			return fmt.Errorf("%s recorded %q", cand.name, events(cand))
		}
		if !orderedIn(events(old), "on_restart primary "+scope, "on_stop primary "+scope, "on_role_change replica "+scope) {
			return fmt.Errorf("%s recorded %q", old.name, events(old))
		}
		return nil
	})
	if leader := waitConverged(b.c, 30*time.Second); leader != cand {
		t.Fatalf("leader after the switchover: %s, want %s", leader.name, cand.name)
	}
	b.finish(asyncMode)
	s.neverTwo()
}
