package ha

import "sync/atomic"

// Local settings a reload of the node's configuration file changes while
// the agent runs (SIGHUP, POST /reload). The loop goroutine reads them at
// every observation and publication; SetLocal hands new values over under
// l.mu, so a turn sees the old set or the new one whole.

// Local is the part of the loop's Config a reload may change.
type Local struct {
	Tags        Tags
	MemberTags  map[string]any // the tags published in the member record
	UsePgRewind *bool          // postgresql.use_pg_rewind of the local file (nil: the dynamic one)
}

// SetLocal applies reloaded local settings from the next turn on (which
// it starts now): a nofailover tag added takes this node out of elections
// at once, and its member record says so within the turn.
func (l *Loop) SetLocal(s Local) {
	tags := make(map[string]any, len(s.MemberTags))
	for k, v := range s.MemberTags {
		tags[k] = v
	}
	l.mu.Lock()
	l.local = &Local{Tags: s.Tags, MemberTags: tags, UsePgRewind: s.UsePgRewind}
	l.mu.Unlock()
	l.Wake()
}

// applyLocal moves settings handed over by SetLocal into the loop's
// configuration. Called by the loop goroutine only, at the start of its
// observation: it is the only goroutine reading cfg.Tags and cfg.Member.
// use_pg_rewind is read by the background renewer too, so it lives in an
// atomic (reloaded) instead of cfg.
func (l *Loop) applyLocal() {
	l.mu.Lock()
	s := l.local
	l.local = nil
	l.mu.Unlock()
	if s == nil {
		return
	}
	l.cfg.Tags = s.Tags
	l.cfg.Member.Tags = s.MemberTags
	l.reloaded.set.Store(true)
	l.reloaded.rewind.Store(s.UsePgRewind)
}

// reloaded holds use_pg_rewind once a reload set it.
type reloaded struct {
	set    atomic.Bool
	rewind atomic.Pointer[bool]
}

// usePgRewind is the local postgresql.use_pg_rewind (nil: the dynamic one).
func (l *Loop) usePgRewind() *bool {
	if l.reloaded.set.Load() {
		return l.reloaded.rewind.Load()
	}
	return l.cfg.UsePgRewind
}
