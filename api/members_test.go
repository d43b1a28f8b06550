package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// F24: a replica killed for good kept showing "streaming, lag 0". A member
// silent for longer than ttl (30 s in the capture's config), as measured by
// the node answering, shows stopped with unknown lag.
func TestCluster_MemberSilentLongerThanTTL_ShowsStoppedWithUnknownLag(t *testing.T) {
	node := leaderNode()
	node.MemberSilence = map[string]time.Duration{"node1": 31 * time.Second, "node2": 0, "node3": 29 * time.Second}
	st := compatCluster(t)
	m := st.Members["node1"]
	m.State = "streaming"
	st.Members["node1"] = m
	srv := newTestServer(t, node, st)
	code, got := srv.getJSON("/cluster")
	if code != http.StatusOK {
		t.Fatalf("GET /cluster = %d", code)
	}
	members := map[string]map[string]any{}
	for _, x := range got.(map[string]any)["members"].([]any) {
		mm := x.(map[string]any)
		members[mm["name"].(string)] = mm
	}
	if n1 := members["node1"]; n1["state"] != "stopped" || n1["lag"] != "unknown" || n1["timeline"] != nil {
		t.Errorf("node1 silent 31 s: %v, want state stopped, lag unknown, no timeline", n1)
	}
	if n3 := members["node3"]; n3["state"] != "running" || n3["lag"] != float64(0) {
		t.Errorf("node3 silent 29 s (within ttl): %v, want running with lag 0", n3)
	}
	if n2 := members["node2"]; n2["state"] != "running" || n2["role"] != "leader" {
		t.Errorf("leader node2: %v", n2)
	}
}

func TestCluster_SilenceUnknown_ShowsWhatWasPublished(t *testing.T) {
	srv := newTestServer(t, leaderNode(), compatCluster(t)) // no MemberSilence: nothing observed yet
	_, got := srv.getJSON("/cluster")
	for _, x := range got.(map[string]any)["members"].([]any) {
		if mm := x.(map[string]any); mm["state"] != "running" {
			t.Errorf("%v: state changed without any silence measured", mm)
		}
	}
}

func TestMetrics_PerMemberReporting(t *testing.T) {
	node := leaderNode()
	node.MemberSilence = map[string]time.Duration{"node1": 31 * time.Second, "node2": 0, "node3": 1500 * time.Millisecond}
	srv := newTestServer(t, node, compatCluster(t))
	got := gather(t, srv.reg)
	want := map[string]map[string]float64{
		"conclave_member_reporting":               {"node1": 0, "node2": 1, "node3": 1},
		"conclave_member_last_report_age_seconds": {"node1": 31, "node2": 0, "node3": 1.5},
	}
	for name, byMember := range want {
		mf, ok := got[name]
		if !ok {
			t.Fatalf("%s missing", name)
		}
		if len(mf.GetMetric()) != len(byMember) {
			t.Errorf("%s has %d series, want %d", name, len(mf.GetMetric()), len(byMember))
		}
		for _, m := range mf.GetMetric() {
			var member string
			for _, l := range m.GetLabel() {
				if l.GetName() == "member" {
					member = l.GetValue()
				}
			}
			if v := m.GetGauge().GetValue(); !closeTo(v, byMember[member]) {
				t.Errorf("%s{member=%q} = %v, want %v", name, member, v, byMember[member])
			}
		}
	}
	problems, err := testutil.GatherAndLint(srv.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "conclave_member") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// Rule 6 after the answering agent restarts: a member whose record has not
// changed since (dead for hours, perhaps) shows stopped, not running, even
// though its silence is counted only from the restart.
func TestCluster_MemberNotReportedSinceThisAgentStarted_ShowsStopped(t *testing.T) {
	node := leaderNode()
	node.MemberSilence = map[string]time.Duration{"node1": 2 * time.Second, "node2": 0, "node3": 2 * time.Second}
	node.MemberUnconfirmed = map[string]bool{"node1": true}
	srv := newTestServer(t, node, compatCluster(t))
	_, got := srv.getJSON("/cluster")
	for _, x := range got.(map[string]any)["members"].([]any) {
		mm := x.(map[string]any)
		switch mm["name"] {
		case "node1":
			if mm["state"] != "stopped" || mm["lag"] != "unknown" {
				t.Errorf("node1 not reported since start: %v, want stopped with unknown lag", mm)
			}
		case "node3":
			if mm["state"] != "running" {
				t.Errorf("node3 reported since start: %v, want running", mm)
			}
		}
	}
}
