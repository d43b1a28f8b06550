package api

import (
	"reflect"
	"testing"
)

func TestPatroniAndMetrics_ShowTheFloatingIP(t *testing.T) {
	node := leaderNode()
	srv := newTestServer(t, node, compatCluster(t))
	if _, got := srv.getJSON("/patroni"); got.(map[string]any)["vip"] != nil {
		t.Fatalf("vip shown without a vip: section: %v", got.(map[string]any)["vip"])
	}
	if v := gather(t, srv.reg)["conclave_vip_held"].GetMetric()[0].GetGauge().GetValue(); v != 0 {
		t.Fatalf("conclave_vip_held = %v without a floating IP", v)
	}
	for _, held := range []bool{true, false} {
		node.VIP = &VIPStatus{Address: "10.0.0.10/24", Interface: "eth0", Held: held}
		srv := newTestServer(t, node, compatCluster(t))
		_, got := srv.getJSON("/patroni")
		want := map[string]any{"address": "10.0.0.10/24", "interface": "eth0", "held": held}
		if v := got.(map[string]any)["vip"]; !reflect.DeepEqual(v, want) {
			t.Fatalf("vip = %#v, want %#v", v, want)
		}
		wantMetric := 0.0
		if held {
			wantMetric = 1
		}
		if v := gather(t, srv.reg)["conclave_vip_held"].GetMetric()[0].GetGauge().GetValue(); v != wantMetric {
			t.Fatalf("conclave_vip_held = %v, want %v", v, wantMetric)
		}
	}
}
