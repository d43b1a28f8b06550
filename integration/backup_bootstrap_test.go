//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pitrSource runs a one-node cluster archiving to its own stanza, takes a
// full backup, writes rows 1..segments*100 in as many WAL segments, notes
// the time, writes 100 rows more and archives them; then stops it. It
// returns the stanza, the target time and the rows (count min max) a
// restore to it must hold.
func pitrSource(t *testing.T, repo backupRepo, segments int) (stanza, target, want string) {
	t.Helper()
	src, primary := startArchivingCluster(t, repo, 1, "on")
	primary.exec(t, `CREATE TABLE pitr(id int PRIMARY KEY)`)
	takeBackup(t, primary, primary.name, "--type", "full", "--from", "primary")
	for i := 0; i < segments; i++ {
		rowsThenTime(t, primary, i*100+1, i*100+99)
		if _, err := primary.queryString(`SELECT pg_walfile_name(pg_switch_wal())`); err != nil {
			t.Fatal(err)
		}
		rowsThenTime(t, primary, i*100+100, i*100+100)
	}
	n := segments * 100
	target = rowsThenTime(t, primary, n+1, n+100)
	rowsThenTime(t, primary, n+101, n+200)
	archiveNow(t, primary)
	src.stopAll()
	return src.scope, target, fmt.Sprintf("%d 1 %d", n+100, n+100)
}

// customBootstrap is a one-node cluster (not started) bootstrapped from
// stanza by the given bootstrap: lines, archiving to its own stanza.
func customBootstrap(t *testing.T, repo backupRepo, lines string) (*cluster, *node) {
	t.Helper()
	dst := newCluster(t, 1, clusterOptions{})
	n := dst.nodes[0]
	dst.writeConfig(n, backupOptions(repo, dst.scope, "on"))
	addBootstrapMethod(t, n, lines)
	return dst, n
}

// ha/bootstrap_marker.go: the agent and its postmaster are killed (-9)
// while the restored server still replays toward its recovery target (a
// restore_command that takes a second per segment keeps it there). The
// restarted agent does not take the half-recovered directory for the
// cluster's data: it moves it aside, restores again, and the new cluster
// holds exactly the rows before the target.
func TestBackup_CustomBootstrapKilledMidRecovery_RestoresAgainToTheSameTarget(t *testing.T) {
	repo := newBackupRepo(t, workDir(t))
	stanza, target, want := pitrSource(t, repo, 6)
	dst, n := customBootstrap(t, repo, fmt.Sprintf(`  method: pgbackrest
  pgbackrest:
    command: pgbackrest --stanza=%[1]s restore
    no_params: true
    recovery_conf:
      restore_command: sleep 1 && pgbackrest --stanza=%[1]s archive-get %%f "%%p"
      recovery_target_time: "%[2]s"
      recovery_target_action: promote`, stanza, target))
	n.start()
	waitFor(t, scaled(120*time.Second), n.name+" replaying the restored backup", func() error {
		rec, err := n.queryString(`SELECT pg_is_in_recovery()::text`)
		if err != nil || rec != "true" {
			return fmt.Errorf("in recovery: %q %v", rec, err)
		}
		return nil
	})
	marker := filepath.Join(n.dir, "raft", "bootstrap-incomplete")
	killAgent(t, n)
	pm := killPostmaster(t, n)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("killed mid-recovery but no bootstrap marker: %v", err)
	}
	waitFor(t, scaled(10*time.Second), "the killed postmaster gone", func() error {
		if n.postmasterPID() == pm {
			return fmt.Errorf("postmaster %d still alive", pm)
		}
		return nil
	})
	if got := pitrRowsOrEmpty(n); got == want {
		t.Logf("note: the directory had replayed every row before the kill")
	}

	n.start()
	if p := dst.waitHealthy(scaled(180 * time.Second)); p != n {
		t.Fatalf("leader %s, want %s", p.name, n.name)
	}
	if got := pitrRows(t, n); got != want {
		t.Fatalf("restored to %s after the kill: rows (count min max) = %q, want %q", target, got, want)
	}
	if !n.logs.contains("custom bootstrap was cut short before reaching its recovery target") {
		t.Error("the restarted agent did not say the bootstrap was cut short")
	}
	if aside, _ := filepath.Glob(n.dataDir() + ".before-cut-short-bootstrap-*"); len(aside) != 1 {
		t.Errorf("directories moved aside: %v, want the half-recovered one", aside)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bootstrap marker still there: %v", err)
	}
}

// pitrRowsOrEmpty is pitrRows for a server that may not answer.
func pitrRowsOrEmpty(n *node) string {
	got, _ := n.queryString(`SELECT count(*) || ' ' || coalesce(min(id), 0) || ' ' || coalesce(max(id), 0) FROM pitr`)
	return got
}

// keep_existing_recovery_conf: the restore command itself writes the
// recovery target (pgbackrest restore --type=time), no recovery_conf is
// given; the agent keeps what it wrote, the server stops at the target and
// is promoted, and the recovery settings do not outlive the promotion.
func TestBackup_CustomBootstrapKeepExistingRecoveryConf_StopsAtTheCommandsTarget(t *testing.T) {
	repo := newBackupRepo(t, workDir(t))
	stanza, target, want := pitrSource(t, repo, 1)
	dst, n := customBootstrap(t, repo, fmt.Sprintf(`  method: pgbackrest
  pgbackrest:
    command: pgbackrest --stanza=%s --type=time "--target=%s" --target-action=promote restore
    no_params: true
    keep_existing_recovery_conf: true`, stanza, target))
	n.start()
	if p := dst.waitHealthy(scaled(180 * time.Second)); p != n {
		t.Fatalf("leader %s, want %s", p.name, n.name)
	}
	if got := pitrRows(t, n); got != want {
		t.Fatalf("restored by the command's own target %s: rows (count min max) = %q, want %q", target, got, want)
	}
	auto := mustRead(t, filepath.Join(n.dataDir(), "postgresql.auto.conf"))
	for _, line := range strings.Split(auto, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "recovery_target") || strings.HasPrefix(strings.TrimSpace(line), "restore_command") {
			t.Errorf("recovery setting left active after the promotion: %q", line)
		}
	}
	if !strings.Contains(auto, "recovery_target_time") {
		t.Errorf("postgresql.auto.conf never had the command's recovery_target_time:\n%s", auto)
	}
}

// no_leader (Patroni's no_master): a member whose data directory is gone is
// rebuilt from the repository while the primary is down (the only
// failover candidate is stopped; the other members are nofailover), runs as
// a standby following nobody with every archived row, and streams from
// the primary once it is back.
func TestBackup_NoLeaderMethod_BuildsAReplicaWhilePrimaryIsDown_ThenStreams(t *testing.T) {
	repo := newBackupRepo(t, workDir(t))
	c := newCluster(t, 3, clusterOptions{})
	opts := backupOptions(repo, c.scope, "on")
	base := opts.extra
	opts.extra = func(n *node) string {
		s := strings.Replace(base(n), "    keep_data: true\n", "    keep_data: true\n    no_leader: true\n", 1)
		if n.name != "node1" {
			s += "tags:\n  nofailover: true\n"
		}
		return s
	}
	for _, n := range c.nodes {
		c.writeConfig(n, opts)
	}
	c.startAll()
	primary := c.waitHealthy(scaled(90 * time.Second))
	if primary.name != "node1" {
		t.Fatalf("primary %s, want node1 (the others are nofailover)", primary.name)
	}
	waitFor(t, scaled(60*time.Second), "the stanza ready", func() error {
		if primary.logs.contains("backup stanza ready") {
			return nil
		}
		return fmt.Errorf("not yet")
	})
	primary.exec(t, `CREATE TABLE pitr(id int PRIMARY KEY)`)
	rowsThenTime(t, primary, 1, 100)
	takeBackup(t, primary, primary.name, "--type", "full", "--from", "primary")
	rowsThenTime(t, primary, 101, 200)
	archiveNow(t, primary)

	rebuilt := c.byName("node3")
	rebuilt.stop()
	if err := os.Rename(rebuilt.dataDir(), rebuilt.dataDir()+".removed-by-test"); err != nil {
		t.Fatal(err)
	}
	primary.stop()
	rebuilt.start()
	waitFor(t, scaled(90*time.Second), "node3 rebuilt from the repository with no primary, replaying the archive", func() error {
		if !rebuilt.logs.contains("replica created: method=pgbackrest") {
			return fmt.Errorf("no 'replica created: method=pgbackrest' yet")
		}
		got, err := rebuilt.queryString(`SELECT pg_is_in_recovery()::text || ' ' || count(*) FROM pitr`)
		if err != nil || got != "true 200" {
			return fmt.Errorf("in recovery, rows: %q %v", got, err)
		}
		return nil
	})
	if primary.postmasterPID() != 0 {
		t.Fatal("the primary's PostgreSQL ran while node3 was rebuilt")
	}

	primary.start()
	if p := c.waitHealthy(scaled(90 * time.Second)); p != primary {
		t.Fatalf("leader %s after the primary came back, want %s", p.name, primary.name)
	}
	primary.exec(t, `INSERT INTO pitr VALUES (201)`)
	waitFor(t, scaled(30*time.Second), "node3 streams the new row", func() error {
		got, err := rebuilt.queryString(`SELECT count(*)::text FROM pitr`)
		if err != nil || got != "201" {
			return fmt.Errorf("rows %q %v", got, err)
		}
		return nil
	})
}
