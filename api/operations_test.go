package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conclave-ha/conclave/fsm"
)

// fakeOperator records the requests and answers with err.
type fakeOperator struct {
	restarts  []RestartRequest
	scheduled []RestartRequest
	cancelled bool
	reloads   int
	reinits   []bool
	err       error
}

func (f *fakeOperator) Restart(_ context.Context, r RestartRequest) error {
	f.restarts = append(f.restarts, r)
	return f.err
}

func (f *fakeOperator) ScheduleRestart(r RestartRequest) error {
	f.scheduled = append(f.scheduled, r)
	return f.err
}

func (f *fakeOperator) CancelScheduledRestart() bool { return f.cancelled }

func (f *fakeOperator) Reload(context.Context) error { f.reloads++; return f.err }

func (f *fakeOperator) Reinitialize(_ context.Context, force bool) error {
	f.reinits = append(f.reinits, force)
	return f.err
}

func newOperatorServer(t *testing.T, op *fakeOperator, paused bool) *testServer {
	t.Helper()
	state := fsm.State{Config: map[string]any{"pause": paused}}
	ts := &testServer{t: t, src: &fakeSource{state: state}, writer: &fakeWriter{}, reg: prometheus.NewRegistry()}
	srv, err := New(Config{Source: ts.src, Config: ts.writer, Registry: ts.reg, Operator: op})
	if err != nil {
		t.Fatal(err)
	}
	srv.now = func() time.Time { return testNow }
	ts.srv = srv
	return ts
}

func TestRestart_BodiesAndAnswers(t *testing.T) {
	future := testNow.Add(time.Hour).Format(time.RFC3339)
	cases := []struct {
		name     string
		body     string
		paused   bool
		opErr    error
		code     int
		text     string // substring of the body
		restarts int
		schedule int
	}{
		{"NoBody_RestartsNow", "", false, nil, 200, "restarted successfully", 1, 0},
		{"Filters_Passed", `{"role":"master","postgres_version":"15.2","restart_pending":true,"timeout":30}`, false, nil, 200, "restarted", 1, 0},
		{"Refused_503WithReason", `{"restart_pending":true}`, false, errors.New("restart conditions are not satisfied"), 503, "restart conditions are not satisfied", 1, 0},
		{"BadRole_400", `{"role":"leader"}`, false, nil, 400, "PostgreSQL role should be either primary or replica", 0, 0},
		{"UnknownKey_400", `{"sheduled":"x"}`, false, nil, 400, "Unknown filter for the scheduled restart: sheduled", 0, 0},
		{"BadVersion_400", `{"postgres_version":"fifteen"}`, false, nil, 400, "Invalid PostgreSQL version format", 0, 0},
		{"BadTimeout_400", `{"timeout":-1}`, false, nil, 400, "Timeout should be a positive number of seconds", 0, 0},
		{"NotJSON_400", `[1`, false, nil, 400, "JSON object", 0, 0},
		{"Schedule_202", `{"schedule":"` + future + `"}`, false, nil, 202, "Restart scheduled", 0, 1},
		{"ScheduleTwice_409", `{"schedule":"` + future + `"}`, false, ErrRestartScheduled, 409, "Another restart is already scheduled", 0, 1},
		{"ScheduleInPast_422", `{"schedule":"2000-01-01T00:00:00+00:00"}`, false, nil, 422, "Cannot schedule restart in the past", 0, 0},
		{"ScheduleWithoutZone_400", `{"schedule":"2099-01-01T00:00:00"}`, false, nil, 400, "Timezone information is mandatory", 0, 0},
		{"ScheduleGarbage_422", `{"schedule":"tomorrow"}`, false, nil, 422, "Unable to parse scheduled timestamp", 0, 0},
		{"SchedulePaused_400", `{"schedule":"` + future + `"}`, true, nil, 400, "Can't schedule restart in the paused state", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := &fakeOperator{err: c.opErr}
			ts := newOperatorServer(t, op, c.paused)
			rec := ts.do(http.MethodPost, "/restart", c.body)
			if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.text) {
				t.Fatalf("POST /restart %s: %d %q, want %d with %q", c.body, rec.Code, rec.Body.String(), c.code, c.text)
			}
			if len(op.restarts) != c.restarts || len(op.scheduled) != c.schedule {
				t.Fatalf("restarts %d scheduled %d, want %d and %d", len(op.restarts), len(op.scheduled), c.restarts, c.schedule)
			}
		})
	}
}

func TestRestart_FiltersReachTheOperator(t *testing.T) {
	op := &fakeOperator{}
	ts := newOperatorServer(t, op, false)
	ts.do(http.MethodPost, "/restart", `{"role":"replica","postgres_version":"15.2","restart_pending":true,"timeout":"1min"}`)
	want := RestartRequest{Role: "replica", PostgresVersion: "15.2", BelowVersion: 150002, RestartPending: true, Timeout: time.Minute}
	if len(op.restarts) != 1 || op.restarts[0] != want {
		t.Fatalf("operator got %+v, want %+v", op.restarts, want)
	}
}

func TestPostgresVersionNum(t *testing.T) {
	for in, want := range map[string]int{"15": 150000, "15.2": 150002, "9.6.3": 90603, "9.6": 90600} {
		if got, err := postgresVersionNum(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "9", "15.2.1", "x.1", "-1.2"} {
		if _, err := postgresVersionNum(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDeleteRestart_Answers(t *testing.T) {
	op := &fakeOperator{cancelled: true}
	ts := newOperatorServer(t, op, false)
	if rec := ts.do(http.MethodDelete, "/restart", ""); rec.Code != 200 || rec.Body.String() != "scheduled restart deleted" {
		t.Fatalf("DELETE /restart: %d %q", rec.Code, rec.Body.String())
	}
	op.cancelled = false
	if rec := ts.do(http.MethodDelete, "/restart", ""); rec.Code != 404 || rec.Body.String() != "no restarts are scheduled" {
		t.Fatalf("DELETE /restart without one: %d %q", rec.Code, rec.Body.String())
	}
}

func TestReloadAndReinitialize_Answers(t *testing.T) {
	op := &fakeOperator{}
	ts := newOperatorServer(t, op, false)
	if rec := ts.do(http.MethodPost, "/reload", ""); rec.Code != 202 || rec.Body.String() != "reload scheduled" || op.reloads != 1 {
		t.Fatalf("POST /reload: %d %q", rec.Code, rec.Body.String())
	}
	if rec := ts.do(http.MethodPost, "/reinitialize", `{"force":true}`); rec.Code != 200 || rec.Body.String() != "reinitialize started" || len(op.reinits) != 1 || !op.reinits[0] {
		t.Fatalf("POST /reinitialize: %d %q %v", rec.Code, rec.Body.String(), op.reinits)
	}
	if rec := ts.do(http.MethodPost, "/reinitialize", `{"force":"yes"}`); rec.Code != 400 || len(op.reinits) != 1 {
		t.Fatalf("POST /reinitialize with a bad force: %d %q", rec.Code, rec.Body.String())
	}
	op.err = errors.New("I am the leader, can not reinitialize")
	if rec := ts.do(http.MethodPost, "/reinitialize", ""); rec.Code != 503 || rec.Body.String() != "I am the leader, can not reinitialize" {
		t.Fatalf("POST /reinitialize on the leader: %d %q", rec.Code, rec.Body.String())
	}
}

func TestOperations_WithoutOperator_503(t *testing.T) {
	ts := newTestServer(t, NodeStatus{}, fsm.State{})
	for _, path := range []string{"/restart", "/reload", "/reinitialize"} {
		if rec := ts.do(http.MethodPost, path, ""); rec.Code != 503 {
			t.Errorf("POST %s without an operator: %d", path, rec.Code)
		}
	}
}
