package ha

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/fsm"
)

// Taking over a running streaming-replication cluster (DESIGN.md, "Taking
// over a running cluster"). The running primary keeps running: only the
// member whose PostgreSQL is running and not in recovery seeds the
// initialize key, and until it has taken the leader key once
// (State.LeaderIndex == 0) nobody else may take it. Its server is writable
// before any lease exists, so a replica promoted meanwhile would be a second
// writable primary; the replicas therefore wait, whatever happens to it,
// until its agent holds the key and a watchdog guards its lease.

// Adopter may be implemented by Postgres: Adopt writes Conclave's
// configuration for the running primary just taken over and reloads it,
// never restarting it.
type Adopter interface {
	Adopt(ctx context.Context) error
}

// decideSeed runs while the initialize key is unset and this member has a
// data directory.
func decideSeed(o Observation) Plan {
	switch {
	case o.PG.Running && o.PG.InRecovery:
		return plan("cluster not initialized; local data is a standby: waiting for a primary to initialize (a replica never seeds the cluster)")
	case o.PG.InRecovery:
		return plan("cluster not initialized; local data is a stopped standby: waiting for a primary to initialize (a replica never seeds the cluster)")
	case !o.PG.Running:
		return decideResume(o) // rebuild.go
	}
	if live, _ := otherPrimaries(o); len(live) > 0 {
		return plan(splitReason(o, live), act(ActRefuse))
	}
	return plan("cluster not initialized: taking over the running primary (system identifier "+o.PG.SystemID+")", act(ActAdoptData))
}

// decideTakeover runs once the initialize key holds a system identifier
// that matches the local data, while nobody has taken the leader key yet.
func decideTakeover(o Observation) (Plan, bool) {
	init := o.State.Initialize
	if init == nil || init.SystemID == "" {
		return Plan{}, false
	}
	writable := o.PG.Running && !o.PG.InRecovery
	if p, ok := decideSecondPrimary(o, writable); ok {
		return p, true
	}
	if o.State.LeaderIndex != 0 {
		return Plan{}, false
	}
	if init.Member != o.Self {
		return plan(fmt.Sprintf("takeover: waiting for %s to take the leader key for its running primary", init.Member)), true
	}
	live, silent := otherPrimaries(o)
	switch {
	case len(live) > 0:
		return plan(splitReason(o, live), act(ActRefuse)), true
	case len(silent) > 0:
		return plan(fmt.Sprintf("takeover: %s last reported a running primary of this system too: not taking the leader key until it reports otherwise",
			strings.Join(silent, ", "))), true
	}
	if missing := unreported(o); len(missing) > 0 {
		return plan(fmt.Sprintf("takeover: waiting for the agents at %s to report before taking the leader key (every member must see one running primary)",
			strings.Join(missing, ", "))), true
	}
	switch {
	case writable:
		return plan("takeover: taking the leader key for the running primary, without restarting it", act(ActTakeover)), true
	case !o.PG.Running && !o.PG.InRecovery:
		// Nothing is writable: the key is taken as usual, and the holder
		// starts the primary in place (decideHolder), no new timeline.
		return plan("takeover: the seeding primary is stopped: taking the leader key to start it in place",
			Action{Kind: ActAcquire, ExpectIndex: 0}), true
	}
	return plan("takeover: the data this member seeded the cluster with is now a standby; waiting for it to be a running primary again"), true
}

// decideSecondPrimary refuses a writable PostgreSQL that Conclave never
// configured (PGStatus.Unmanaged: its postgresql.conf is still its owner's)
// on a member other than the seeding one: a second primary of the same
// system, a split the user made. Demoting it would throw away the writes
// only it has, so it is refused with nothing changed. A server Conclave ever
// started, followed, rewound or promoted has Conclave's postgresql.conf and
// keeps the usual rules (demote, fence). While nobody has taken the key yet
// it reports once first, so the seeding member sees it too and does not
// take the key either.
func decideSecondPrimary(o Observation, writable bool) (Plan, bool) {
	init := o.State.Initialize
	if !writable || !o.PG.Unmanaged || init.Member == o.Self || o.State.LeaderName() == o.Self {
		return Plan{}, false
	}
	others := []string{init.Member}
	if l := o.State.LeaderName(); l != "" && l != init.Member {
		others = append(others, l)
	}
	if m, ok := o.State.Members[o.Self]; o.State.LeaderIndex == 0 && (!ok || m.Role != fsm.RolePrimary || m.SystemID != o.PG.SystemID) {
		return plan(fmt.Sprintf("takeover: %s seeded the cluster, but this member's PostgreSQL is a running primary too: reporting it before refusing", init.Member)), true
	}
	return plan(splitReason(o, others), act(ActRefuse)), true
}

// otherPrimaries lists the other members whose last report was a running
// primary of the local system identifier: live ones, and silent ones (their
// agent stopped, maybe on refusing the split; their server may still run).
func otherPrimaries(o Observation) (live, silent []string) {
	for _, name := range o.State.MemberNames() {
		m := o.State.Members[name]
		if name == o.Self || m.Role != fsm.RolePrimary || m.State != "running" || m.SystemID == "" || m.SystemID != o.PG.SystemID {
			continue
		}
		if o.LiveMembers[name] {
			live = append(live, name)
		} else {
			silent = append(silent, name)
		}
	}
	return live, silent
}

func splitReason(o Observation, others []string) string {
	sort.Strings(others)
	return fmt.Sprintf("refusing the takeover: this member and %s both run a writable primary of system identifier %s; "+
		"nothing was changed: make all but one of them a replica (or stop them), then start the agents again",
		strings.Join(others, ", "), o.PG.SystemID)
}

// adoptRunningPrimary takes the leader key for a PostgreSQL that is already writable.
// The watchdog is armed with the trust deadline before the proposal is sent:
// the moment it commits the others count the lease, and the server must be
// fenced at its end even if this agent dies before the usual arming
// (renewed). A proposal that certainly appended nothing disarms it again;
// one with an unknown outcome leaves it armed (the key may be ours: the next
// turn renews it, or the watchdog fences when the lease runs out).
func (l *Loop) adoptRunningPrimary(ctx context.Context, o Observation) error {
	gen, sent, sentBoot := l.lease.Gen(), l.cfg.Clock.Now(), l.cfg.Boottime()
	ttl := time.Duration(o.Config.TTL) * time.Second
	if err := l.cfg.Watchdog.Arm(sent.Add(ttl - l.cfg.FenceMargin)); err != nil {
		return fmt.Errorf("takeover: arming the watchdog before taking the key: %w", err)
	}
	l.mu.Lock()
	l.takeover = takeover{pending: true, expect: 0} // leaveRunning: the key may become ours
	l.mu.Unlock()
	idx, err := l.propose(ctx, o, fsm.AcquireLeader{Member: o.Self, ExpectIndex: 0, TTL: o.Config.TTL, ProposedAt: time.Now().UTC()})
	l.takeoverDone(err)
	if err != nil {
		if fsm.ErrorCode(err) != "" || l.nothingAppended(err) {
			if derr := l.cfg.Watchdog.Disarm(); derr != nil {
				l.log.Error("disarming the watchdog failed", "error", derr)
			}
		}
		if errors.Is(err, fsm.ErrLeaderChanged) {
			return nil // the state moved; decide again
		}
		return fmt.Errorf("takeover: %w", err)
	}
	l.renewMu.Lock()
	l.keyEpoch, l.keyIndex = idx, idx
	l.renewMu.Unlock()
	l.renewed(gen, idx, sent, sentBoot, ttl)
	l.log.Info("acquired the leader key", "member", o.Self, "epoch", idx, "ttl", o.Config.TTL, "reason", "took over the running primary")
	if err := l.adopt(ctx); err != nil {
		// The key is held and the server runs: the holder's next turns
		// retry it (ActAdopt, while PGStatus.Unmanaged).
		l.log.Warn("writing Conclave's configuration for the taken-over primary failed", "error", err)
	}
	return nil
}

// adopt writes Conclave's configuration for the taken-over primary (a
// reload), when Postgres implements Adopter.
func (l *Loop) adopt(ctx context.Context) error {
	if a, ok := l.pg.(Adopter); ok {
		return a.Adopt(ctx)
	}
	return nil
}

// slotsPending reports the adopted standby's slot that the leader has not
// created yet: a standby still on its owner's configuration (no slot, or
// another upstream) is pointed at the leader only once its slot exists, so
// no WAL it needs is recycled in between.
func slotsPending(o Observation, target fsm.Member) bool {
	return o.PG.Unmanaged && o.Config.UseSlots && !contains(target.Slots, o.Self)
}

// takeoverNote is what a member being taken over publishes for `list`: the
// turn's reason while the cluster is not initialized yet, nobody has taken
// the leader key yet, or its PostgreSQL still runs on its owner's
// configuration; "" otherwise.
func takeoverNote(o Observation, p Plan) string {
	if o.PG.DataDir != DataDirValid {
		return ""
	}
	init := o.State.Initialize
	if init == nil || init.SystemID == "" || o.State.LeaderIndex == 0 || o.PG.Unmanaged {
		return strings.TrimPrefix(p.Reason, "takeover: ")
	}
	return ""
}

// awaitedServers reads the Raft servers, only while nobody has taken the
// leader key yet (the takeover and the rebuild are the only users). A
// failed or empty read keeps the last list; unknown reports that no list
// was ever read, so "every server has reported" cannot hold vacuously (a
// formed cluster has at least one server, this node). Non-voters count
// too: a sixth member, or one joined and not yet promoted, may run the
// primary or hold the latest timeline.
func (l *Loop) awaitedServers(ctx context.Context, st fsm.State) (servers []string, unknown bool) {
	if l.cfg.AwaitedServers == nil || st.LeaderIndex != 0 {
		return nil, false
	}
	vctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	switch v, err := l.cfg.AwaitedServers(vctx); {
	case err != nil:
		l.log.Debug("reading the Raft servers failed", "error", err)
	case len(v) == 0:
		l.log.Debug("the Raft configuration lists no server yet")
	default:
		l.lastAwaited = v
	}
	return l.lastAwaited, len(l.lastAwaited) == 0
}

// unreported lists the Raft servers whose agents have not said what their
// PostgreSQL is: no member record, or a record whose data directory could
// not be read (Member.DataUnknown). A second running primary or a later
// timeline may still be among them.
func unreported(o Observation) []string {
	if o.AwaitedUnknown {
		return []string{"(the Raft servers, not read yet)"}
	}
	have := map[string]bool{}
	var out []string
	for _, m := range o.State.Members {
		have[m.RaftAddr] = true
		if m.DataUnknown && m.Name != o.Self {
			out = append(out, m.Name+" (its data directory could not be read)")
		}
	}
	for _, v := range o.AwaitedServers {
		if !have[v] {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// publishRefusal reports this member once more before its agent stops on a
// refusal during a takeover, so the others (and list) see why.
func (l *Loop) publishRefusal(ctx context.Context, o Observation, p Plan) {
	if takeoverNote(o, p) == "" {
		return
	}
	l.publish(ctx, o, o.PG, p)
}

func foreignConfigReason(o Observation) string {
	return fmt.Sprintf("PostgreSQL reads its configuration from %s, outside the data directory: what Conclave writes there "+
		"would not take effect, so nothing was changed; move the settings into the data directory's postgresql.conf "+
		"(and pg_hba.conf next to it), restart PostgreSQL with pg_ctl -D <data_dir>, then start the agent again", o.PG.ForeignConfig)
}

// leaveRunning reports whether Shutdown leaves PostgreSQL as it is: a
// server the takeover has not brought under management (its
// postgresql.conf is still its owner's) on a member that does not hold the
// key (the caller checks) and cannot come to hold it (no AcquireLeader of
// its own whose outcome is unknown). Stopping an agent mid-takeover then
// changes nothing: the user's primary keeps serving as before the agent
// started, under no lease anyone counts on (nobody may take the key while
// LeaderIndex is 0 but the seeding member), and a replica keeps streaming.
func (l *Loop) leaveRunning(ctx context.Context, st fsm.State) bool {
	l.mu.Lock()
	mayCommit := l.takeover.pending && st.LeaderIndex == l.takeover.expect
	l.mu.Unlock()
	if mayCommit {
		return false
	}
	pgs := l.pg.Observe(ctx)
	return pgs.DataDir == DataDirValid && pgs.Unmanaged && pgs.Running
}
