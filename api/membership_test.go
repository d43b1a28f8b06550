package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type fakeMembership struct {
	join  []JoinRequest
	leave []LeaveRequest
	err   error
}

func (f *fakeMembership) Join(_ context.Context, req JoinRequest) (JoinAnswer, error) {
	f.join = append(f.join, req)
	return JoinAnswer{Servers: []string{"10.0.0.1:5010"}, CatchUpIndex: 42}, f.err
}

func (f *fakeMembership) Leave(_ context.Context, req LeaveRequest) error {
	f.leave = append(f.leave, req)
	return f.err
}

func TestMembership_JoinAndLeave_MapAnswersAndErrors(t *testing.T) {
	ts := newTestServer(t, replicaNode(), compatCluster(t))
	if rec := ts.do(http.MethodPost, "/members", `{"name":"n4","scope":"demo","raft_addr":"h:1"}`); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("POST /members without a Membership: %d, want 503", rec.Code)
	}
	m := &fakeMembership{}
	ts.srv.cfg.Membership = m
	rec := ts.do(http.MethodPost, "/members", `{"name":"n4","scope":"demo","raft_addr":"h:1"}`)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"catch_up_index":42`) || len(m.join) != 1 || m.join[0].RaftAddr != "h:1" {
		t.Errorf("POST /members: %d %s %+v", rec.Code, rec.Body, m.join)
	}
	if rec := ts.do(http.MethodPost, "/members", `{"name":"n4","raft":"h:1"}`); rec.Code != http.StatusBadRequest || len(m.join) != 1 {
		t.Errorf("POST /members with an unknown field: %d, want 400 and no call", rec.Code)
	}
	if rec := ts.do(http.MethodPost, "/leave", ``); rec.Code != http.StatusAccepted || len(m.leave) != 1 || m.leave[0] != (LeaveRequest{}) {
		t.Errorf("POST /leave: %d %+v", rec.Code, m.leave)
	}
	if rec := ts.do(http.MethodPost, "/leave", `{"member":"n3","force":true}`); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "n3 evicted") {
		t.Errorf("POST /leave force: %d %s", rec.Code, rec.Body)
	}
	// A Raft server without a member record is evicted by its address.
	if rec := ts.do(http.MethodPost, "/leave", `{"member":"10.0.0.4:5010","force":true}`); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), "10.0.0.4:5010 evicted") || m.leave[len(m.leave)-1] != (LeaveRequest{Member: "10.0.0.4:5010", Force: true}) {
		t.Errorf("POST /leave force with an address: %d %s %+v", rec.Code, rec.Body, m.leave)
	}
	if rec := ts.do(http.MethodPost, "/leave", `{"member":"n3","check":true}`); rec.Code != http.StatusOK || !m.leave[len(m.leave)-1].Check {
		t.Errorf("POST /leave check: %d %s %+v", rec.Code, rec.Body, m.leave)
	}
	for _, c := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("%w: primary", ErrMembershipConflict), http.StatusConflict},
		{fmt.Errorf("%w: bad name", ErrMembershipInvalid), http.StatusBadRequest},
	} {
		m.err = c.err
		if rec := ts.do(http.MethodPost, "/leave", `{}`); rec.Code != c.code || !strings.Contains(rec.Body.String(), c.err.Error()) {
			t.Errorf("POST /leave with %v: %d %s, want %d", c.err, rec.Code, rec.Body, c.code)
		}
	}
}
