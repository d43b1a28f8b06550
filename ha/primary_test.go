package ha

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// withdrawRecorder is a Config.Withdraw that records the call in pg's log
// together with what PrimaryUntil answered at that moment.
func withdrawRecorder(l *Loop, pg *fakePG, err error) {
	l.cfg.Withdraw = func(context.Context) error {
		if l.PrimaryUntil().IsZero() {
			pg.record("withdraw")
		} else {
			pg.record("withdraw-while-PrimaryUntil-set")
		}
		return err
	}
}

// A planned switchover removes the floating IP while PostgreSQL still runs
// as primary, strictly before the clean stop and so before the HandOver
// the candidate's acquire depends on.
func TestLoop_Switchover_WithdrawsTheEndpointBeforeTheCleanStop(t *testing.T) {
	l, c, pg := newSwitchoverLeader(t, nil)
	if l.PrimaryUntil().IsZero() {
		t.Fatal("the primary under a trusted lease has no PrimaryUntil before the switchover")
	}
	withdrawRecorder(l, pg.fakePG, nil)
	pg.mu.Lock()
	pg.calls = nil
	pg.mu.Unlock()
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(pg.log(), " "); !strings.HasPrefix(got, "withdraw stop-for-hand-over") {
		t.Fatalf("calls %q: want the endpoint withdrawn (with PrimaryUntil zero) before the clean stop", got)
	}
	if !c.State().Pending.HandedOver() || !l.PrimaryUntil().IsZero() {
		t.Fatalf("after the hand-over: pending %+v, PrimaryUntil %v", c.State().Pending, l.PrimaryUntil())
	}
}

// When the floating IP cannot be removed, nothing is stopped or handed
// over: the primary keeps the key, the request is cancelled, and the
// endpoint is offered again from the turn's own observation.
func TestLoop_Switchover_WithdrawFails_NothingStoppedRequestCancelled(t *testing.T) {
	l, c, pg := newSwitchoverLeader(t, nil)
	withdrawRecorder(l, pg.fakePG, errors.New("netlink: operation not permitted"))
	ctx := context.Background()
	l.turn(ctx)
	if pg.called("stop-for-hand-over") || c.State().LeaderName() != "n1" {
		t.Fatalf("calls %v, leader %q: want no stop and the key kept", pg.log(), c.State().LeaderName())
	}
	if l.PrimaryUntil().IsZero() {
		t.Error("PrimaryUntil stays zero after the failed hand-over although PostgreSQL still runs as primary")
	}
	l.turn(ctx)
	if st := c.State(); st.Pending != nil {
		t.Fatalf("the failed request is still pending: %+v", st.Pending)
	}
}

// A restart in place of the primary withdraws the endpoint before the stop
// and offers it again once the turn saw PostgreSQL running as primary under
// the trusted lease; a replica's restart withdraws nothing.
func TestLoop_Restart_Primary_WithdrawsTheEndpointFirstAndOffersItAfter(t *testing.T) {
	l, _, pg, _ := newLeader(t, nil, nil)
	withdrawRecorder(l, pg, nil)
	pg.mu.Lock()
	pg.calls = nil
	pg.mu.Unlock()
	done := request(t, l, func() error { return l.Restart(context.Background(), Operation{}) })
	if _, err := l.turn(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("restart: %v", err)
	}
	if got := strings.Join(pg.log(), " "); got != "withdraw stop start" {
		t.Fatalf("calls %q, want the endpoint withdrawn (with PrimaryUntil zero), then stop and start", got)
	}
	if l.PrimaryUntil().IsZero() {
		t.Fatal("PrimaryUntil zero after the restart: the floating IP would not come back")
	}
}

// restartMarkerPG records the restart bracket around the steps.
type restartMarkerPG struct{ *fakePG }

func (p restartMarkerPG) BeginRestart() { p.record("begin-restart") }
func (p restartMarkerPG) EndRestart(ok bool) {
	p.record("end-restart-" + map[bool]string{true: "ok", false: "failed"}[ok])
}

func TestLoop_Restart_BracketedForTheCallbacks(t *testing.T) {
	l, _, pg, _ := newLeader(t, nil, nil)
	l.pg = restartMarkerPG{pg}
	pg.mu.Lock()
	pg.calls = nil
	pg.mu.Unlock()
	done := request(t, l, func() error { return l.Restart(context.Background(), Operation{}) })
	l.turn(context.Background())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(pg.log(), " "); got != "begin-restart stop start end-restart-ok" {
		t.Fatalf("calls %q", got)
	}
}
