package ctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Pause is patronictl pause: no automatic failover (maintenance mode);
// with wait, until every member that reports has seen it.
func Pause(ctx context.Context, env Env, wait bool) error { return togglePause(ctx, env, true, wait) }

// Resume is patronictl resume: automatic failover again.
func Resume(ctx context.Context, env Env, wait bool) error { return togglePause(ctx, env, false, wait) }

// togglePause is patronictl's toggle_pause: PATCH /config {"pause": true}
// to pause, {"pause": null} (the key removed) to resume, sent to the
// leader first, then to the other members until one answers.
func togglePause(ctx context.Context, env Env, paused, wait bool) error {
	s, _, err := openSession(ctx, env, 0)
	if err != nil {
		return err
	}
	if s.view.Pause == paused {
		if paused {
			return errors.New("Cluster is already paused")
		}
		return errors.New("Cluster is not paused")
	}
	verb, done := "resume", "resumed"
	var value any
	if paused {
		verb, done, value = "pause", "paused", true
	}
	if err := s.sendFirstReachable(ctx, "", http.MethodPatch, "/config", map[string]any{"pause": value}, nil); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return fmt.Errorf("Failed: %s cluster management status code=%d, (%s)", verb, ae.Status, ae.Message)
		}
		return err
	}
	if wait {
		fmt.Fprintf(s.term.out, "'%s' request sent, waiting until it is recognized by all nodes\n", verb)
		if remaining := s.waitPause(ctx, paused); len(remaining) > 0 {
			return fmt.Errorf("%s members didn't recognized pause state after %d seconds", strings.Join(remaining, ", "), int(pauseWait.Seconds()))
		}
	}
	fmt.Fprintf(s.term.out, "Success: cluster management is %s\n", done)
	return nil
}

// pauseWait bounds --wait.
const pauseWait = 30 * time.Second

// waitPause polls every member that reports (its /patroni answers) until
// each shows pause as wanted; it returns those that did not within
// pauseWait. A member whose agent does not answer is not waited for.
func (s *session) waitPause(ctx context.Context, paused bool) []string {
	ctx, cancel := context.WithTimeout(ctx, pauseWait)
	defer cancel()
	for {
		var remaining []string
		for _, m := range s.view.Members {
			var st struct {
				Pause bool `json:"pause"`
			}
			if status, _ := s.call(ctx, m, http.MethodGet, "/patroni", nil, &st); status/100 != 2 {
				continue // not reporting: not waited for
			}
			if st.Pause != paused {
				remaining = append(remaining, m.Name)
			}
		}
		sort.Strings(remaining)
		if len(remaining) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return remaining
		case <-time.After(100 * time.Millisecond):
		}
	}
}
