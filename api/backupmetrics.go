package api

import "github.com/prometheus/client_golang/prometheus"

// backupMetrics are emitted only by a node with a backup tool (backup:
// section): a cluster without one never looks like one whose backups
// stopped. Patroni has no backup metrics, so the names are Conclave's.
var backupMetrics = []struct {
	name, help string
	kind       prometheus.ValueType
	value      func(b *BackupStatus) float64
}{
	{"conclave_backup_last_success_timestamp_seconds", "Unix time the repository's newest backup finished, 0 if it holds none.", gauge,
		func(b *BackupStatus) float64 { return epoch(b.LastBackupTime) }},
	{"conclave_backup_repository_up", "Value is 1 if the last read of the backup repository (pgbackrest info) worked, 0 otherwise.", gauge,
		func(b *BackupStatus) float64 { return b2f(b.RepoChecked != nil && b.RepoError == "") }},
	{"conclave_backup_backups", "Number of backups in the repository's stanza.", gauge,
		func(b *BackupStatus) float64 { return float64(b.Backups) }},
	{"conclave_backup_archive_archived_total", "WAL files archived by this node since its statistics reset (pg_stat_archiver.archived_count).", prometheus.CounterValue,
		func(b *BackupStatus) float64 { return float64(b.ArchivedCount) }},
	{"conclave_backup_archive_failed_total", "Failed attempts to archive a WAL file on this node (pg_stat_archiver.failed_count).", prometheus.CounterValue,
		func(b *BackupStatus) float64 { return float64(b.FailedCount) }},
	{"conclave_backup_archive_last_archived_timestamp_seconds", "Unix time of the last WAL file archived by this node, 0 if none.", gauge,
		func(b *BackupStatus) float64 { return epoch(b.LastArchivedTime) }},
	{"conclave_backup_archive_last_failed_timestamp_seconds", "Unix time of the last failed archive attempt on this node, 0 if none.", gauge,
		func(b *BackupStatus) float64 { return epoch(b.LastFailedTime) }},
	{"conclave_backup_archive_lag_bytes", "Primary: bytes of WAL written after the end of the last archived segment.", gauge,
		func(b *BackupStatus) float64 { return float64(b.ArchiveLagBytes) }},
}

// segmentConflictMetric names, one series per segment, a WAL segment the
// repository holds with another checksum than the one this node received
// before its last promotion: it was not archived again (pgBackRest refuses
// it for ever), and the repository's history differs from the cluster's
// there.
const (
	segmentConflictMetric = "conclave_backup_archive_segment_conflict"
	segmentConflictHelp   = "Value is 1 for a WAL segment the backup repository holds with another checksum than this node received before its last promotion (not archived again)."
)
