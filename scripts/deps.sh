#!/usr/bin/env bash
# Installs what `make demo` (deps.sh demo) or `make test` (deps.sh test)
# needs when it is missing: as root with apt-get (Debian), otherwise one
# line saying what to install. Services the packages bring (a PostgreSQL
# cluster on 5432, a Prometheus server) are not started: the tests and the
# demo start their own.
set -euo pipefail
what=${1:-test}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

need=()
[ -x "$PG_BIN/postgres" ] || need+=(postgresql-15)
if [ "$(id -u)" = 0 ]; then command -v runuser >/dev/null || need+=(util-linux); fi  # agents run as postgres
if [ "$what" = test ]; then
  command -v iptables >/dev/null || need+=(iptables)
  command -v nft >/dev/null || need+=(nftables)
  command -v ip >/dev/null || need+=(iproute2)
  command -v setpriv >/dev/null || need+=(util-linux)  # agents keeping CAP_NET_ADMIN/CAP_NET_RAW in the floating-IP tests
  command -v promtool >/dev/null || need+=(prometheus)   # promtool and the real server for the scrape test
  command -v prometheus >/dev/null || need+=(prometheus)
  command -v haproxy >/dev/null || need+=(haproxy)       # deploy/haproxy checks and the HAProxy test
  command -v openssl >/dev/null || need+=(openssl)       # encrypted keys in certs' tests
  command -v pgbackrest >/dev/null || need+=(pgbackrest) # backups, archiving and restore (integration/backup_test.go)
fi
if ((${#need[@]} == 0)); then
  exit 0
fi
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "make $what: missing ${need[*]}: install them (apt-get install ${need[*]}) or run make $what as root on Debian" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
added_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && added_policy=1
fi
echo "make $what: installing ${need[*]}" >&2
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
if [ -n "$added_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
# The Debian package creates a cluster on 5432; nothing here needs it running.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q online; then
  pg_ctlcluster 15 main stop || true
fi
