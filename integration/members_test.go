//go:build integration

package integration

// F24: a member that is gone for good. Shown stopped with unknown lag
// within ttl + loop_wait (DESIGN.md rule 6), its replication slot kept for
// member_slots_ttl and then dropped, and the member removed from the list
// after the grace period max(member_slots_ttl, 10 ttl) (ha/members.go).

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	loopWait       = 1 * time.Second
	memberSlotsTTL = 10 * time.Second
	memberGrace    = 10 * ttl // max(member_slots_ttl 10 s, 10 ttl)
)

// slotExists reports whether the primary has a replication slot named slot.
func slotExists(n *node, slot string) (bool, error) {
	v, err := n.queryString(fmt.Sprintf("SELECT count(*)::text FROM pg_replication_slots WHERE slot_name = '%s'", slot))
	return v == "1", err
}

// listRow returns the cells of member's row in `conclave list` run against n.
func listRow(n *node, member string) ([]string, error) {
	out, err := n.conclave("list")
	if err != nil {
		return nil, fmt.Errorf("conclave list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 6 && strings.TrimSpace(cells[1]) == member {
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			return cells[1:7], nil // member, host, role, state, TL, lag
		}
	}
	return nil, fmt.Errorf("%s not in list:\n%s", member, out)
}

func metricsOf(n *node) (string, error) {
	resp, err := n.http().Get(n.apiURL() + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestMemberGoneForGood_ShownStoppedThenSlotDroppedThenRemoved(t *testing.T) {
	c := newCluster(t, 3, clusterOptions{dcs: fmt.Sprintf("    member_slots_ttl: %ds", int(memberSlotsTTL.Seconds())), serial: true}) // shown stopped within a bound
	c.startAll()
	leader := c.waitHealthy(90 * time.Second)
	var victim, other *node
	for _, n := range c.nodes {
		switch {
		case n == leader:
		case victim == nil:
			victim = n
		default:
			other = n
		}
	}
	if v, err := leader.queryString("SHOW max_slot_wal_keep_size"); err != nil || v != "4GB" {
		t.Errorf("max_slot_wal_keep_size = %q, %v; want the bounded default 4GB", v, err)
	}
	waitFor(t, 30*time.Second, "the primary's slot for "+victim.name, func() error {
		if ok, err := slotExists(leader, victim.name); !ok {
			return fmt.Errorf("no slot %s (%v)", victim.name, err)
		}
		return nil
	})

	t0 := crashNode(t, victim)

	// 1. Shown stopped, lag unknown, on every surviving node, within
	// ttl + loop_wait (+ 1.5 s for the test's own polling and a busy machine).
	bound := ttl + loopWait + 1500*time.Millisecond
	waitFor(t, bound, victim.name+" shown stopped with unknown lag everywhere", func() error {
		for _, n := range []*node{leader, other} {
			cl, err := n.cluster()
			if err != nil {
				return err
			}
			for _, m := range cl.Members {
				if m.Name == victim.name && (m.State != "stopped" || m.Lag != "unknown") {
					return fmt.Errorf("%s's /cluster shows %s %s with lag %v", n.name, m.Name, m.State, m.Lag)
				}
			}
		}
		return nil
	})
	shown := time.Since(t0)
	t.Logf("%s shown stopped %v after the crash", victim.name, shown.Round(time.Millisecond))
	if shown > bound {
		t.Errorf("%s shown stopped only %v after the crash, want within %v", victim.name, shown, bound)
	}
	for _, n := range []*node{leader, other} {
		row, err := listRow(n, victim.name)
		if err != nil {
			t.Fatal(err)
		}
		if row[3] != "stopped" || row[5] != "unknown" {
			t.Errorf("conclave list against %s: %v, want state stopped and lag unknown", n.name, row)
		}
		// The live replica stays shown as streaming (its receiver may be
		// reconnecting at the moment of one read on a loaded machine).
		waitFor(t, 10*time.Second, "conclave list against "+n.name+" shows the live replica streaming", func() error {
			if row, err := listRow(n, other.name); err != nil || row[3] != "streaming" {
				return fmt.Errorf("%v (%v)", row, err)
			}
			return nil
		})
	}
	metrics, err := metricsOf(leader)
	if err != nil {
		t.Fatal(err)
	}
	for member, want := range map[string]string{victim.name: "0", other.name: "1"} {
		re := regexp.MustCompile(`(?m)^conclave_member_reporting\{[^}]*member="` + member + `"[^}]*\} (\S+)$`)
		if m := re.FindStringSubmatch(metrics); m == nil || m[1] != want {
			t.Errorf("leader's conclave_member_reporting for %s = %v, want %s", member, m, want)
		}
	}

	// 2. The slot is kept for member_slots_ttl, then dropped.
	if ok, err := slotExists(leader, victim.name); !ok && time.Since(t0) < memberSlotsTTL-2*loopWait {
		t.Errorf("slot %s dropped %v after the crash, before member_slots_ttl (%v): %v", victim.name, time.Since(t0), memberSlotsTTL, err)
	}
	waitFor(t, memberSlotsTTL+5*time.Second, "slot "+victim.name+" dropped", func() error {
		if ok, err := slotExists(leader, victim.name); ok || err != nil {
			return fmt.Errorf("slot still there (%v)", err)
		}
		return nil
	})
	dropped := time.Since(t0)
	t.Logf("slot %s dropped %v after the crash", victim.name, dropped.Round(time.Millisecond))
	// Silence counts from the last report, up to a loop turn before the crash.
	if dropped < memberSlotsTTL-2*loopWait {
		t.Errorf("slot dropped %v after the crash, before member_slots_ttl %v", dropped, memberSlotsTTL)
	}
	if ok, _ := slotExists(leader, other.name); !ok {
		t.Errorf("the live replica %s lost its slot", other.name)
	}

	// 3. The member leaves the list after the grace period, everywhere.
	waitFor(t, memberGrace+10*time.Second, victim.name+" gone from every /cluster", func() error {
		for _, n := range []*node{leader, other} {
			cl, err := n.cluster()
			if err != nil {
				return err
			}
			for _, m := range cl.Members {
				if m.Name == victim.name {
					return fmt.Errorf("%s still lists it (%s)", n.name, m.State)
				}
			}
			if len(cl.Members) != 2 {
				return fmt.Errorf("%s lists %d members", n.name, len(cl.Members))
			}
		}
		return nil
	})
	removed := time.Since(t0)
	t.Logf("%s removed from the list %v after the crash", victim.name, removed.Round(time.Millisecond))
	if removed < memberGrace-2*loopWait {
		t.Errorf("removed %v after the crash, before the grace period %v", removed, memberGrace)
	}
	if out, err := other.conclave("list"); err != nil || strings.Contains(out, victim.name) {
		t.Errorf("conclave list still names %s (%v):\n%s", victim.name, err, out)
	}
	// The rest of the cluster is untouched.
	if role, state, _, err := leader.member(leader.name); err != nil || role != "leader" || state != "running" {
		t.Errorf("leader %s is %s/%s (%v) after the removal", leader.name, role, state, err)
	}
	if _, state, _, err := leader.member(other.name); err != nil || state != "streaming" {
		t.Errorf("replica %s is %s (%v) after the removal", other.name, state, err)
	}
}
