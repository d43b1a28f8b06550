//go:build integration

package integration

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A cluster that archives before it has a backup: section (archive-push
// fails: no stanza) gets one by reload (SIGHUP): the primary creates and
// checks the stanza itself, the waiting WAL reaches the repository; a
// later archive_command change in the dynamic configuration checks it
// again.
func TestBackup_SectionAddedToARunningCluster_PrimaryCreatesTheStanza(t *testing.T) {
	repo := newBackupRepo(t, workDir(t))
	c := newCluster(t, 1, clusterOptions{})
	archive := fmt.Sprintf("pgbackrest --config=%s --stanza=%s archive-push %%p", repo.conf, c.scope)
	n := c.nodes[0]
	c.writeConfig(n, clusterOptions{dcs: fmt.Sprintf(`        archive_mode: "on"
        archive_command: %s`, archive)})
	c.startAll()
	c.waitHealthy(scaled(90 * time.Second))
	n.exec(t, `CREATE TABLE w(id int); INSERT INTO w VALUES (1)`)
	seg, err := n.queryString(`SELECT pg_walfile_name(pg_switch_wal())`)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, scaled(30*time.Second), "archive-push failing without a stanza", func() error {
		failed, err := n.queryString(`SELECT (failed_count > 0)::text FROM pg_stat_archiver`)
		if err != nil || failed != "true" {
			return fmt.Errorf("failed_count > 0: %q %v", failed, err)
		}
		return nil
	})
	if n.logs.contains("backup stanza ready") {
		t.Fatal("stanza set up without a backup: section")
	}

	f, err := os.OpenFile(n.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "backup:\n  stanza: %s\n  config: %s\n", c.scope, repo.conf)
	f.Close()
	n.signal(syscall.SIGHUP)
	waitFor(t, scaled(90*time.Second), "the stanza created and checked, the waiting segment archived", func() error {
		if !n.logs.contains("backup stanza ready") {
			return fmt.Errorf("no 'backup stanza ready' yet")
		}
		last, err := n.queryString(`SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver`)
		if err != nil || last < seg {
			return fmt.Errorf("last archived %q (want >= %s) %v", last, seg, err)
		}
		return nil
	})

	// A dynamic change of archive_command: set up (checked) once more.
	if out, err := n.conclave("edit-config", "-p", "archive_command="+strings.Replace(archive, "archive-push", "--log-level-console=warn archive-push", 1), "--force"); err != nil {
		t.Fatalf("edit-config: %v\n%s", err, out)
	}
	waitFor(t, scaled(90*time.Second), "the stanza checked again after archive_command changed", func() error {
		if got := n.logs.count("backup stanza ready"); got < 2 {
			return fmt.Errorf("'backup stanza ready' %d times", got)
		}
		return nil
	})
}

// After a failover the new primary does not queue again a segment the
// repository holds with another checksum (pgBackRest would refuse it for
// ever, error 045, and archiving would stall behind it): it names the
// segment in its log and in /metrics, and archiving goes on. The
// repository's copy of a segment the replica received is renamed to
// another checksum, as a repository written by a second primary would
// hold it.
func TestBackup_FailoverWithAConflictingSegmentInTheRepository_NamedNotRequeued(t *testing.T) {
	repo := newBackupRepo(t, workDir(t))
	c, primary := startArchivingCluster(t, repo, 2, "on")
	var replica *node
	for _, n := range c.nodes {
		if n != primary {
			replica = n
		}
	}
	primary.exec(t, `CREATE TABLE w(id int); INSERT INTO w SELECT generate_series(1, 1000)`)
	seg, err := primary.queryString(`SELECT pg_walfile_name(pg_switch_wal())`)
	if err != nil {
		t.Fatal(err)
	}
	archiveNow(t, primary)
	next, err := primary.queryString(`SELECT pg_current_wal_lsn()::text`)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, scaled(30*time.Second), replica.name+" received "+seg, func() error {
		got, err := replica.queryString(`SELECT (pg_last_wal_receive_lsn() >= '` + next + `'::pg_lsn)::text`)
		if err != nil || got != "true" {
			return fmt.Errorf("received: %q %v", got, err)
		}
		return nil
	})
	files, _ := filepath.Glob(filepath.Join(repo.dir, "archive", c.scope, "15-1", seg[:16], seg+"-*"))
	if len(files) != 1 {
		t.Fatalf("archived copies of %s: %v", seg, files)
	}
	other := filepath.Join(filepath.Dir(files[0]), seg+"-"+strings.Repeat("0", 40)+filepath.Ext(files[0]))
	if err := os.Rename(files[0], other); err != nil {
		t.Fatal(err)
	}

	waitFor(t, scaled(30*time.Second), "failover to "+replica.name+" accepted", func() error {
		// An attempt that failed after the failover happened (a slow
		// answer) leaves the next refused: the leader says it is done.
		if leader, _, err := leaderAndPending(replica); err == nil && leader == replica.name {
			return nil
		}
		out, err := replica.conclave("failover", "--candidate", replica.name, "--force")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	})
	waitFor(t, scaled(60*time.Second), "the conflict named in the log and /metrics", func() error {
		if !replica.logs.containsAll("WAL segment in the backup repository differs", "segment="+seg) {
			return fmt.Errorf("no conflict line for %s yet", seg)
		}
		resp, err := replica.http().Get(replica.apiURL() + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `conclave_backup_archive_segment_conflict{name="`+replica.name+`",scope="`+c.scope+`",segment="`+seg+`"} 1`) {
			return fmt.Errorf("no conflict series for %s in /metrics", seg)
		}
		return nil
	})
	replica.exec(t, `INSERT INTO w VALUES (1001)`)
	archiveNow(t, replica)
	if failed, err := replica.queryString(`SELECT failed_count::text FROM pg_stat_archiver`); err != nil || failed != "0" {
		t.Errorf("the new primary's archiver failed %s times (%v): the conflicting segment was pushed", failed, err)
	}
}
