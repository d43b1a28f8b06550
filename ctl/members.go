package ctl

import (
	"fmt"
	"sort"
	"strings"
)

// Per-member verbs (restart, reload, reinit, flush restart) pick their
// members as patronictl's get_members and confirm_members_action do, then
// send each request to the member's own REST API (session.call).

// selectMembers picks the members an action applies to: the named ones
// (each must exist and match the role), else every member in the role
// (reinitialize: none, so it asks which). It prints the member table, as
// patronictl does for every verb with a --role (all of these), once the
// names given on the command line are known to be right: a refusal is one
// line.
func (s *session) selectMembers(names []string, role string, force bool, action string) ([]clusterMember, error) {
	var candidates []clusterMember
	for _, m := range s.view.Members {
		ok, err := roleMatches(role, m.Role)
		if err != nil {
			return nil, err
		}
		if ok {
			candidates = append(candidates, m)
		}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Name < candidates[j].Name })
	if len(names) == 0 && len(candidates) == 0 {
		return nil, fmt.Errorf("%s cluster doesn't have any members", s.view.Scope)
	}
	if len(names) > 0 {
		out, err := s.namedMembers(names, candidates, role)
		if err == nil {
			s.showMembers()
		}
		return out, err
	}
	s.showMembers()
	if action != "reinitialize" {
		return candidates, nil
	}
	if !force {
		answer, err := s.term.prompt(fmt.Sprintf("Which member do you want to %s [%s]?", action, strings.Join(memberNames(candidates), ", ")), "")
		if err != nil {
			return nil, err
		}
		if answer != "" {
			return s.namedMembers([]string{answer}, candidates, role)
		}
	}
	return nil, UsageError{fmt.Errorf("no member given to %s", action)}
}

// namedMembers checks the names against the candidates, in their order,
// without repeats.
func (s *session) namedMembers(names []string, candidates []clusterMember, role string) ([]clusterMember, error) {
	byName := map[string]clusterMember{}
	for _, m := range candidates {
		byName[m.Name] = m
	}
	var out []clusterMember
	seen := map[string]bool{}
	for _, n := range names {
		m, ok := byName[n]
		if !ok {
			if role != "" && role != "any" && memberNamed(s.view, n) {
				return nil, fmt.Errorf("No %s among provided members", role)
			}
			return nil, fmt.Errorf("%s is not a member of cluster", n)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, m)
		}
	}
	return out, nil
}

// membersConfirmed is selectMembers then confirmMembers, with the verb's
// --role and --force; for the verbs that are not scheduled.
func (s *session) membersConfirmed(names []string, role string, force bool, action string) ([]clusterMember, error) {
	members, err := s.selectMembers(names, role, force, action)
	if err == nil {
		err = s.confirmMembers(members, force, action, "")
	}
	return members, err
}

// confirmMembers is patronictl's confirm_members_action: unless force,
// "Are you sure you want to ACTION members A, B?" (with " at TIME" and
// "schedule ACTION of" for a scheduled one); no is an error.
func (s *session) confirmMembers(ms []clusterMember, force bool, action, scheduledAt string) error {
	if force {
		return nil
	}
	list := strings.Join(memberNames(ms), ", ")
	question, aborted := fmt.Sprintf("Are you sure you want to %s members %s?", action, list), "Aborted "+action
	if scheduledAt != "" {
		question = fmt.Sprintf("Are you sure you want to schedule %s of members %s at %s?", action, list, scheduledAt)
		aborted = "Aborted scheduled " + action
	}
	ok, err := s.term.confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s", aborted)
	}
	return nil
}

func memberNames(ms []clusterMember) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// failed prints patronictl's failure line for action on member (status -1:
// the member could not be reached).
func (s *session) failed(action, member string, status int, msg string) {
	if status < 0 {
		fmt.Fprintf(s.term.out, "Failed: %s for member %s, %s\n", action, member, msg)
		return
	}
	fmt.Fprintf(s.term.out, "Failed: %s for member %s, status code=%d, (%s)\n", action, member, status, msg)
}

// failedOn makes the exit status non-zero when some member failed (the
// lines printed before say which).
func failedOn(n int, action string) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%s failed on %d member(s)", action, n)
}
