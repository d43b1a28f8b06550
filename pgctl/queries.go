package pgctl

// All SQL pgctl sends, reviewable in one place. Role statements are built
// in roles.go because CREATE/ALTER ROLE cannot take bind parameters.
const (
	qInRecovery = `SELECT pg_catalog.pg_is_in_recovery()`
	// qRecoveryState: in recovery, whether replay is paused (at a recovery
	// target), and the replay LSN, for a custom bootstrap's restore.
	qRecoveryState = `SELECT pg_catalog.pg_is_in_recovery(),
		CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_get_wal_replay_pause_state() ELSE 'not paused' END,
		COALESCE(pg_catalog.pg_last_wal_replay_lsn()::text, '')`
	qPromoteNoWait = `SELECT pg_catalog.pg_promote(false)`

	// qArchiver: archive_mode, the WAL segment size and pg_stat_archiver.
	qArchiver = `SELECT pg_catalog.current_setting('archive_mode'),
	(SELECT setting::bigint FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size'),
	archived_count, failed_count, COALESCE(last_archived_wal, ''), last_archived_time, last_failed_time
	FROM pg_catalog.pg_stat_archiver`

	qCheckpoint = `CHECKPOINT`

	// qStatus: in_recovery, system_identifier, server_version_num,
	// postmaster start time, any setting pending a restart, the
	// configuration file the server reads.
	qStatus = `SELECT pg_catalog.pg_is_in_recovery(),
	(SELECT system_identifier::text FROM pg_catalog.pg_control_system()),
	pg_catalog.current_setting('server_version_num')::int,
	pg_catalog.pg_postmaster_start_time(),
	EXISTS (SELECT 1 FROM pg_catalog.pg_settings WHERE pending_restart),
	pg_catalog.current_setting('config_file')`

	// qPrimaryWAL: current WAL insert position and the WAL file name it is
	// in; the first 8 hex digits of the name are the current timeline
	// (exact right after promotion, unlike pg_control_checkpoint()).
	qPrimaryWAL = `SELECT pg_catalog.pg_current_wal_lsn()::text,
	pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn())`

	// qReplicaWAL: received and replayed positions, last replayed commit
	// time, replay paused, the timeline of the last restartpoint and the
	// one of the minimum recovery point (a timeline replay reached; moved
	// on by page writes, so sooner than the restartpoint's).
	qReplicaWAL = `SELECT COALESCE(pg_catalog.pg_last_wal_receive_lsn()::text, ''),
	COALESCE(pg_catalog.pg_last_wal_replay_lsn()::text, ''),
	pg_catalog.pg_last_xact_replay_timestamp(),
	pg_catalog.pg_is_wal_replay_paused(),
	(SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()),
	(SELECT min_recovery_end_timeline FROM pg_catalog.pg_control_recovery())`

	// qWALReceiver: zero or one row.
	qWALReceiver = `SELECT COALESCE(status, ''), COALESCE(sender_host, ''), COALESCE(received_tli, 0)
	FROM pg_catalog.pg_stat_wal_receiver`

	qReplication = `SELECT COALESCE(usename::text, ''), COALESCE(application_name, ''),
	COALESCE(host(client_addr), ''), COALESCE(state, ''), COALESCE(sync_state, ''),
	COALESCE(sync_priority, 0),
	COALESCE(write_lsn::text, ''), COALESCE(flush_lsn::text, ''), COALESCE(replay_lsn::text, '')
	FROM pg_catalog.pg_stat_replication
	ORDER BY application_name, pid`

	qRoleExists = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)`

	// qQuietSecrets keeps role passwords out of the server log for the
	// transaction that sets them.
	qQuietSecrets = `SET LOCAL log_statement = 'none';
SET LOCAL log_min_duration_statement = -1;
SET LOCAL log_min_error_statement = 'panic'`

	// qRewindGrants: the functions pg_rewind calls on its source, for a
	// non-superuser rewind role (PostgreSQL docs, pg_rewind). %s is the
	// quoted role name.
	qRewindGrants = `GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO %[1]s;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO %[1]s;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO %[1]s;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO %[1]s`

	qPhysicalSlots = `SELECT slot_name::text, active FROM pg_catalog.pg_replication_slots
	WHERE slot_type = 'physical' ORDER BY slot_name`

	qCreatePhysicalSlot = `SELECT slot_name::text FROM pg_catalog.pg_create_physical_replication_slot($1, true)`

	qDropSlot = `SELECT pg_catalog.pg_drop_replication_slot($1)`
)
