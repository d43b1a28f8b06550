package agent

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/conclave-ha/conclave/fsm"
)

// The failsafe heartbeat keeps Patroni's fields and names every member
// asked: a member whose state names another refuses it (api.acceptFailsafe).
func TestHeartbeatBody_NamesTheMembersAsked(t *testing.T) {
	self := fsm.Member{Name: "node1", APIURL: "http://10.0.0.1:8008/patroni", Host: "10.0.0.1", Port: 5432}
	body, err := heartbeatBody(self, []fsm.Member{{Name: "node2"}, {Name: "node3"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name    string   `json:"name"`
		APIURL  string   `json:"api_url"`
		ConnURL string   `json:"conn_url"`
		Members []string `json:"members"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "node1" || got.APIURL != self.APIURL || got.ConnURL != "postgres://10.0.0.1:5432/postgres" ||
		!slices.Equal(got.Members, []string{"node2", "node3"}) {
		t.Fatalf("heartbeat body %s", body)
	}
}
