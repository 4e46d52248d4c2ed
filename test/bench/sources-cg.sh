#!/usr/bin/env bash
# test/bench/sources-cg.sh: what recording leak sources costs the worker,
# in instructions counted by callgrind (issue 31).  Runs alone (make
# bench-sources); measures the leakguard installed in PG_CONFIG's
# installation (no "make install").
#
# Each arm starts a cluster under callgrind (the postmaster and what it
# forks), with leakguard in dry_run, terminate_superusers on and a limit of
# 10 ms for the application "lgb", and runs LG_BENCH_SRC_CLIENTS pgbench
# clients of it for LG_BENCH_SRC_SECONDS s: each opens a transaction, runs
# a 164-byte SELECT, stays idle in transaction 20 ms (so that every period
# is reported: a history row, a log line and, with sources on, a leak
# source), commits and waits 20 ms.  Arms: max_sources = 0 (none), 1000
# with compute_query_id off (the text is fingerprinted at each report),
# 1000 with compute_query_id on (the query id keys it).  Reported per arm:
# sessions reported, the worker's instructions per report, those of
# lg_sources_record() (inclusive) per report, and their share.
#
# Environment (defaults in brackets):
#   LG_BENCH_SRC_CLIENTS [20]   LG_BENCH_SRC_SECONDS [60]
#   LG_BENCH_KEEP [0]           1: keep the scratch directory
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

CLIENTS=${LG_BENCH_SRC_CLIENTS:-20}
SECONDS_RUN=${LG_BENCH_SRC_SECONDS:-60}
PORT=5432

lg_ensure_packages valgrind
lg_setup_paths
lg_setup_user

work=$(lg_workdir sources-cg)
cleanup() {
    local rc=$?
    set +e
    [ -f "$work/data/postmaster.pid" ] &&
        lg_as_user pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1
    if [ "${LG_BENCH_KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT

psql_v() { lg_as_user psql -X -Atq -h "$work" -p $PORT -d postgres -c "$1"; }

cat >"$work/postgres" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="$work/cg/cg.%p" "$PG_BINDIR/postgres" "\$@"
WRAP
chmod 755 "$work/postgres"
printf "BEGIN;\nSELECT c.oid, c.relname, c.relkind FROM pg_catalog.pg_class c WHERE c.relname = 'orders_2026' AND c.relkind IN ('r', 'p', 'v') AND c.oid > 12345 ORDER BY c.oid LIMIT 10;\n\\\\sleep 20 ms\nCOMMIT;\n\\\\sleep 20 ms\n" >"$work/script.sql"
chmod 644 "$work/script.sql"

arm() {	# arm NAME MAX_SOURCES COMPUTE_QUERY_ID
    local name=$1 pid reports total rec
    rm -rf "$work/data" "$work/cg"
    mkdir "$work/cg"
    [ "$(id -u)" = 0 ] && chown "$LG_USER" "$work/cg"
    lg_as_user initdb -D "$work/data" -A trust >/dev/null
    cat >>"$work/data/postgresql.conf" <<CONF
shared_preload_libraries = 'leakguard'
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
max_connections = $((CLIENTS + 20))
leakguard.mode = dry_run
leakguard.naptime = 10ms
leakguard.application_timeouts = 'lgb=10ms'
leakguard.terminate_superusers = on
leakguard.max_sources = $2
compute_query_id = $3
CONF
    lg_as_user sh -c 'exec "$1" -D "$2" >"$2/../server.log" 2>&1' sh "$work/postgres" "$work/data" &
    for _ in $(seq 1 120); do psql_v "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
    psql_v "CREATE EXTENSION leakguard" >/dev/null
    pid=$(psql_v "SELECT pid FROM leakguard.status()")
    PGAPPNAME=lgb lg_as_user pgbench -n -h "$work" -p $PORT -c "$CLIENTS" -j 2 -T "$SECONDS_RUN" \
        -f "$work/script.sql" postgres >/dev/null 2>&1
    reports=$(psql_v "SELECT dry_run FROM leakguard.stats WHERE application_name = 'lgb'")
    lg_as_user pg_ctl -D "$work/data" -m fast -t 300 stop >/dev/null
    for _ in $(seq 1 60); do [ -s "$work/cg/cg.$pid" ] && break; sleep 1; done
    total=$(sed -n 's/^totals: //p' "$work/cg/cg.$pid")
    rec=$(callgrind_annotate --inclusive=yes --threshold=100 "$work/cg/cg.$pid" 2>/dev/null |
        awk '/:lg_sources_record / && !done { gsub(",", "", $1); print $1; done = 1 }')
    awk -v n="$name" -v r="$reports" -v t="$total" -v s="${rec:-0}" 'BEGIN {
        printf "| %s | %d | %.0f | %.0f | %.2f%% |\n", n, r, t / r, s / r, 100 * s / t }'
}

echo "leakguard sources, PostgreSQL $LG_PG_VERSION; $CLIENTS clients for $SECONDS_RUN s under callgrind, every idle period reported"
echo "| arm | sessions reported | worker instructions per report | lg_sources_record per report | share |"
echo "|---|---:|---:|---:|---:|"
arm "max_sources = 0" 0 off
arm "max_sources = 1000, compute_query_id off" 1000 off
arm "max_sources = 1000, compute_query_id on" 1000 on
