#!/usr/bin/env bash
# test/bench/xmin-scan.sh: what an xmin limit costs the worker's scan with
# many sessions in transactions (issue 29, item 8).  Runs alone, on a
# cluster of its own, with the installed leakguard (LG_BENCH_BUILD=1, the
# default, runs "make install" first).
#
# LG_BENCH_XS_SESSIONS (1000) sessions each take a transaction ID and stay
# idle in transaction (test/bench/lg_hold.c), no idle limit.  Two arms on
# the same sessions: "off", leakguard.xmin_age_limit = 0 (no session is
# measured in transactions), and "on", xmin_age_limit = 1000000000 (every
# session's xmin and xid are read at every scan; none reaches it).  In each
# arm, after a reload and LG_BENCH_XS_WARMUP (20) scans, LG_BENCH_XS_SCANS
# (500) scans are asked for with leakguard.check(), one after the other;
# the mean scan time over them comes from leakguard.status() (its
# mean_scan_time times scans, before and after).  Arms alternate,
# LG_BENCH_XS_ROUNDS (3) rounds.  Figures only: nothing passes or fails on
# time.
#
# Environment (defaults in brackets):
#   LG_BENCH_XS_SESSIONS [1000]  LG_BENCH_XS_SCANS [500]
#   LG_BENCH_XS_WARMUP [20]      LG_BENCH_XS_ROUNDS [3]
#   LG_BENCH_BUILD [1]           0: do not run "make install"
#   LG_BENCH_KEEP [0]            1: keep the scratch directory
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

N=${LG_BENCH_XS_SESSIONS:-1000}
SCANS=${LG_BENCH_XS_SCANS:-500}
WARMUP=${LG_BENCH_XS_WARMUP:-20}
ROUNDS=${LG_BENCH_XS_ROUNDS:-3}
PORT=5432           # on a private socket directory: no clash with other servers

lg_setup_paths
lg_setup_user
if [ "${LG_BENCH_BUILD:-1}" = 1 ]; then
    lg_say "building and installing leakguard (make install; LG_BENCH_BUILD=0 skips)"
    make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
    make -s install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
fi

work=$(lg_workdir xmin-scan)
data="$work/data"
log="$work/server.log"
cleanup() {
    local rc=$?
    set +e
    exec 4>&-
    wait 2>/dev/null
    [ -f "$data/postmaster.pid" ] && lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1
    if [ $rc != 0 ] && [ -f "$log" ]; then
        echo "---- server log (last 40 lines)" >&2
        tail -n 40 "$log" >&2
    fi
    if [ "${LG_BENCH_KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# libpq from the client package where the server's installation has none
# (as make bench builds lg_bench)
lg_ensure_packages libpq-dev
cc -O2 -Wall -Werror -I"$("$PG_CONFIG" --includedir)" -I/usr/include/postgresql \
    -o "$work/lg_hold" test/bench/lg_hold.c -lpq

psql_v() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U "$LG_USER" -d postgres -c "$1"; }

lg_as_user initdb -D "$data" -A trust --locale=C >/dev/null
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
max_connections = $((N + 20))
shared_buffers = 64MB
fsync = off
autovacuum = off
shared_preload_libraries = 'leakguard'
include_if_exists = 'arm.conf'
CONF
lg_as_user pg_ctl -D "$data" -l "$log" -w -t 120 start >/dev/null
psql_v "CREATE EXTENSION leakguard" >/dev/null

lg_say "$N sessions take a transaction ID and stay idle in transaction"
mkfifo "$work/hold.fifo"
"$work/lg_hold" "host=$work port=$PORT user=$LG_USER dbname=postgres application_name=lgb_hold" "$N" \
    <"$work/hold.fifo" >"$work/hold.out" &
exec 4>"$work/hold.fifo"
for _ in $(seq 1 600); do
    grep -q ready "$work/hold.out" 2>/dev/null && break
    sleep 0.5
done
grep -q ready "$work/hold.out" || { echo "the sessions did not open" >&2; exit 1; }

arm() {	# arm NAME LIMIT: the mean scan time in ms over SCANS scans
    local name=$1 limit=$2 before after
    echo "leakguard.xmin_age_limit = $limit" >"$data/arm.conf"
    [ "$(id -u)" = 0 ] && chown "$LG_USER" "$data/arm.conf"
    psql_v "SELECT pg_reload_conf()" >/dev/null
    psql_v "DO \$\$ BEGIN FOR i IN 1..$WARMUP LOOP PERFORM leakguard.check(); END LOOP; END \$\$" >/dev/null
    before=$(psql_v "SELECT scans || ' ' || mean_scan_time * scans FROM leakguard.status()")
    psql_v "DO \$\$ BEGIN FOR i IN 1..$SCANS LOOP PERFORM leakguard.check(); END LOOP; END \$\$" >/dev/null
    after=$(psql_v "SELECT scans || ' ' || mean_scan_time * scans FROM leakguard.status()")
    echo "$before $after" | awk -v name="$name" '{ printf "%s %.4f\n", name, ($4 - $2) / ($3 - $1) }'
}

results="$work/results"
: >"$results"
for r in $(seq 1 "$ROUNDS"); do
    arm off 0 | tee -a "$results"
    arm on 1000000000 | tee -a "$results"
done
terminated=$(psql_v "SELECT terminated FROM leakguard.status()")
[ "$terminated" = 0 ] || { echo "!!! $terminated sessions were terminated" >&2; exit 1; }

echo
echo "### Scan time with $N sessions in transactions (make bench-xmin-scan; $(date -u '+%Y-%m-%d %H:%M UTC'), git $(git rev-parse --short HEAD), PostgreSQL $LG_PG_VERSION)"
echo
echo "Mean scan time (leakguard.status()) over $SCANS scans asked for with leakguard.check(), per round;"
echo "xmin limit off (xmin_age_limit = 0) and on (1000000000: every session read at every scan)."
echo
echo "| arm | rounds (ms per scan) | median ms |"
echo "|---|---|---:|"
for a in off on; do
    awk -v a="$a" '$1 == a { print $2 }' "$results" | sort -n | awk -v a="$a" '
        { v[NR] = $1; s = s (s == "" ? "" : ", ") sprintf("%.3f", $1) }
        END { printf "| %s | %s | %.3f |\n", a, s, v[int((NR + 1) / 2)] }'
done
