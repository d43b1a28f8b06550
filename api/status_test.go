package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

// newerPatroni turns a Patroni 3.0.2 capture into what newer Patroni prints:
// role "primary" instead of "master", and "name" in the "patroni" block.
func newerPatroni(body any, name string) any {
	m := body.(map[string]any)
	if m["role"] == "master" {
		m["role"] = "primary"
	}
	m["patroni"].(map[string]any)["name"] = name
	return m
}

var pyStrFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00$`)

func TestPatroni_LeaderMatchesTheCapture(t *testing.T) {
	ts := newTestServer(t, leaderNode(), compatCluster(t))
	code, got := ts.getJSON("/patroni")
	if code != http.StatusOK {
		t.Fatalf("GET /patroni = %d", code)
	}
	want := newerPatroni(compatJSON(t, "rest_leader_patroni.txt"), "node2")
	if !jsonEqual(got, want) {
		t.Fatalf("GET /patroni\n got %v\nwant %v", got, want)
	}
	if s := got.(map[string]any)["postmaster_start_time"].(string); !pyStrFormat.MatchString(s) {
		t.Errorf("postmaster_start_time %q not in Patroni's format", s)
	}
}

func TestPatroni_ReplicaMatchesTheCapture(t *testing.T) {
	ts := newTestServer(t, replicaNode(), compatCluster(t))
	_, got := ts.getJSON("/patroni")
	want := newerPatroni(compatJSON(t, "rest_replica_patroni.txt"), "node1").(map[string]any)
	// Newer Patroni (3.0.4+) adds replication_state for replicas.
	want["replication_state"] = "streaming"
	if !jsonEqual(got, want) {
		t.Fatalf("GET /patroni\n got %v\nwant %v", got, want)
	}
}

func TestPatroni_OptionalFields(t *testing.T) {
	node := replicaNode()
	node.PendingRestart = true
	node.Tags = map[string]any{"nofailover": true}
	node.ReplayedTimestamp = ts("2026-11-26 21:26:58+00:00")
	node.ReplayPaused = true
	node.Raft = RaftStatus{State: "Follower", Term: 3, Leader: "node2", CommitIndex: 40, AppliedIndex: 39, Voters: 3}
	st := compatCluster(t)
	st.Config["pause"] = true
	st.Config["synchronous_mode"] = true
	st.Sync = fsm.Sync{Leader: "node2", Members: []string{"node1"}}
	st.Leader = nil
	srv := newTestServer(t, node, st)
	_, got := srv.getJSON("/patroni")
	m := got.(map[string]any)
	for key, want := range map[string]any{
		"pending_restart":  true,
		"pause":            true,
		"sync_standby":     true,
		"cluster_unlocked": true,
		"tags":             map[string]any{"nofailover": true},
		"raft": map[string]any{"state": "Follower", "term": 3.0, "leader": "node2",
			"commit_index": 40.0, "applied_index": 39.0, "voters": 3.0},
		"xlog": map[string]any{"received_location": 67108864.0, "replayed_location": 67108864.0,
			"replayed_timestamp": "2026-11-26 21:26:58+00:00", "paused": true},
	} {
		if !reflect.DeepEqual(m[key], want) {
			t.Errorf("%s = %#v, want %#v", key, m[key], want)
		}
	}
}

func TestPatroni_StoppedNodeShowsOnlyWhatPatroniShows(t *testing.T) {
	node := replicaNode()
	node.State = "stopped"
	srv := newTestServer(t, node, compatCluster(t))
	_, got := srv.getJSON("/patroni")
	want := map[string]any{
		"state": "stopped", "role": "replica", "dcs_last_seen": 1795728418.0,
		"database_system_identifier": "7712594815253989143",
		"patroni":                    map[string]any{"version": "3.0.2", "scope": "anchor", "name": "node1"},
	}
	if !reflect.DeepEqual(got, any(want)) {
		t.Fatalf("GET /patroni\n got %v\nwant %v", got, want)
	}
}

func TestCluster_MatchesTheCapture(t *testing.T) {
	for _, file := range []string{"rest_leader_cluster.txt", "rest_replica_cluster.txt"} {
		srv := newTestServer(t, replicaNode(), compatCluster(t))
		code, got := srv.getJSON("/cluster")
		if code != http.StatusOK {
			t.Fatalf("GET /cluster = %d", code)
		}
		m := got.(map[string]any)
		// Conclave and newer Patroni additions.
		if m["scope"] != "anchor" || m["system_identifier"] != "7712594815253989143" {
			t.Errorf("scope/system_identifier = %v/%v", m["scope"], m["system_identifier"])
		}
		delete(m, "scope")
		delete(m, "system_identifier")
		if want := compatJSON(t, file); !jsonEqual(m, want) {
			t.Fatalf("%s: GET /cluster\n got %v\nwant %v", file, m, want)
		}
	}
}

func TestCluster_RolesLagPauseAndSchedule(t *testing.T) {
	st := compatCluster(t)
	st.Config["pause"] = true
	st.Config["synchronous_mode"] = true
	st.Sync = fsm.Sync{Leader: "node2", Members: []string{"node3"}}
	m1 := st.Members["node1"]
	m1.WALPosition = 67108864 - 100
	m1.PendingRestart = true
	m1.Tags = map[string]any{"nofailover": true}
	st.Members["node1"] = m1
	st.Members["node4"] = fsm.Member{Name: "node4", Role: fsm.RoleUninitialized, State: "creating replica",
		APIURL: "http://127.0.0.1:25804/patroni"}
	at := time.Date(2026, 11, 26, 22, 0, 0, 0, time.UTC)
	st.Pending = &fsm.Pending{Kind: "switchover", Leader: "node2", Candidate: "node3", ScheduledAt: &at}
	srv := newTestServer(t, leaderNode(), st)
	_, got := srv.getJSON("/cluster")
	m := got.(map[string]any)
	members := m["members"].([]any)
	byName := map[string]map[string]any{}
	var names []string
	for _, x := range members {
		mm := x.(map[string]any)
		byName[mm["name"].(string)] = mm
		names = append(names, mm["name"].(string))
	}
	if !reflect.DeepEqual(names, []string{"node1", "node2", "node3", "node4"}) {
		t.Errorf("members not sorted by name: %v", names)
	}
	checks := []struct {
		member, key string
		want        any
	}{
		{"node1", "role", "replica"}, {"node1", "lag", 100.0}, {"node1", "pending_restart", true},
		{"node1", "tags", map[string]any{"nofailover": true}},
		{"node2", "role", "leader"}, {"node2", "lag", nil},
		{"node3", "role", "sync_standby"}, {"node3", "lag", 0.0},
		{"node4", "role", "replica"}, {"node4", "state", "creating replica"}, {"node4", "lag", "unknown"},
		{"node4", "host", nil}, {"node4", "port", nil}, {"node4", "timeline", nil},
	}
	for _, c := range checks {
		if got := byName[c.member][c.key]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s.%s = %#v, want %#v", c.member, c.key, got, c.want)
		}
	}
	if m["pause"] != true {
		t.Errorf("pause = %v, want true", m["pause"])
	}
	want := map[string]any{"at": "2026-11-26T22:00:00+00:00", "from": "node2", "to": "node3"}
	if !reflect.DeepEqual(m["scheduled_switchover"], any(want)) {
		t.Errorf("scheduled_switchover = %v, want %v", m["scheduled_switchover"], want)
	}
}

// /cluster names the Raft servers no member record names (a half-failed
// eviction leaves one), each with its role; with none the key is absent,
// as in Patroni.
func TestCluster_ListsRaftServersWithoutMemberRecord(t *testing.T) {
	st := compatCluster(t)
	for name, addr := range map[string]string{"node1": "h1:1", "node2": "h2:1", "node3": "h3:1"} {
		m := st.Members[name]
		m.RaftAddr = addr
		st.Members[name] = m
	}
	node := leaderNode()
	node.Raft.Roles = map[string]string{"h1:1": "voter", "h2:1": "leader", "h3:1": "voter"}
	if _, got := newTestServer(t, node, st).getJSON("/cluster"); got.(map[string]any)["raft_servers_without_member"] != nil {
		t.Errorf("every Raft server has a record: raft_servers_without_member = %v, want absent", got.(map[string]any)["raft_servers_without_member"])
	}
	node.Raft.Roles["h5:1"] = "non-voter"
	node.Raft.Roles["h4:1"] = "voter"
	_, got := newTestServer(t, node, st).getJSON("/cluster")
	want := []any{
		map[string]any{"raft_addr": "h4:1", "raft_role": "voter"},
		map[string]any{"raft_addr": "h5:1", "raft_role": "non-voter"},
	}
	if have := got.(map[string]any)["raft_servers_without_member"]; !reflect.DeepEqual(have, any(want)) {
		t.Errorf("raft_servers_without_member = %v, want %v", have, want)
	}
}

func TestHistory_MatchesTheCapture(t *testing.T) {
	st := compatCluster(t)
	srv := newTestServer(t, leaderNode(), st)
	if _, got := srv.getJSON("/history"); !jsonEqual(got, compatJSON(t, "rest_leader_history.txt")) {
		t.Fatalf("empty history = %v, want []", got)
	}
	st.History = []fsm.HistoryEntry{
		{Timeline: 1, LSN: 67109200, Reason: "no recovery target specified",
			Timestamp: *ts("2026-11-26 21:51:36.728913+00:00"), NewLeader: "node2"},
		{Timeline: 2, LSN: 67109424, Reason: "no recovery target specified",
			Timestamp: *ts("2026-11-26 21:52:18.284912+00:00"), NewLeader: "node3"},
	}
	srv = newTestServer(t, leaderNode(), st)
	if _, got := srv.getJSON("/history"); !jsonEqual(got, compatJSON(t, "rest_leader_history_after_events.txt")) {
		t.Fatalf("GET /history = %v\nwant %v", got, compatJSON(t, "rest_leader_history_after_events.txt"))
	}
}

func TestPyTime_PrintsMicrosecondsOnlyWhenSet(t *testing.T) {
	at := time.Date(2026, 11, 26, 21, 26, 55, 871530000, time.FixedZone("CET", 3600))
	if got, want := pyStr(at), "2026-11-26 20:26:55.871530+00:00"; got != want {
		t.Errorf("pyStr = %q, want %q", got, want)
	}
	if got, want := Isoformat(at.Truncate(time.Second)), "2026-11-26T20:26:55+00:00"; got != want {
		t.Errorf("Isoformat = %q, want %q", got, want)
	}
}
