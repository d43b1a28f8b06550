//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// backupRepo is a pgBackRest repository in a local directory that every
// node of the test shares, with the pgbackrest.conf pointing at it.
type backupRepo struct {
	dir, conf string
}

func newBackupRepo(t *testing.T, dir string) backupRepo {
	t.Helper()
	r := backupRepo{dir: filepath.Join(dir, "repo"), conf: filepath.Join(dir, "pgbackrest.conf")}
	for _, d := range []string{r.dir, filepath.Join(dir, "pgbr-lock"), filepath.Join(dir, "pgbr-log")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf("[global]\nrepo1-path=%s\nlock-path=%s/pgbr-lock\nlog-path=%s/pgbr-log\nlog-level-file=off\nlog-level-console=warn\nstart-fast=y\narchive-timeout=30\n",
		r.dir, dir, dir)
	if err := os.WriteFile(r.conf, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, dir)
	return r
}

// backupOptions configures a cluster that archives to stanza, creates
// replicas from the repository first (falling back to pg_basebackup), and
// backs up into stanza.
func backupOptions(r backupRepo, stanza, archiveMode string) clusterOptions {
	return clusterOptions{
		dcs: fmt.Sprintf(`        archive_mode: "%s"
        archive_command: pgbackrest --stanza=%s archive-push %%p`, archiveMode, stanza),
		extra: func(n *node) string {
			return fmt.Sprintf(`  create_replica_methods: [pgbackrest, basebackup]
  pgbackrest:
    command: pgbackrest --stanza=%[1]s --delta restore
    keep_data: true
    no_params: true
backup:
  stanza: %[1]s
  config: %[2]s
`, stanza, r.conf)
		},
	}
}

// startArchivingCluster starts a size-node cluster that archives to a
// stanza named after its scope, and waits until the stanza is ready.
func startArchivingCluster(t *testing.T, repo backupRepo, size int, archiveMode string) (*cluster, *node) {
	t.Helper()
	c := newCluster(t, size, clusterOptions{})
	opts := backupOptions(repo, c.scope, archiveMode)
	for _, n := range c.nodes {
		c.writeConfig(n, opts)
	}
	c.startAll()
	primary := c.waitHealthy(scaled(90 * time.Second))
	waitFor(t, scaled(60*time.Second), "the stanza created and checked at bootstrap", func() error {
		if primary.logs.contains("backup stanza ready") {
			return nil
		}
		return fmt.Errorf("no 'backup stanza ready' in %s's log yet", primary.name)
	})
	return c, primary
}

// takeBackup runs `conclave backup` through n's agent and returns its label.
func takeBackup(t *testing.T, n *node, wantOn string, args ...string) string {
	t.Helper()
	out, err := n.conclave(append([]string{"backup"}, args...)...)
	if err != nil {
		t.Fatalf("conclave backup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.Contains(out, "started on "+wantOn+" ") || !strings.Contains(out, "Backup label: ") {
		t.Fatalf("conclave backup output lacks the member it ran on (%s) or the label:\n%s", wantOn, out)
	}
	label := strings.TrimSpace(out[strings.LastIndex(out, "Backup label: ")+len("Backup label: "):])
	if list, err := n.conclave("backup", "list"); err != nil || !strings.Contains(list, label) {
		t.Fatalf("conclave backup list does not show %s: %v\n%s", label, err, list)
	}
	return label
}

// startLoad runs a writer on primary until the returned stop, which
// returns the rows it wrote and fails the test when there were none.
func startLoad(t *testing.T, primary *node) (stop func() int64) {
	t.Helper()
	primary.exec(t, `CREATE TABLE IF NOT EXISTS load(id bigserial PRIMARY KEY, v text)`)
	ctx, cancel := context.WithCancel(context.Background())
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := primary.sql(ctx)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			if _, err := conn.Exec(ctx, `INSERT INTO load(v) SELECT md5(g::text) FROM generate_series(1, 50) g`); err == nil {
				written.Add(50)
			}
		}
	}()
	return func() int64 {
		cancel()
		wg.Wait()
		if written.Load() == 0 {
			t.Fatal("the writer wrote nothing")
		}
		return written.Load()
	}
}

// rowsThenTime inserts ids from..to into pitr on primary and returns the
// server's time after their commit.
func rowsThenTime(t *testing.T, primary *node, from, to int) string {
	t.Helper()
	primary.exec(t, `INSERT INTO pitr SELECT g FROM generate_series($1::int, $2::int) g`, from, to)
	target, err := primary.queryString(`SELECT clock_timestamp()::text`)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// archiveNow switches to a new WAL segment and waits until the old one is
// in the repository.
func archiveNow(t *testing.T, primary *node) {
	t.Helper()
	seg, err := primary.queryString(`SELECT pg_walfile_name(pg_switch_wal())`)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, scaled(60*time.Second), "segment "+seg+" archived", func() error {
		last, err := primary.queryString(`SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver`)
		if err != nil {
			return err
		}
		if last < seg {
			return fmt.Errorf("last archived %q, want %q", last, seg)
		}
		return nil
	})
}

// restoreCluster bootstraps a new size-node cluster from stanza with
// bootstrap.method: pgbackrest to target; it archives to its own stanza.
func restoreCluster(t *testing.T, repo backupRepo, stanza, target string, size int) (*cluster, *node) {
	t.Helper()
	dst := newCluster(t, size, clusterOptions{})
	bootstrap := fmt.Sprintf(`  method: pgbackrest
  pgbackrest:
    command: pgbackrest --stanza=%[1]s restore
    no_params: true
    recovery_conf:
      restore_command: pgbackrest --stanza=%[1]s archive-get %%f "%%p"
      recovery_target_time: "%[2]s"
      recovery_target_action: promote`, stanza, target)
	opts := backupOptions(repo, dst.scope, "on")
	for _, n := range dst.nodes {
		dst.writeConfig(n, opts)
		addBootstrapMethod(t, n, bootstrap)
	}
	dst.startAll()
	return dst, dst.waitHealthy(scaled(180 * time.Second))
}

func pitrRows(t *testing.T, n *node) string {
	t.Helper()
	got, err := n.queryString(`SELECT count(*) || ' ' || coalesce(min(id), 0) || ' ' || coalesce(max(id), 0) FROM pitr`)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestBackup_PointInTimeRestore_NewClusterHoldsExactlyTheRowsBeforeTheTarget:
// a cluster archives through pgBackRest from its dynamic configuration
// (stanza created at bootstrap); `conclave backup` takes a full backup on
// its replica while a writer runs on the primary; rows are written, the
// time noted, more rows written. A new Conclave cluster bootstrapped with
// bootstrap.method: pgbackrest to the noted time holds exactly the rows
// before it, archives to a new stanza, and its second member is built
// (the pgbackrest method fails: no backup in the new stanza yet; then
// pg_basebackup) and streams.
func TestBackup_PointInTimeRestore_NewClusterHoldsExactlyTheRowsBeforeTheTarget(t *testing.T) {
	repo := newBackupRepo(t, workDir(t))
	src, primary := startArchivingCluster(t, repo, 2, "on")
	stanza := src.scope
	var replica *node
	for _, n := range src.nodes {
		if n != primary {
			replica = n
		}
	}

	// A full backup from the replica (backup-standby) with a writer on the primary.
	primary.exec(t, `CREATE TABLE pitr(id int PRIMARY KEY)`)
	stop := startLoad(t, primary)
	start := time.Now()
	takeBackup(t, primary, replica.name, "--type", "full")
	t.Logf("full backup from %s took %s while %d rows were written on %s", replica.name, time.Since(start).Round(time.Millisecond), stop(), primary.name)

	target := rowsThenTime(t, primary, 1, 100)
	rowsThenTime(t, primary, 101, 200)
	archiveNow(t, primary)
	src.stopAll()

	dst, newPrimary := restoreCluster(t, repo, stanza, target, 2)
	if got := pitrRows(t, newPrimary); got != "100 1 100" {
		t.Fatalf("restored to %s: rows (count min max) = %q, want exactly 1..100", target, got)
	}
	for _, n := range dst.nodes {
		if n == newPrimary {
			continue
		}
		waitFor(t, scaled(30*time.Second), "the new cluster's replica holds the restored rows", func() error {
			got, err := n.queryString(`SELECT count(*)::text FROM pitr`)
			if err != nil || got != "100" {
				return fmt.Errorf("%s: %q %v", n.name, got, err)
			}
			return nil
		})
		if !n.logs.containsAll("replica method failed; trying the next one", "method=pgbackrest") || !n.logs.contains("replica created: method=basebackup") {
			t.Errorf("%s: expected the pgbackrest method to fail (no backup in the new stanza) and basebackup to follow", n.name)
		}
	}
	waitFor(t, scaled(60*time.Second), "the restored cluster archiving to its own stanza", func() error {
		_, err := os.Stat(filepath.Join(repo.dir, "archive", dst.scope, "15-1", "00000002.history"))
		return err
	})
	if _, err := os.Stat(filepath.Join(repo.dir, "archive", stanza, "15-1", "00000002.history")); err == nil {
		t.Fatalf("the restored cluster wrote its timeline into the source stanza %s", stanza)
	}
}

// TestBackup_FailoverKeepsArchiving_RestoreToAPointAfterItWorks: the
// primary stops archiving (its own archive_command fails) and completes a
// segment holding acknowledged rows; a failover follows. The new primary
// archives the old timeline's segments it received as a standby, its
// timeline history file and its new WAL, so a restore to a time after the
// failover, replaying across the timeline switch from the repository
// alone, holds exactly the rows before that time. Before that the replica
// is rebuilt from the repository (the pgbackrest method) while a writer
// loads the primary, and streams again.
func TestBackup_FailoverKeepsArchiving_RestoreToAPointAfterItWorks(t *testing.T) {
	repo := newBackupRepo(t, workDir(t))
	src, primary := startArchivingCluster(t, repo, 2, "on")
	primary.exec(t, `CREATE TABLE pitr(id int PRIMARY KEY)`)
	var replica *node
	for _, n := range src.nodes {
		if n != primary {
			replica = n
		}
	}
	takeBackup(t, primary, primary.name, "--type", "full", "--from", "primary")

	// The replica rebuilt from the repository while a writer loads the primary.
	stop := startLoad(t, primary)
	start := time.Now()
	if out, err := primary.conclave("reinit", replica.name, "--force", "--wait"); err != nil {
		t.Fatalf("reinit %s: %v\n%s", replica.name, err, out)
	}
	src.waitHealthy(scaled(60 * time.Second))
	t.Logf("replica %s rebuilt from the repository in %s while %d rows were written", replica.name, time.Since(start).Round(time.Millisecond), stop())
	if !replica.logs.contains("replica created: method=pgbackrest") {
		t.Fatalf("%s was not built by the pgbackrest method", replica.name)
	}
	archiveNow(t, primary)

	// The primary's archiving breaks (its own file overrides the dynamic
	// archive_command); the segment with rows 1..100 reaches the replica only.
	cfg := strings.Replace(mustRead(t, primary.cfgPath), "\n  parameters:\n    unix_socket_directories:", "\n  parameters:\n    archive_command: /bin/false\n    unix_socket_directories:", 1)
	if err := os.WriteFile(primary.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	primary.signal(syscall.SIGHUP)
	waitFor(t, scaled(30*time.Second), "the primary's archive_command replaced", func() error {
		v, err := primary.queryString(`SHOW archive_command`)
		if err != nil || v != "/bin/false" {
			return fmt.Errorf("archive_command %q %v", v, err)
		}
		return nil
	})
	rowsThenTime(t, primary, 1, 100)
	gap, err := primary.queryString(`SELECT pg_walfile_name(pg_switch_wal())`)
	if err != nil {
		t.Fatal(err)
	}
	next, err := primary.queryString(`SELECT pg_current_wal_lsn()::text`)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, scaled(30*time.Second), "the replica has the segment and the primary failed to archive it", func() error {
		failed, err := primary.queryString(`SELECT (failed_count > 0 AND coalesce(last_archived_wal, '') < '` + gap + `')::text FROM pg_stat_archiver`)
		if err != nil || failed != "true" {
			return fmt.Errorf("primary archiver: %q %v", failed, err)
		}
		got, err := replica.queryString(`SELECT (pg_last_wal_receive_lsn() >= '` + next + `'::pg_lsn)::text`)
		if err != nil || got != "true" {
			return fmt.Errorf("replica has not received up to %s: %q %v", next, got, err)
		}
		return nil
	})

	// The replica's lag in the cluster view is its last report: a failover
	// asked before the report after the catch-up is refused (412, nothing
	// written), so ask again until it is accepted.
	waitFor(t, scaled(30*time.Second), "failover to "+replica.name+" accepted", func() error {
		out, err := replica.conclave("failover", "--candidate", replica.name, "--force")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	})
	waitFor(t, scaled(60*time.Second), replica.name+" primary", func() error {
		rec, err := replica.queryString(`SELECT pg_is_in_recovery()::text`)
		if err != nil || rec != "false" {
			return fmt.Errorf("in recovery %q %v", rec, err)
		}
		return nil
	})
	target := rowsThenTime(t, replica, 101, 200)
	rowsThenTime(t, replica, 201, 300)
	archiveNow(t, replica)
	tl, err := replica.queryString(`SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)`)
	if err != nil {
		t.Fatal(err)
	}
	// The gap segment is queued again by a background step after the
	// promotion, so the archiver may push it after the segments above.
	for _, f := range []string{tl + ".history", gap} {
		waitFor(t, scaled(30*time.Second), f+" in the repository after the failover", func() error {
			matches, _ := filepath.Glob(filepath.Join(repo.dir, "archive", src.scope, "15-1", "*", f+"*"))
			if hist, _ := filepath.Glob(filepath.Join(repo.dir, "archive", src.scope, "15-1", f)); len(hist) > 0 {
				matches = append(matches, hist...)
			}
			if len(matches) == 0 {
				return errors.New("not archived")
			}
			return nil
		})
	}
	src.stopAll()

	_, restored := restoreCluster(t, repo, src.scope, target, 1)
	if got := pitrRows(t, restored); got != "200 1 200" {
		t.Fatalf("restored across the failover to %s: rows (count min max) = %q, want exactly 1..200", target, got)
	}
}

// TestBackup_UnreachableRepository_ClearErrorPrimaryKeepsWriting: the
// repository path cannot be created; the agent says so in one clear line,
// the primary runs and takes writes, and the failures show in /metrics.
func TestBackup_UnreachableRepository_ClearErrorPrimaryKeepsWriting(t *testing.T) {
	dir := workDir(t)
	repo := newBackupRepo(t, dir)
	// A file where the repository's directory should be: nothing can be created under it.
	if err := os.WriteFile(filepath.Join(dir, "not-a-dir"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(mustRead(t, repo.conf), "repo1-path="+repo.dir, "repo1-path="+filepath.Join(dir, "not-a-dir", "repo"), 1)
	if err := os.WriteFile(repo.conf, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, dir)
	c := newCluster(t, 1, clusterOptions{})
	opts := backupOptions(repo, c.scope, "on")
	c.writeConfig(c.nodes[0], opts)
	c.startAll()
	primary := c.waitHealthy(scaled(90 * time.Second))
	waitFor(t, scaled(60*time.Second), "a clear stanza-create error", func() error {
		if primary.logs.contains("pgbackrest stanza-create failed: backups and archiving will fail until the repository is reachable") {
			return nil
		}
		return fmt.Errorf("no stanza-create error in the log yet")
	})
	primary.exec(t, `CREATE TABLE w(id int); INSERT INTO w VALUES (1)`)
	if _, err := primary.queryString(`SELECT pg_walfile_name(pg_switch_wal())`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, scaled(60*time.Second), "archive failures and the unreachable repository in /metrics", func() error {
		resp, err := primary.http().Get(primary.apiURL() + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body := string(b)
		if !strings.Contains(body, "conclave_backup_repository_up{") || !strings.Contains(body, "conclave_backup_repository_up{name=\""+primary.name+"\",scope=\""+c.scope+"\"} 0") {
			return fmt.Errorf("repository not shown down")
		}
		if strings.Contains(body, "conclave_backup_archive_failed_total{name=\""+primary.name+"\",scope=\""+c.scope+"\"} 0\n") {
			return fmt.Errorf("no archive failure counted yet")
		}
		return nil
	})
	holdsFor(t, scaled(3*time.Second), "the primary keeps taking writes", func() error {
		_, err := primary.queryString(`INSERT INTO w VALUES (2) RETURNING 'ok'`)
		return err
	})
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// addBootstrapMethod inserts lines under the bootstrap: section of n's file.
func addBootstrapMethod(t *testing.T, n *node, lines string) {
	t.Helper()
	b, err := os.ReadFile(n.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "bootstrap:\n", "bootstrap:\n"+lines+"\n", 1)
	if err := os.WriteFile(n.cfgPath, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	chownToPostgres(t, n.dir)
}
