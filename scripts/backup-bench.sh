#!/usr/bin/env bash
# Replica built from the pgBackRest repository vs pg_basebackup from the
# primary: how long each takes and what the primary's write throughput is
# while it runs (README "Figures"). Run as root (PostgreSQL runs as the
# postgres user); SCALE=68 is about 1 GB of pgbench data, the default 17
# about 260 MB. Run it under the integration lock on a shared machine:
#   flock /tmp/conclave-integration.lock scripts/backup-bench.sh
set -euo pipefail
B=${PG_BIN:-/usr/lib/postgresql/15/bin}
SCALE=${SCALE:-17}
SECS=${SECS:-15}
W=$(mktemp -d /tmp/conclave-backup-bench-XXXX)
PORT=${PORT:-56432}
chmod 755 "$W"; chown postgres "$W"
as_pg() { runuser -u postgres -- env PGBACKREST_CONFIG="$W/pgbackrest.conf" PGBACKREST_PG1_PATH="$W/primary" \
  PGBACKREST_PG1_PORT=$PORT PGBACKREST_PG1_SOCKET_PATH="$W" "$@"; }
cleanup() {
  as_pg "$B/pg_ctl" -D "$W/primary" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
cat >"$W/pgbackrest.conf" <<CONF
[global]
repo1-path=$W/repo
lock-path=$W/lock
log-level-file=off
log-level-console=warn
start-fast=y
repo1-retention-full=1
CONF
chown postgres "$W/pgbackrest.conf"
as_pg "$B/initdb" -D "$W/primary" -U postgres --auth=trust >/dev/null
cat >>"$W/primary/postgresql.conf" <<CONF
port=$PORT
listen_addresses=''
unix_socket_directories='$W'
archive_mode=on
archive_command='pgbackrest --stanza=bench archive-push %p'
max_wal_size=1GB
CONF
as_pg "$B/pg_ctl" -D "$W/primary" -l "$W/primary.log" -w start >/dev/null
as_pg "$B/pgbench" -h "$W" -p $PORT -i -q -s "$SCALE" postgres >/dev/null 2>&1
size=$(as_pg "$B/psql" -h "$W" -p $PORT -Atc "select pg_size_pretty(pg_database_size('postgres'))" postgres)
as_pg pgbackrest --stanza=bench stanza-create
as_pg pgbackrest --stanza=bench --type=full backup

commits() { as_pg "$B/psql" -h "$W" -p $PORT -Atc "select xact_commit from pg_stat_database where datname='postgres'" postgres; }
# during CMD...: pgbench (2 clients) runs while CMD runs; prints "seconds
# tps", tps from the commits pg_stat_database counted meanwhile.
during() {
  as_pg "$B/pgbench" -h "$W" -p $PORT -c 2 -T 900 -n postgres >/dev/null 2>&1 &
  local pb=$! c0 c1 start end
  sleep 1
  c0=$(commits); start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N); c1=$(commits)
  kill $pb 2>/dev/null || true; wait $pb 2>/dev/null || true
  echo "$(echo "scale=1; ($end - $start)/1" | bc) $(echo "($c1 - $c0) / ($end - $start)" | bc)"
}
read -r _ base < <(during sleep "$SECS")
read -r bb_s bb_tps < <(during as_pg "$B/pg_basebackup" -h "$W" -p $PORT -U postgres -D "$W/bb" -X stream -c fast)
read -r br_s br_tps < <(during as_pg pgbackrest --stanza=bench --pg1-path="$W/br" --process-max=2 restore)
echo "database: $size (pgbench scale $SCALE); primary alone: $base tps (2 clients)"
echo "| method | time to copy | primary tps while it runs |"
echo "|---|---|---|"
echo "| pg_basebackup from the primary | ${bb_s} s | $bb_tps |"
echo "| pgbackrest restore from the repository | ${br_s} s | $br_tps |"
