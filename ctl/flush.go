package ctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// FlushOptions are flush's flags.
type FlushOptions struct {
	Role  string // --role
	Force bool
}

// Flush is patronictl's `flush CLUSTER restart|switchover`: it discards
// scheduled restarts (DELETE /restart on each member that has one) or the
// scheduled switchover (DELETE /switchover, asked of the leader first, then
// the other members until one answers).
func Flush(ctx context.Context, env Env, o FlushOptions) error {
	s, args, err := openSession(ctx, env, -1)
	if err != nil {
		return err
	}
	target, names, err := flushTarget(args)
	if err != nil {
		return err
	}
	if target == "switchover" {
		if len(names) > 0 {
			return UsageError{fmt.Errorf("flush switchover: unexpected argument %q (the scheduled switchover is the cluster's, not a member's)", names[0])}
		}
		return s.flushSwitchover(ctx)
	}
	return s.flushRestart(ctx, names, o)
}

// flushTarget splits flush's positionals into the target and member names:
// patronictl's order (MEMBER... TARGET) or the target first.
func flushTarget(args []string) (target string, names []string, err error) {
	isTarget := func(a string) bool { return a == "restart" || a == "switchover" }
	switch {
	case len(args) == 0:
		return "", nil, UsageError{fmt.Errorf("flush: missing TARGET: restart or switchover")}
	case isTarget(args[len(args)-1]):
		return args[len(args)-1], args[:len(args)-1], nil
	case isTarget(args[0]):
		return args[0], args[1:], nil
	}
	return "", nil, UsageError{fmt.Errorf("flush: TARGET must be restart or switchover, got %q", args[len(args)-1])}
}

func (s *session) flushRestart(ctx context.Context, names []string, o FlushOptions) error {
	members, err := s.membersConfirmed(names, o.Role, o.Force, "flush")
	if err != nil {
		return err
	}
	failures := 0
	for _, m := range members {
		if m.ScheduledRestart == nil {
			fmt.Fprintf(s.term.out, "No scheduled restart for member %s\n", m.Name)
			continue
		}
		if status, msg := s.call(ctx, m, http.MethodDelete, "/restart", nil, nil); status/100 != 2 {
			failures++
			s.failed("flush scheduled restart", m.Name, status, msg)
			continue
		}
		fmt.Fprintf(s.term.out, "Success: flush scheduled restart for member %s\n", m.Name)
	}
	return failedOn(failures, "flush")
}

// flushSwitchover sends DELETE /switchover to the leader first, then the
// other members until one answers, as patronictl does.
func (s *session) flushSwitchover(ctx context.Context) error {
	if s.view.ScheduledSwitchover == nil {
		fmt.Fprintln(s.term.out, "No pending scheduled switchover")
		return nil
	}
	var answer string
	err := s.sendFirstReachable(ctx, "", http.MethodDelete, "/switchover", nil, &answer)
	var ae *apiError
	switch {
	case err == nil:
		fmt.Fprintf(s.term.out, "Success: %s\n", answer)
		return nil
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		fmt.Fprintf(s.term.out, "Failed: %s\n", ae.Message)
		return errors.New("flush switchover failed")
	case errors.As(err, &ae):
		fmt.Fprintf(s.term.out, "Failed: status_code=%d, (%s)\n", ae.Status, ae.Message)
		return errors.New("flush switchover failed")
	}
	return err
}
