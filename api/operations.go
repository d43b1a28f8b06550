package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Operator runs the operator's requests on this node: POST/DELETE /restart,
// POST /reload and POST /reinitialize (Patroni's paths, bodies and answers).
type Operator interface {
	// Restart restarts PostgreSQL now if r's conditions hold. An error is
	// the refusal or failure, worded for the client.
	Restart(ctx context.Context, r RestartRequest) error
	// ScheduleRestart stores r to run at r.Schedule; ErrRestartScheduled if
	// one is scheduled already.
	ScheduleRestart(r RestartRequest) error
	// CancelScheduledRestart deletes the scheduled restart; false if none.
	CancelScheduledRestart() bool
	// Reload re-reads the configuration file and applies it.
	Reload(ctx context.Context) error
	// Reinitialize starts re-cloning this member from the leader.
	Reinitialize(ctx context.Context, force bool) error
}

// ErrRestartScheduled is returned by ScheduleRestart when a restart is
// scheduled already (HTTP 409, as Patroni).
var ErrRestartScheduled = errors.New("Another restart is already scheduled")

// errNoOperator: the node was built without an Operator (503).
var errNoOperator = errors.New("restart, reload and reinitialize are not available on this node")

// RestartRequest is POST /restart's body, checked.
type RestartRequest struct {
	Schedule        time.Time // zero: now
	Role            string    // "primary", "replica" or "" (any)
	PostgresVersion string    // as given, for display
	BelowVersion    int       // restart only when server_version_num is lower (0 = any)
	RestartPending  bool      // restart only when a restart is pending
	Timeout         time.Duration
}

// operationTimeout bounds how long a request waits for its step; below the
// server's write timeout so the client always gets an answer.
const operationTimeout = writeTimeout - 3*time.Second

// writeText answers as Patroni does for these endpoints: a plain text body.
func writeText(w http.ResponseWriter, code int, msg string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, err := io.WriteString(w, msg)
	return err
}

// readOptionalJSON decodes an optional JSON object body.
func readOptionalJSON(r *http.Request) (map[string]any, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return map[string]any{}, nil
	}
	var body map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil || body == nil {
		return nil, fmt.Errorf("%w: body must be a JSON object", errBadRequest)
	}
	return body, nil
}

func (s *Server) postRestart(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Operator == nil {
		return errNoOperator
	}
	body, err := readOptionalJSON(r)
	if err != nil {
		return err
	}
	req, code, err := parseRestart(body, s.now())
	if err != nil {
		if code == http.StatusBadRequest {
			return fmt.Errorf("%w: %v", errBadRequest, err)
		}
		return writeText(w, code, err.Error())
	}
	if _, scheduled := body["schedule"]; scheduled {
		if dynamicConfig(s.cfg.Source.Cluster().Config).Pause {
			return fmt.Errorf("%w: Can't schedule restart in the paused state", errBadRequest)
		}
		if err := s.cfg.Operator.ScheduleRestart(req); err != nil {
			if errors.Is(err, ErrRestartScheduled) {
				return writeText(w, http.StatusConflict, err.Error())
			}
			return err
		}
		return writeText(w, http.StatusAccepted, "Restart scheduled")
	}
	ctx, cancel := context.WithTimeout(r.Context(), operationTimeout)
	defer cancel()
	if err := s.cfg.Operator.Restart(ctx, req); err != nil {
		return writeText(w, http.StatusServiceUnavailable, err.Error())
	}
	return writeText(w, http.StatusOK, "restarted successfully")
}

// parseRestart checks POST /restart's body as Patroni does: the code is
// 400 for a bad filter, 422 for a schedule that cannot be used.
func parseRestart(body map[string]any, now time.Time) (RestartRequest, int, error) {
	var req RestartRequest
	for _, k := range sortedKeys(body) {
		v := body[k]
		switch k {
		case "schedule":
			at, code, err := parseSchedule(v, "restart", now)
			if err != nil {
				return req, code, err
			}
			req.Schedule = at
		case "role":
			role, _ := v.(string)
			switch role {
			case "master", "primary":
				req.Role = "primary"
			case "replica":
				req.Role = "replica"
			case "any":
			default:
				return req, http.StatusBadRequest, errors.New("PostgreSQL role should be either primary or replica")
			}
		case "postgres_version":
			s, _ := v.(string)
			n, err := postgresVersionNum(s)
			if err != nil {
				return req, http.StatusBadRequest, err
			}
			req.PostgresVersion, req.BelowVersion = s, n
		case "timeout":
			d, ok := parseSeconds(v)
			if !ok || d <= 0 {
				return req, http.StatusBadRequest, errors.New("Timeout should be a positive number of seconds")
			}
			req.Timeout = d
		case "restart_pending":
			b, ok := v.(bool)
			if !ok {
				return req, http.StatusBadRequest, errors.New("restart_pending should be a boolean")
			}
			req.RestartPending = b
		default:
			return req, http.StatusBadRequest, fmt.Errorf("Unknown filter for the scheduled restart: %s", k)
		}
	}
	return req, 0, nil
}

// scheduleLayouts are the timestamp forms accepted, ISO 8601 as patronictl
// sends it (2026-11-30T17:20:44+00:00) and with a space or fractions.
var scheduleLayouts = []string{
	time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04Z07:00", "2006-01-02 15:04Z07:00",
}

var noZoneLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04"}

// parseSchedule reads a scheduled time with Patroni's answers: 400 without
// a time zone, 422 in the past or unreadable.
func parseSchedule(v any, action string, now time.Time) (time.Time, int, error) {
	s, _ := v.(string)
	s = strings.TrimSpace(s)
	for _, l := range scheduleLayouts {
		if at, err := time.Parse(l, s); err == nil {
			if at.Before(now) {
				return time.Time{}, http.StatusUnprocessableEntity, fmt.Errorf("Cannot schedule %s in the past", action)
			}
			return at, 0, nil
		}
	}
	for _, l := range noZoneLayouts {
		if _, err := time.Parse(l, s); err == nil {
			return time.Time{}, http.StatusBadRequest, fmt.Errorf("Timezone information is mandatory for the scheduled %s", action)
		}
	}
	return time.Time{}, http.StatusUnprocessableEntity, errors.New("Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601")
}

// postgresVersionNum turns "15.2" (or "9.6.3") into server_version_num form.
func postgresVersionNum(s string) (int, error) {
	bad := fmt.Errorf("Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: %s", s)
	parts := strings.Split(s, ".")
	if len(parts) < 1 || len(parts) > 3 || s == "" {
		return 0, bad
	}
	n := make([]int, 3)
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return 0, bad
		}
		n[i] = v
	}
	if n[0] >= 10 {
		if len(parts) > 2 {
			return 0, bad
		}
		return n[0]*10000 + n[1], nil
	}
	if len(parts) < 2 {
		return 0, bad
	}
	return n[0]*10000 + n[1]*100 + n[2], nil
}

// parseSeconds reads a number of seconds or a Go/Patroni duration ("30s").
func parseSeconds(v any) (time.Duration, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return time.Duration(f * float64(time.Second)), err == nil
	case float64:
		return time.Duration(x * float64(time.Second)), true
	case string:
		if n, err := strconv.Atoi(x); err == nil {
			return time.Duration(n) * time.Second, true
		}
		d, err := time.ParseDuration(strings.Replace(x, "min", "m", 1))
		return d, err == nil
	}
	return 0, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first problem reported is always the same
	return keys
}

func (s *Server) deleteRestart(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Operator == nil {
		return errNoOperator
	}
	if s.cfg.Operator.CancelScheduledRestart() {
		return writeText(w, http.StatusOK, "scheduled restart deleted")
	}
	return writeText(w, http.StatusNotFound, "no restarts are scheduled")
}

func (s *Server) postReload(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Operator == nil {
		return errNoOperator
	}
	ctx, cancel := context.WithTimeout(r.Context(), operationTimeout)
	defer cancel()
	if err := s.cfg.Operator.Reload(ctx); err != nil {
		return writeText(w, http.StatusServiceUnavailable, err.Error())
	}
	return writeText(w, http.StatusAccepted, "reload scheduled")
}

func (s *Server) postReinitialize(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Operator == nil {
		return errNoOperator
	}
	body, err := readOptionalJSON(r)
	if err != nil {
		return err
	}
	force := false
	if v, ok := body["force"]; ok {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%w: force should be a boolean", errBadRequest)
		}
		force = b
	}
	ctx, cancel := context.WithTimeout(r.Context(), operationTimeout)
	defer cancel()
	if err := s.cfg.Operator.Reinitialize(ctx, force); err != nil {
		return writeText(w, http.StatusServiceUnavailable, err.Error())
	}
	return writeText(w, http.StatusOK, "reinitialize started")
}
