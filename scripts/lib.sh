# Shared by demo.sh and bench.sh: the configuration of one node of a
# three-node cluster on 127.0.0.1.
#
#   node_config DIR I BASE SCOPE AUTH [PARAM_LINES]
#
# writes DIR/nodeI/conclave.yml: PostgreSQL on BASE+I, REST API on
# BASE+100+I, Raft on BASE+200+I; AUTH is the pg_hba method for TCP (md5 or
# trust); PARAM_LINES are extra "name: value" lines for
# bootstrap.dcs.postgresql.parameters. Uses PG_BIN. With RAFT_TLS_DIR set
# (made by conclave tls ca create / cert create nodeI), the Raft port runs
# mutual TLS with RAFT_TLS_DIR/nodeI.pem, nodeI-key.pem and conclave-ca.pem.
node_config() {
  local dir=$1 i=$2 base=$3 scope=$4 auth=$5 params=${6:-} j partners="" p
  mkdir -p "$dir/node$i"
  for j in 1 2 3; do [ "$j" = "$i" ] || partners+="
    - 127.0.0.1:$((base + 200 + j))"; done
  local tls_yaml=""
  [ -n "${RAFT_TLS_DIR:-}" ] && tls_yaml="
  certfile: $RAFT_TLS_DIR/node$i.pem
  keyfile: $RAFT_TLS_DIR/node$i-key.pem
  cafile: $RAFT_TLS_DIR/conclave-ca.pem"
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
  partner_addrs:$partners$tls_yaml
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

# start_three DIR BIN SCOPE AUTH: writes the three nodes' configurations on a
# random free-looking port base (printed into the global BASE), hands DIR
# to the postgres user when run_as is set, and starts the agents in the
# background (their PIDs appended to the global pids array; logs in
# DIR/nodeI/agent.log).
start_three() {
  local dir=$1 bin=$2 scope=$3 auth=$4 i
  BASE=$((20000 + RANDOM % 20000 / 10 * 10))
  for i in 1 2 3; do node_config "$dir" "$i" "$BASE" "$scope" "$auth"; done
  [ ${#run_as[@]} -gt 0 ] && chown -R postgres "$dir"
  for i in 1 2 3; do
    "${run_as[@]}" "$bin" -c "$dir/node$i/conclave.yml" run >"$dir/node$i/agent.log" 2>&1 &
    pids+=($!)
  done
}
