package ctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// ctlTimestamp is patronictl's timestamp(): local time with microseconds.
func ctlTimestamp() string { return time.Now().Format("2006-01-02 15:04:05.000000") }

// FailoverOptions are switchover's and failover's flags.
type FailoverOptions struct {
	Leader, Candidate string
	Scheduled         string // switchover only: when ('now' or a time)
	ScheduledSet      bool   // --scheduled was given
	Force             bool
}

// Switchover is patronictl switchover: from the leader to a candidate, now
// or at a scheduled time.
func Switchover(ctx context.Context, env Env, o FailoverOptions) error {
	return failoverAction(ctx, env, "switchover", o)
}

// Failover is patronictl failover: promote a named candidate, also when
// there is no leader.
func Failover(ctx context.Context, env Env, o FailoverOptions) error {
	return failoverAction(ctx, env, "failover", o)
}

// failoverAction is patronictl's _do_failover_or_switchover: the same
// checks, prompts and lines. failover with --leader is a switchover, as in
// patronictl. The values given as flags are checked before the topology is
// printed, so a refusal is one line; prompted values are checked after.
func failoverAction(ctx context.Context, env Env, action string, o FailoverOptions) error {
	s, _, err := openSession(ctx, env, 0)
	if err != nil {
		return err
	}
	leader, candidate, force := o.Leader, o.Candidate, o.Force
	if leader != "" {
		action = "switchover"
	}
	current := s.leader()
	if action == "switchover" && current == "" {
		return errors.New("This cluster has no leader")
	}
	if leader == "" && (force || action == "failover") {
		leader = current
	}
	if err := s.checkFailover(action, leader, candidate, force); err != nil {
		return err
	}
	scheduledAt := ""
	if action == "switchover" && o.ScheduledSet {
		if scheduledAt, err = s.checkScheduled(o.Scheduled); err != nil {
			return err
		}
	}
	fmt.Fprintln(s.term.out, "Current cluster topology")
	s.showMembers()
	if leader == "" && action == "switchover" {
		if leader, err = s.term.prompt("Primary", current); err != nil {
			return err
		}
	}
	if candidate == "" && !force {
		if candidate, err = s.term.prompt("Candidate "+pyList(s.candidates(leader)), ""); err != nil {
			return err
		}
	}
	if err := s.checkFailover(action, leader, candidate, true); err != nil {
		return err
	}
	if action == "switchover" && !o.ScheduledSet && !force {
		next := time.Now().Add(time.Hour).Format("2006-01-02T15:04")
		scheduled, err := s.term.prompt("When should the switchover take place (e.g. "+next+" ) ", "now")
		if err != nil {
			return err
		}
		if scheduledAt, err = s.checkScheduled(scheduled); err != nil {
			return err
		}
	}
	body := map[string]any{"leader": nilIfEmpty(leader), "candidate": nilIfEmpty(candidate)}
	if action == "switchover" {
		body["scheduled_at"] = nilIfEmpty(scheduledAt)
	}
	if !force {
		demote := ""
		if leader != "" {
			demote = ", demoting current leader " + leader
		}
		question, aborted := fmt.Sprintf("Are you sure you want to %s cluster %s%s?", action, s.view.Scope, demote), "Aborting "+action
		if scheduledAt != "" {
			question = fmt.Sprintf("Are you sure you want to schedule %s of cluster %s at %s%s?", action, s.view.Scope, scheduledAt, demote)
			aborted = "Aborting scheduled " + action
		}
		ok, err := s.term.confirm(question)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New(aborted)
		}
	}
	// Sent to the leader's REST API, or the candidate's when there is no
	// leader, as patronictl does; to another member when that one is down.
	first := current
	if first == "" {
		first = candidate
	}
	var answer string
	if err := s.sendFirstReachable(ctx, first, http.MethodPost, "/"+action, body, &answer); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return fmt.Errorf("%s failed, details: %d, %s", titleWord(action), ae.Status, ae.Message)
		}
		return err
	}
	fmt.Fprintf(s.term.out, "%s %s\n", ctlTimestamp(), answer)
	if s.refresh(ctx) == nil {
		s.showMembers()
	}
	return nil
}

// candidates are the members a switchover from leader may go to: the
// others without nofailover, by name.
func (s *session) candidates(leader string) []string {
	var names []string
	for _, m := range s.view.Members {
		if m.Name != leader && !tagTrue(m.Tags, "nofailover") {
			names = append(names, m.Name)
		}
	}
	sort.Strings(names)
	return names
}

// checkFailover is patronictl's checks of leader and candidate, in its
// order; final is false while the candidate may still be asked for.
func (s *session) checkFailover(action, leader, candidate string, final bool) error {
	current := s.leader()
	if leader != "" && current != "" && leader != current {
		return fmt.Errorf("Member %s is not the leader of cluster %s", leader, s.view.Scope)
	}
	if older := s.olderThanHandOver(); len(older) > 0 {
		return fmt.Errorf("%s is not possible: the agent of %s is older than the hand-over (protocol level %d); finish the rolling upgrade first (README, \"Rolling upgrades\")",
			titleWord(action), strings.Join(older, ", "), fsm.ProtocolHandOver)
	}
	names := s.candidates(leader)
	if len(names) == 0 {
		return fmt.Errorf("No candidates found to %s to", action)
	}
	if final && action == "failover" && candidate == "" {
		return errors.New("Failover could be performed only to a specific candidate")
	}
	if candidate != "" && candidate == leader {
		return fmt.Errorf("%s target and source are the same.", titleWord(action))
	}
	if candidate != "" && !slices.Contains(names, candidate) {
		return fmt.Errorf("Member %s does not exist in cluster %s", candidate, s.view.Scope)
	}
	return nil
}

// olderThanHandOver names the members whose agents cannot carry out a
// switchover or failover (protocol level below the hand-over's: an older
// release has no POST /switchover at all), as the agents' API refuses it;
// nil when the answering agent does not report levels (it is older itself,
// and the request's 404 says the rest).
func (s *session) olderThanHandOver() []string {
	var older []string
	reported := false
	for _, m := range s.view.Members {
		reported = reported || m.Version != ""
		if m.Protocol < fsm.ProtocolHandOver {
			older = append(older, m.Name)
		}
	}
	if !reported {
		return nil
	}
	sort.Strings(older)
	return older
}

// checkScheduled parses a switchover's time; one is refused while paused.
func (s *session) checkScheduled(scheduled string) (string, error) {
	at, err := scheduledAtText(scheduled)
	if err == nil && at != "" && s.view.Pause {
		return "", errors.New("Can't schedule switchover in the paused state")
	}
	return at, err
}

func tagTrue(tags map[string]any, name string) bool {
	v, ok := tags[name].(bool)
	return ok && v
}

// pyList prints names as Python prints a list of strings: ['a', 'b'].
func pyList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func titleWord(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
