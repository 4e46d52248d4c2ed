#!/usr/bin/env bash
# make bench-episodes: what recording every episode costs (issue 22).
#
# LG_BENCH_EP_SESSIONS (1000) pgbench clients of one application change
# state all the time: each runs BEGIN, waits LG_BENCH_EP_SLEEP_MS (20) ms idle
# in transaction, SELECT 1, COMMIT, waits as long idle, again; so between
# two scans (naptime 10 ms) nearly every backend slot records episodes, and
# the worker folds every slot at every scan.  mode dry_run, no limit:
# nobody is terminated.  Reported, over a LG_BENCH_EP_WINDOW (5000) ms
# window once all sessions are connected: the worker's mean scan time
# (leakguard.status(), as in make bench part 3), scans, and the episodes
# the sessions recorded per second (1.2 only: idle in transaction, idle
# and transactions), the sessions reported in dry_run per second (none
# unless a limit is set), and the CPU time the worker used (utime + stime
# of /proc/PID/stat), which a loaded machine inflates less than the scan
# times; then leakguard's named shared memory
# (pg_shmem_allocations), where the per-backend slots are.
#
# LG_BENCH_EP_CONF adds lines to postgresql.conf, e.g. a limit that every
# idle-in-transaction period passes, so that the worker reports (and
# records, with its history row and leak source) a few thousand sessions
# a second (the sessions are the superuser's: terminate_superusers on, or
# each is reported once):
#   LG_BENCH_EP_CONF="leakguard.application_timeouts = 'lgb_episodes=10ms'
#   leakguard.terminate_superusers = on
#   leakguard.max_sources = 0" make bench-episodes
#
# It measures the leakguard installed in PG_CONFIG's installation
# (LG_BENCH_BUILD=1, the default, first runs make install): to compare with
# another version, install that one and run with LG_BENCH_BUILD=0.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

SESSIONS=${LG_BENCH_EP_SESSIONS:-1000}
SLEEP_MS=${LG_BENCH_EP_SLEEP_MS:-20}
WINDOW=${LG_BENCH_EP_WINDOW:-5000}
PORT=5432

lg_setup_paths
lg_setup_user
if [ "${LG_BENCH_BUILD:-1}" = 1 ]; then
    make -s install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((SESSIONS + 256)) ]; then
    ulimit -n $((SESSIONS + 256 > 4096 ? SESSIONS + 256 : 4096)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

work=$(lg_workdir bench-episodes)
data=$work/data
cleanup() {
    local rc=$?
    set +e
    [ -f "$data/postmaster.pid" ] && lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1
    [ -n "${pgbench_pid:-}" ] && kill "$pgbench_pid" 2>/dev/null
    if [ $rc != 0 ] && [ -f "$work/server.log" ]; then
        echo "---- server log (last 20 lines)" >&2
        tail -n 20 "$work/server.log" >&2
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

lg_as_user initdb -D "$data" -A trust -U "$LG_USER" >/dev/null
cat >>"$data/postgresql.conf" <<CONF
shared_preload_libraries = 'leakguard'
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
max_connections = $((SESSIONS + 100))
fsync = off
leakguard.mode = dry_run
leakguard.naptime = 10ms
${LG_BENCH_EP_CONF:-}
CONF
lg_as_user pg_ctl -D "$data" -l "$work/server.log" -w -t 120 start >/dev/null
psql_v() { psql -X -Atq -h "$work" -p $PORT -U "$LG_USER" -d postgres -c "$1"; }
psql_v "CREATE EXTENSION leakguard" >/dev/null
version=$(psql_v "SELECT extversion FROM pg_extension WHERE extname = 'leakguard'")

printf 'BEGIN;\n\\sleep %d ms\nSELECT 1;\nCOMMIT;\n\\sleep %d ms\n' "$SLEEP_MS" "$SLEEP_MS" >"$work/script.sql"
chmod 644 "$work/script.sql"
PGAPPNAME=lgb_episodes lg_as_user pgbench -n -h "$work" -p $PORT -U "$LG_USER" \
    -c "$SESSIONS" -j 2 -T 600 -f "$work/script.sql" postgres >"$work/pgbench.out" 2>&1 &
pgbench_pid=$!
for _ in $(seq 1 600); do
    [ "$(psql_v "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lgb_episodes'")" -ge "$SESSIONS" ] && break
    sleep 0.2
done

# Episodes the sessions recorded (1.2), as the worker folded them: 0 before.
episodes_sql=0
if [ "$(psql_v "SELECT count(*) FROM pg_proc WHERE proname = 'suggest_limits'")" = 1 ]; then
    episodes_sql="(SELECT sum(episodes) FROM leakguard.suggest_limits() WHERE application_name = 'lgb_episodes')"
fi
sample() { psql_v "SELECT scans, mean_scan_time, coalesce($episodes_sql, 0),
                         (SELECT coalesce(sum(dry_run), 0) FROM leakguard.stats) FROM leakguard.status()"; }
worker_pid=$(psql_v "SELECT pid FROM leakguard.status()")
worker_cpu() { awk '{ print $14 + $15 }' "/proc/$worker_pid/stat"; }
IFS='|' read -r scans1 mean1 xacts1 reports1 <<<"$(sample)"
cpu1=$(worker_cpu)
t1=$(date +%s%N)
sleep "$(awk -v w="$WINDOW" 'BEGIN { printf "%.3f", w / 1000 }')"
IFS='|' read -r scans2 mean2 xacts2 reports2 <<<"$(sample)"
cpu2=$(worker_cpu)
t2=$(date +%s%N)
kill "$pgbench_pid" 2>/dev/null || true
wait "$pgbench_pid" 2>/dev/null || true
pgbench_pid=


echo "leakguard $version, PostgreSQL $LG_PG_VERSION, $(nproc) CPUs; $SESSIONS sessions changing state every $SLEEP_MS ms, naptime 10 ms"
awk -v s1="$scans1" -v m1="$mean1" -v s2="$scans2" -v m2="$mean2" -v x1="$xacts1" -v x2="$xacts2" \
    -v r1="$reports1" -v r2="$reports2" -v c1="$cpu1" -v c2="$cpu2" -v hz="$(getconf CLK_TCK)" \
    -v t1="$t1" -v t2="$t2" 'BEGIN {
    secs = (t2 - t1) / 1e9
    printf "| scans in %.1f s | mean scan time (ms) | episodes recorded per second | sessions reported per second | worker CPU (ms per s) | worker CPU per scan (µs) |\n|---:|---:|---:|---:|---:|---:|\n", secs
    printf "| %d | %.3f | %s | %.0f | %.0f | %.1f |\n", s2 - s1, (m2 * s2 - m1 * s1) / (s2 - s1), (x2 > 0 ? sprintf("%.0f", (x2 - x1) / secs) : "n/a (no recording)"), (r2 - r1) / secs, (c2 - c1) * 1000 / hz / secs, (c2 - c1) * 1e6 / hz / (s2 - s1)
}'
echo
echo "shared memory (pg_shmem_allocations), max_connections $((SESSIONS + 100)), max_applications $(psql_v "SHOW leakguard.max_applications"), max_sources $(psql_v "SHOW leakguard.max_sources" 2>/dev/null || echo n/a):"
psql_v "SELECT name || ': ' || pg_size_pretty(allocated_size) FROM pg_shmem_allocations WHERE name LIKE 'leakguard%' ORDER BY name"
