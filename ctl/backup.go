package ctl

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/conclave-ha/conclave/api"
	"github.com/conclave-ha/conclave/backup"
)

// BackupOptions are backup's flags.
type BackupOptions struct {
	Type   string // full, diff or incr
	From   string // replica or primary
	Member string // the replica to run it on ("": the best one)
}

// Backup takes a pgBackRest backup, from a streaming replica by default so
// the primary is not loaded, and follows it to its end.
func Backup(ctx context.Context, env Env, o BackupOptions) error {
	typ, from := o.Type, o.From
	if !slices.Contains(backup.Types, typ) {
		return UsageError{fmt.Errorf("--type must be one of %s, got %q", strings.Join(backup.Types, ", "), typ)}
	}
	if from != "replica" && from != "primary" {
		return UsageError{fmt.Errorf("--from must be replica or primary, got %q", from)}
	}
	t, _, err := openSession(ctx, env, 0)
	if err != nil {
		return err
	}
	leader, runner, err := backupMembers(t.view.Members, from, o.Member)
	if err != nil {
		return err
	}
	req := api.BackupRequest{Type: typ, From: from}
	if from == "replica" {
		cl, err := t.memberAPI(leader)
		if err != nil {
			return err
		}
		var st api.BackupState
		if err := cl.getJSON(ctx, "/backup", &st); err != nil {
			return fmt.Errorf("backup: asking the primary %s about its PostgreSQL: %w", leader.Name, err)
		}
		req.Primary = &st.Node
	}
	cl, err := t.memberAPI(runner)
	if err != nil {
		return err
	}
	if err := cl.send(ctx, http.MethodPost, "/backup", req, nil); err != nil {
		return fmt.Errorf("backup on %s refused: %w", runner.Name, err)
	}
	fmt.Fprintf(t.term.out, "Backup (%s) started on %s (%s)\n", typ, runner.Name, from)
	printed := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		var st api.BackupState
		if err := cl.getJSON(ctx, "/backup", &st); err != nil {
			fmt.Fprintf(t.term.out, "(no answer from %s: %v)\n", runner.Name, err)
			continue
		}
		if st.Job == nil {
			return fmt.Errorf("%s no longer knows the backup (agent restarted?); see conclave backup list", runner.Name)
		}
		for ; printed < len(st.Job.Lines); printed++ {
			fmt.Fprintln(t.term.out, "  "+st.Job.Lines[printed])
		}
		switch st.Job.State {
		case "succeeded":
			fmt.Fprintf(t.term.out, "Backup label: %s\n", st.Job.Label)
			return nil
		case "failed":
			return fmt.Errorf("backup on %s failed: %s", runner.Name, st.Job.Error)
		}
	}
}

// backupMembers picks the leader and the member that runs the backup: the
// leader for from=primary, else the named member or the first streaming
// replica by name. It refuses with the reason when there is none.
func backupMembers(members []clusterMember, from, named string) (leader, runner clusterMember, err error) {
	var replicas, all []string
	found := false
	for _, m := range members {
		all = append(all, fmt.Sprintf("%s %s/%s", m.Name, m.Role, m.State))
		if m.Role == "leader" && m.State == "running" {
			leader, found = m, true
		}
	}
	if !found {
		return leader, runner, fmt.Errorf("no running primary: a backup needs one (members: %s)", strings.Join(all, ", "))
	}
	if from == "primary" {
		return leader, leader, nil
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	for _, m := range members {
		if m.Role == "leader" || (named != "" && m.Name != named) {
			continue
		}
		if m.State == "streaming" {
			return leader, m, nil
		}
		replicas = append(replicas, fmt.Sprintf("%s is %s", m.Name, m.State))
	}
	why := "there is no replica"
	if len(replicas) > 0 {
		why = strings.Join(replicas, ", ")
	}
	if named != "" && len(replicas) == 0 {
		why = fmt.Sprintf("%s is not a replica of this cluster", named)
	}
	return leader, runner, fmt.Errorf("no streaming replica to back up from (%s); use --from primary to load the primary instead", why)
}

// BackupList shows the repository's backups.
func BackupList(ctx context.Context, env Env) error {
	cfg, _, err := env.verbConfig(0)
	if err != nil {
		return err
	}
	var st api.BackupState
	if _, err := askAnyMember(ctx, cfg, env.Err, func(a *apiClient) error {
		return a.getJSON(ctx, "/backup", &st)
	}); err != nil {
		return err
	}
	if st.RepoError != "" {
		return fmt.Errorf("stanza %s: %s", st.Stanza, st.RepoError)
	}
	tb := &table{title: fmt.Sprintf(" Stanza: %s ", st.Stanza),
		headers: []string{"Label", "Type", "Started", "Took", "Size", "Repo size", "WAL start", "WAL stop"}}
	for _, b := range st.Backups {
		tb.add(b.Label, b.Type, b.Start.Local().Format("2006-01-02 15:04:05"),
			b.Stop.Sub(b.Start).Round(time.Second).String(), sizeMB(b.SizeBytes), sizeMB(b.RepoBytes), b.WALStart, b.WALStop)
	}
	tb.write(env.Out)
	return nil
}

func sizeMB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
