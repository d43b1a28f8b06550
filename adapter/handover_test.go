package adapter

import (
	"context"
	"os"
	"strings"
	"testing"
)

func controlData(t *testing.T, state string) []byte {
	t.Helper()
	b, err := os.ReadFile("../pgctl/testdata/pg_controldata_shutdown.txt")
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.Replace(string(b), "shut down", state, 1))
}

func TestStopForHandOver_CleanShutdown_ReturnsTheCheckpoint(t *testing.T) {
	r := &fakeRunner{started: make(chan string, 16), output: map[string][]byte{}}
	p, _ := newTestAdapter(t, r)
	r.output["pg_controldata"] = controlData(t, "shut down")
	lsn, err := p.StopForHandOver(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if lsn == 0 {
		t.Fatal("no checkpoint LSN")
	}
	var calls []string
	for len(r.started) > 0 {
		calls = append(calls, <-r.started)
	}
	if strings.Join(calls, ",") != "pg_ctl stop,pg_controldata -D" {
		t.Errorf("calls %v, want a (fast) stop then pg_controldata", calls)
	}
	if p.PostmasterRunning() {
		t.Error("the postmaster still runs")
	}
}

func TestStopForHandOver_NotCleanlyShutDown_Fails(t *testing.T) {
	for _, state := range []string{"in production", "shut down in recovery"} {
		r := &fakeRunner{started: make(chan string, 16), output: map[string][]byte{}}
		p, _ := newTestAdapter(t, r)
		r.output["pg_controldata"] = controlData(t, state)
		if _, err := p.StopForHandOver(context.Background()); err == nil || !strings.Contains(err.Error(), "did not shut down cleanly") {
			t.Errorf("pg_control %q: %v, want a refusal", state, err)
		}
	}
}
