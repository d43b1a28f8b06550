package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestBackupMetrics_OnlyWithABackupTool_ValuesFromStatus(t *testing.T) {
	srv := newTestServer(t, leaderNode(), compatCluster(t))
	if _, ok := gather(t, srv.reg)["conclave_backup_last_success_timestamp_seconds"]; ok {
		t.Fatal("backup metrics shown without a backup: section (the no-backup alert would fire)")
	}
	node := leaderNode()
	stop, failed := time.Unix(1795728000, 0), time.Unix(1795728100, 0)
	node.Backup = &BackupStatus{Stanza: "main", Backups: 2, LastBackupTime: &stop, RepoChecked: &stop,
		ArchivedCount: 7, FailedCount: 3, LastFailedTime: &failed, ArchiveLagBytes: 4096,
		ConflictingWAL: []string{"000000010000000000000007"}}
	srv = newTestServer(t, node, compatCluster(t))
	got := gather(t, srv.reg)
	for name, want := range map[string]float64{
		"conclave_backup_last_success_timestamp_seconds":          1795728000,
		"conclave_backup_repository_up":                           1,
		"conclave_backup_backups":                                 2,
		"conclave_backup_archive_failed_total":                    3,
		"conclave_backup_archive_archived_total":                  7,
		"conclave_backup_archive_last_failed_timestamp_seconds":   1795728100,
		"conclave_backup_archive_last_archived_timestamp_seconds": 0,
		"conclave_backup_archive_lag_bytes":                       4096,
	} {
		mf, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		m := mf.GetMetric()[0]
		v := m.GetGauge().GetValue()
		if m.GetCounter() != nil {
			v = m.GetCounter().GetValue()
		}
		if !closeTo(v, want) {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if mf, ok := got["conclave_backup_archive_segment_conflict"]; !ok || len(mf.GetMetric()) != 1 ||
		!hasLabel(mf.GetMetric()[0].GetLabel(), "segment", "000000010000000000000007") || mf.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Errorf("conclave_backup_archive_segment_conflict = %v, want one series naming the segment", mf)
	}
	problems, err := testutil.GatherAndLint(srv.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	_, body := srv.getJSON("/patroni")
	b, _ := body.(map[string]any)["backup"].(map[string]any)
	if b["stanza"] != "main" || b["failed_count"] != float64(3) {
		t.Errorf("/patroni backup = %v", b)
	}
}

// Without a backup: section the answer says what to add, not only what is missing.
func TestBackup_NoBackupSection_503SaysWhatToAdd(t *testing.T) {
	ts := newTestServer(t, leaderNode(), compatCluster(t))
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		rec := ts.do(method, "/backup", `{}`)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "add a backup: section") {
			t.Errorf("%s /backup without a backup: section: %d %s", method, rec.Code, rec.Body)
		}
	}
}

func hasLabel(labels []*dto.LabelPair, name, value string) bool {
	for _, l := range labels {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}
