//go:build integration

package integration

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nft runs nft inside node i's namespace.
func (tb *testbed) nft(i int, args ...string) {
	tb.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", tb.nodes[i-1], "nft"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.t.Fatalf("nft %s in %s: %v\n%s", strings.Join(args, " "), tb.nodes[i-1], err, out)
	}
}

func needNft(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		skipOrFail(t, "nft (nftables) is missing; .ci/run installs it")
	}
}

// Failsafe mode (failsafe_mode: true): the primary's Raft traffic is cut
// while its REST API and replication stay reachable. It cannot renew its
// lease through Raft, but every member accepts its POST /failsafe
// heartbeat, so it keeps running and nobody takes over. Once one member's
// API is cut too, failsafe ends: the primary fences and the others take
// over. Never two writable nodes, nothing acknowledged lost.
func TestFailsafeMode_RaftCutButAPIsReachable_PrimaryKeepsRunning(t *testing.T) {
	needNetns(t)
	needNft(t)
	tb := newTestbed(t, 3)
	b := setUp(t, clusterOptions{dcs: "    failsafe_mode: true", serial: true}, tb) // writes every 800 ms
	old := b.leader
	idx := b.c.nodeIndex(old)
	others := b.others(old)
	var raftPorts []string
	for _, n := range others {
		raftPorts = append(raftPorts, strconv.Itoa(n.raftPort))
	}
	tb.nft(idx, "add", "table", "inet", "cvfault")
	tb.nft(idx, "add", "chain", "inet", "cvfault", "out", "{ type filter hook output priority 0; policy accept; }")
	tb.nft(idx, "add", "chain", "inet", "cvfault", "in", "{ type filter hook input priority 0; policy accept; }")
	tb.nft(idx, "add", "rule", "inet", "cvfault", "out", "tcp", "dport", "{ "+strings.Join(raftPorts, ", ")+" }", "drop")
	tb.nft(idx, "add", "rule", "inet", "cvfault", "in", "tcp", "dport", strconv.Itoa(old.raftPort), "drop")
	t0 := time.Now()
	t.Logf("cut %s's Raft traffic (ports %v and %d); REST APIs stay reachable", old.name, raftPorts, old.raftPort)

	holdsFor(t, 4*ttl, old.name+" stays the only writable node", func() error {
		last, ok := b.p.lastSuccess(old.name)
		if !ok || time.Since(last) > 800*time.Millisecond {
			return fmt.Errorf("%s stopped accepting writes (last at %v)", old.name, last.Sub(t0))
		}
		for _, n := range others {
			if at, ok := b.p.firstSuccessAfter(n.name, t0); ok {
				return fmt.Errorf("%s became writable %v after the cut", n.name, at.Sub(t0))
			}
		}
		return nil
	})
	var patroni struct {
		Raft struct {
			Leader string `json:"leader"`
		} `json:"raft"`
	}
	getJSONWith(others[0].http(), others[0].apiURL()+"/patroni", &patroni)
	t.Logf("after %v in failsafe: %s still the only writable node; Raft leader now %q",
		time.Since(t0).Round(time.Millisecond), old.name, patroni.Raft.Leader)

	// Cut one member's REST API too: failsafe can no longer reach every member.
	tb.nft(idx, "add", "rule", "inet", "cvfault", "out", "tcp", "dport", strconv.Itoa(others[0].apiPort), "drop")
	t1 := time.Now()
	newLeader := waitLeaderAmong(t, b.c, others, old, 30*time.Second)
	b.assertHandedOver(old, newLeader, t1, "the API cut")

	tb.nft(idx, "delete", "table", "inet", "cvfault")
	leader := waitConverged(b.c, 90*time.Second)
	if leader == old {
		t.Errorf("%s leads again after heal", old.name)
	}
	assertReplica(t, old)
	assertRewoundOrCloned(t, old, leader)
	b.finish(asyncMode)
	b.assertHandedOver(old, newLeader, t1, "the API cut (whole run)")
}
