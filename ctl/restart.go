package ctl

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// restart, reload and reinit: patronictl's verbs, flags, prompts and
// success/failure lines; each member gets its request at its own REST API.

// RestartOptions are restart's flags.
type RestartOptions struct {
	Role         string
	Any, Pending bool
	Scheduled    string
	ScheduledSet bool // --scheduled was given
	PGVersion    string
	PGVersionSet bool // --pg-version was given
	Timeout      string
	Force        bool
}

// Restart is patronictl restart: PostgreSQL on the selected members; the
// primary restarts in place, keeping its leader key.
func Restart(ctx context.Context, env Env, o RestartOptions) error {
	s, names, err := openSession(ctx, env, -1)
	if err != nil {
		return err
	}
	force := o.Force
	scheduled, version := o.Scheduled, o.PGVersion
	// The values given as flags are checked before the table is printed.
	at, err := parseScheduled(scheduled)
	if err != nil {
		return err
	}
	if _, err := s.restartBody(o, at, version); err != nil {
		return err
	}
	members, err := s.selectMembers(names, o.Role, force, "restart")
	if err != nil {
		return err
	}
	if !o.ScheduledSet && !force {
		example := time.Now().Add(time.Hour).Format("2006-01-02T15:04")
		if scheduled, err = s.term.prompt("When should the restart take place (e.g. "+example+") ", "now"); err != nil {
			return err
		}
		if at, err = parseScheduled(scheduled); err != nil {
			return err
		}
	}
	shown := ""
	if !at.IsZero() {
		shown = pyDatetime(at, " ")
	}
	if err := s.confirmMembers(members, force, "restart", shown); err != nil {
		return err
	}
	if o.Any {
		m := members[rand.IntN(len(members))]
		members = []clusterMember{m}
	}
	if !o.PGVersionSet && !force {
		if version, err = s.term.prompt("Restart if the PostgreSQL version is less than provided (e.g. 9.5.2) ", ""); err != nil {
			return err
		}
	}
	body, err := s.restartBody(o, at, version)
	if err != nil {
		return err
	}
	failures := 0
	for _, m := range members {
		if !at.IsZero() && force && m.ScheduledRestart != nil {
			if status, msg := s.call(ctx, m, http.MethodDelete, "/restart", nil, nil); status/100 != 2 {
				s.failed("flush scheduled restart", m.Name, status, msg)
			}
		}
		status, msg := s.call(ctx, m, http.MethodPost, "/restart", body, nil)
		switch {
		case status == http.StatusOK:
			fmt.Fprintf(s.term.out, "Success: restart on member %s\n", m.Name)
		case status == http.StatusAccepted:
			fmt.Fprintf(s.term.out, "Success: restart scheduled on member %s\n", m.Name)
		case status == http.StatusConflict:
			failures++
			fmt.Fprintf(s.term.out, "Failed: another restart is already scheduled on member %s\n", m.Name)
		default:
			failures++
			s.failed("restart", m.Name, status, msg)
		}
	}
	return failedOn(failures, "restart")
}

// restartBody is POST /restart's body, as patronictl builds it, or why
// the values are refused.
func (s *session) restartBody(o RestartOptions, at time.Time, version string) (map[string]any, error) {
	body := map[string]any{}
	if o.Pending {
		body["restart_pending"] = true
	}
	if version != "" {
		if err := checkPGVersion(version); err != nil {
			return nil, UsageError{err}
		}
		body["postgres_version"] = version
	}
	if !at.IsZero() {
		if s.view.Pause {
			return nil, fmt.Errorf("Can't schedule restart in the paused state")
		}
		body["schedule"] = pyDatetime(at, "T")
	}
	if t := o.Timeout; t != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(t, "s"))
		if err != nil || n <= 0 {
			return nil, UsageError{fmt.Errorf("--timeout: %q is not a positive number of seconds", t)}
		}
		body["timeout"] = n
	}
	return body, nil
}

// checkPGVersion accepts X.Y or X.Y.Z (X alone from 10 on).
func checkPGVersion(v string) error {
	parts := strings.Split(v, ".")
	ok := len(parts) >= 1 && len(parts) <= 3
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			ok = false
		}
	}
	if major, _ := strconv.Atoi(parts[0]); ok && major < 10 && len(parts) < 2 {
		ok = false
	}
	if !ok {
		return fmt.Errorf("Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: %s", v)
	}
	return nil
}

// ReloadOptions are reload's flags.
type ReloadOptions struct {
	Role  string
	Force bool
}

// Reload is patronictl reload: each selected member reloads its
// configuration file, as SIGHUP does.
func Reload(ctx context.Context, env Env, o ReloadOptions) error {
	s, names, err := openSession(ctx, env, -1)
	if err != nil {
		return err
	}
	members, err := s.membersConfirmed(names, o.Role, o.Force, "reload")
	if err != nil {
		return err
	}
	failures := 0
	for _, m := range members {
		switch status, msg := s.call(ctx, m, http.MethodPost, "/reload", nil, nil); status {
		case http.StatusOK:
			fmt.Fprintf(s.term.out, "No changes to apply on member %s\n", m.Name)
		case http.StatusAccepted:
			fmt.Fprintf(s.term.out, "Reload request received for member %s and will be processed within %d seconds\n", m.Name, s.loopWait(ctx))
		default:
			failures++
			s.failed("reload", m.Name, status, msg)
		}
	}
	return failedOn(failures, "reload")
}

// loopWait is the dynamic loop_wait (for reload's message); 1 if unknown.
func (s *session) loopWait(ctx context.Context) int {
	var cfg map[string]any
	if err := s.from.getJSON(ctx, "/config", &cfg); err == nil {
		if v, ok := cfg["loop_wait"].(float64); ok && v > 0 {
			return int(v)
		}
	}
	return 1
}

// ReinitOptions are reinit's flags.
type ReinitOptions struct {
	Force, Wait bool
}

// Reinit is patronictl reinit: re-clone replicas from the leader.
func Reinit(ctx context.Context, env Env, o ReinitOptions) error {
	s, names, err := openSession(ctx, env, -1)
	if err != nil {
		return err
	}
	force := o.Force
	members, err := s.membersConfirmed(names, "replica", force, "reinitialize")
	if err != nil {
		return err
	}
	var waitOn []clusterMember
	failures := 0
	for _, m := range members {
		if status, msg := s.call(ctx, m, http.MethodPost, "/reinitialize", map[string]any{"force": force}, nil); status/100 != 2 {
			failures++
			s.failed("reinitialize", m.Name, status, msg)
			continue
		}
		fmt.Fprintf(s.term.out, "Success: reinitialize for member %s\n", m.Name)
		if o.Wait {
			waitOn = append(waitOn, m)
		}
	}
	if len(waitOn) > 0 {
		fmt.Fprintf(s.term.out, "Waiting for reinitialize to complete on: %s\n", strings.Join(memberNames(waitOn), ", "))
	}
	for len(waitOn) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		rest := waitOn[:0]
		for _, m := range waitOn {
			if s.reinitDone(ctx, m) {
				fmt.Fprintf(s.term.out, "Reinitialize is completed on: %s\n", m.Name)
			} else {
				rest = append(rest, m)
			}
		}
		waitOn = rest
	}
	return failedOn(failures, "reinitialize")
}

// reinitDone: the member runs PostgreSQL again as a replica after the clone.
func (s *session) reinitDone(ctx context.Context, m clusterMember) bool {
	var st struct {
		State string `json:"state"`
		Role  string `json:"role"`
	}
	status, _ := s.call(ctx, m, http.MethodGet, "/patroni", nil, &st)
	return status/100 == 2 && st.State == "running" && st.Role == "replica"
}
