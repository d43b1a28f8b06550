# Shared by demo.sh and bench.sh: the configuration of one node of a
# three-node cluster on 127.0.0.1.
#
#   node_config DIR I BASE SCOPE AUTH [PARAM_LINES]
#
# writes DIR/nodeI/conclave.yml: PostgreSQL on BASE+I, REST API on
# BASE+100+I, Raft on BASE+200+I; AUTH is the pg_hba method for TCP (md5 or
# trust); PARAM_LINES are extra "name: value" lines for
# bootstrap.dcs.postgresql.parameters. Uses PG_BIN.
node_config() {
  local dir=$1 i=$2 base=$3 scope=$4 auth=$5 params=${6:-} j partners="" p
  mkdir -p "$dir/node$i"
  for j in 1 2 3; do [ "$j" = "$i" ] || partners+="
    - 127.0.0.1:$((base + 200 + j))"; done
  local param_yaml=""
  while IFS= read -r p; do [ -n "$p" ] && param_yaml+="
        $p"; done <<<"$params"
  cat >"$dir/node$i/conclave.yml" <<YAML
scope: $scope
name: node$i
restapi:
  listen: 127.0.0.1:$((base + 100 + i))
  connect_address: 127.0.0.1:$((base + 100 + i))
raft:
  data_dir: $dir/node$i/raft
  self_addr: 127.0.0.1:$((base + 200 + i))
  partner_addrs:$partners
bootstrap:
  dcs:
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 50
        shared_buffers: 32MB
        wal_keep_size: 128MB$param_yaml
  initdb:
  - encoding: UTF8
  - data-checksums
postgresql:
  listen: 127.0.0.1:$((base + i))
  connect_address: 127.0.0.1:$((base + i))
  data_dir: $dir/node$i/data
  bin_dir: $PG_BIN
  pgpass: $dir/node$i/pgpass
  authentication:
    superuser: {username: postgres, password: postgres}
    replication: {username: replicator, password: replicator}
  parameters:
    unix_socket_directories: '$dir/node$i'
  pg_hba:
  - local all all trust
  - host all all 127.0.0.1/32 $auth
  - host replication replicator 127.0.0.1/32 $auth
YAML
}
