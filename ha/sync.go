package ha

import "sort"

// Rule 2: no acknowledged synchronous commit is lost.
//
// Invariant: every commit PostgreSQL acknowledged is on every member the
// state records in Sync, and in synchronous mode only those members may be
// promoted (an empty Sync means nobody may). synchronous_standby_names
// always lists its standbys as "N (a, b…)" with N equal to their number,
// so each of them confirms each commit. The primary changes one side per
// turn, in an order that keeps the invariant:
//
//  1. drop unwanted standbys from the state first (they may lack later commits);
//  2. then drop from synchronous_standby_names whatever the state no longer lists;
//  3. add wanted standbys to synchronous_standby_names;
//  4. record them in the state only once PostgreSQL reports them "sync"
//     and their flush position passed the primary's WAL position at the
//     moment they were added, so they hold every commit acknowledged
//     before that (a standby is "sync" as soon as it streams, even behind).
//
// Releasing commits that wait for a dropped standby (step 2) is safe: the
// state already says that standby may not be promoted. The new leader of a
// tenure starts from an empty set recorded under its own name.

// syncStep returns the next synchronous-replication action of a leader.
func syncStep(o Observation) (*Action, string) {
	st := o.State
	if !o.Config.SynchronousMode {
		switch {
		case len(st.Sync.Members) > 0 || (st.Sync.Leader != "" && st.Sync.Leader != o.Self):
			return &Action{Kind: ActSetSync}, "synchronous mode off: clearing the recorded synchronous standbys"
		case len(o.PG.SyncStandbys) > 0 || o.PG.SyncAny:
			return &Action{Kind: ActSetSyncStandbys}, "synchronous mode off: clearing synchronous_standby_names"
		}
		return nil, ""
	}
	if st.Sync.Leader != o.Self {
		return &Action{Kind: ActSetSync}, "new tenure: recording an empty synchronous standby set under this leader"
	}
	want := pickSync(o)
	recorded := st.Sync.Members
	if keep := intersect(recorded, want); len(keep) != len(recorded) {
		return &Action{Kind: ActSetSync, Names: keep}, "dropping synchronous standbys that are gone or no longer wanted"
	}
	allowed := union(recorded, want)
	if keep := intersect(o.PG.SyncStandbys, allowed); len(keep) != len(o.PG.SyncStandbys) || (o.PG.SyncAny && len(keep) > 0) {
		return &Action{Kind: ActSetSyncStandbys, Names: keep}, "removing standbys from synchronous_standby_names"
	}
	if next := union(o.PG.SyncStandbys, want); len(next) != len(o.PG.SyncStandbys) {
		return &Action{Kind: ActSetSyncStandbys, Names: next}, "adding synchronous standbys to synchronous_standby_names"
	}
	if len(o.PG.SyncStandbys) == 0 && o.Config.SynchronousModeStrict && !o.PG.SyncAny {
		return &Action{Kind: ActSetSyncStandbys}, "strict synchronous mode without a standby: commits wait for any standby"
	}
	var confirmed []string
	for _, r := range o.PG.Replicas {
		if (r.SyncState == "sync" || r.SyncState == "quorum") && contains(want, r.Name) && !contains(recorded, r.Name) &&
			r.FlushLSN >= syncSince(o, r.Name) {
			confirmed = append(confirmed, r.Name)
		}
	}
	if len(confirmed) > 0 {
		return &Action{Kind: ActSetSync, Names: union(recorded, confirmed)}, "recording confirmed synchronous standbys"
	}
	return nil, ""
}

// syncSince is the WAL position a standby must have flushed before it is
// recorded: every commit acknowledged before it was listed lies below the
// position at which it was added. Unknown (agent restarted): the current one.
func syncSince(o Observation, name string) uint64 {
	if at, ok := o.SyncAddedAt[name]; ok {
		return at
	}
	return o.PG.WALPosition
}

// pickSync chooses up to synchronous_node_count standbys: live, streaming,
// without nosync, the recorded ones first, then by name.
func pickSync(o Observation) []string {
	var recorded, others []string
	for _, name := range o.State.MemberNames() {
		m := o.State.Members[name]
		if name == o.Self || !o.LiveMembers[name] || m.State != "streaming" || m.Tag("nosync") || !streamingFrom(o, name) {
			continue
		}
		if contains(o.State.Sync.Members, name) {
			recorded = append(recorded, name)
		} else {
			others = append(others, name)
		}
	}
	n := o.Config.SynchronousNodeCount
	if n < 1 {
		n = 1
	}
	out := append(recorded, others...)
	if len(out) > n {
		out = out[:n]
	}
	sort.Strings(out)
	return out
}

// streamingFrom reports whether the primary sees name streaming.
func streamingFrom(o Observation, name string) bool {
	for _, r := range o.PG.Replicas {
		if r.Name == name && r.State == "streaming" {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if contains(b, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func union(a, b []string) []string {
	out := append([]string{}, a...)
	for _, x := range b {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}
