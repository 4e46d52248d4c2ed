#!/usr/bin/env bash
# test/bench/procarray.sh: what leakguard's hold of ProcArrayLock during a
# mass expiry costs other sessions' writes.  Part 7 of make bench; runs
# alone too (it needs no other part, and no "make install").
#
# The worker re-checks and signals the sessions due in one scan under
# ProcArrayLock (shared), LG_TERMINATE_GROUP of them per acquisition
# (src/terminate.h; 0: the whole batch under one acquisition, as 1.1 did).
# While it is held, every exclusive acquirer waits: a commit that clears
# an xid, a backend that starts or exits, the victims' own exits.  This
# script builds copies of leakguard with each value of LG_BENCH_LOCK_GROUPS
# and, for each copy in turn and for the built-in
# idle_in_transaction_session_timeout as a baseline:
#
#   - restarts the server with that copy preloaded (dynamic_library_path;
#     no CREATE EXTENSION, so no other copy is ever loaded), or without
#     leakguard for the built-in arm;
#   - has "lg_bench mass" make LG_BENCH_MASS_SESSIONS sessions go idle in
#     transaction at one moment under one limit (for the built-in arm,
#     idle_in_transaction_session_timeout set in their connection string);
#   - meanwhile runs pgbench -N (every transaction commits an xid) with
#     per-transaction logs, from when the sessions are connected until well
#     after the expiry;
#   - reads, from pgbench's logs, the latencies of the transactions that
#     were running between the first deadline and the end of the last
#     session's connection (the expiry window: count, tps, p50, p99, max),
#     and of those of a quiet window of the same run, 2.5 s to 0.5 s before
#     the first deadline; and from lg_bench, when the last session received
#     its FATAL message after the last deadline.
#
# The arms alternate, in the order A B C .. then .. C B A, for
# LG_BENCH_LOCK_ROUNDS rounds, so that a drift of the machine's load weighs
# on all alike.  Prints one line per run, then a Markdown report: per arm
# the median, minimum and maximum over the rounds of each figure.  Figures
# only: nothing passes or fails on time; exits non-zero if something
# breaks or a session is terminated before its deadline.
#
# Environment (defaults in brackets):
#   LG_BENCH_LOCK_GROUPS ["0 1 16"]  LG_TERMINATE_GROUP of each copy
#   LG_BENCH_LOCK_ROUNDS [3]         rounds of all arms
#   LG_BENCH_MASS_SESSIONS [1000]    LG_BENCH_MASS_LIMIT [2000] ms
#   LG_BENCH_LOCK_CLIENTS [4]        pgbench -N clients (-j 2)
#   LG_BENCH_PGBENCH_SCALE [10]
#   LG_BENCH_REPORT                  also write the report to this file
#   LG_BENCH_KEEP [0]                1: keep the scratch directory
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

GROUPS_LIST=${LG_BENCH_LOCK_GROUPS:-0 1 16}
ROUNDS=${LG_BENCH_LOCK_ROUNDS:-3}
SESSIONS=${LG_BENCH_MASS_SESSIONS:-1000}
LIMIT=${LG_BENCH_MASS_LIMIT:-2000}
CLIENTS=${LG_BENCH_LOCK_CLIENTS:-4}
SCALE=${LG_BENCH_PGBENCH_SCALE:-10}
SYNC=3000           # ms: lg_bench mass's default --sync
NAPTIME=1000        # ms
PORT=5432           # on a private socket directory: no clash with other servers
# pgbench runs from when the sessions are connected: 0.2 s + sync + limit
# to the first deadline, then the expiry (1000 exits take about 2 s here).
PGB_TIME=$(((200 + SYNC + LIMIT) / 1000 + 6))

t_begin=$(date +%s)
lg_ensure_packages libpq-dev
lg_setup_paths
lg_setup_user
make -s -C test/bench lg_bench PG_CONFIG="$PG_CONFIG"
LG_BENCH=$PWD/test/bench/lg_bench
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((SESSIONS + 256)) ]; then
    ulimit -n $((SESSIONS + 256 > 4096 ? SESSIONS + 256 : 4096)) 2>/dev/null ||
        ulimit -n "$(ulimit -Hn)"
fi

work=$(lg_workdir procarray)
data="$work/data"
log="$work/server.log"
CONN="host=$work port=$PORT dbname=postgres user=$LG_USER"
cleanup() {
    local rc=$?
    set +e
    [ -f "$data/postmaster.pid" ] && lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1
    if [ $rc != 0 ] && [ -f "$log" ]; then
        echo "---- server log (last 40 lines)" >&2
        tail -n 40 "$log" >&2
    fi
    if [ "${LG_BENCH_KEEP:-0}" = 1 ]; then
        echo "scratch directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for g in $GROUPS_LIST; do
    lg_say "building leakguard with LG_TERMINATE_GROUP=$g"
    mkdir -p "$work/lib-$g"
    cp -r Makefile leakguard.control ./*.sql src "$work/lib-$g/"
    make -s -C "$work/lib-$g" clean PG_CONFIG="$PG_CONFIG" >/dev/null
    make -s -C "$work/lib-$g" PG_CONFIG="$PG_CONFIG" with_llvm=no \
        COPT="-DLG_TERMINATE_GROUP=$g" >/dev/null
done
[ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work"

psql_v() { psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U "$LG_USER" -d postgres -Atc "$1"; }

lg_say "creating a scratch cluster in $work"
lg_as_user initdb -D "$data" -A trust -E UTF8 --locale=C >/dev/null
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
max_connections = $((SESSIONS + 100))
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_line_prefix = '%m [%p] '
log_timezone = 'UTC'
leakguard.naptime = '${NAPTIME}ms'
leakguard.application_timeouts = 'lgb_mass=${LIMIT}ms'
include_if_exists = 'arm.conf'
CONF
: >"$data/arm.conf"
[ "$(id -u)" = 0 ] && chown "$LG_USER" "$data/arm.conf"
lg_as_user pg_ctl -D "$data" -l "$log" -w -t 120 start >/dev/null
server_version=$(psql_v "SHOW server_version")
psql_v "CREATE ROLE lgb_mass LOGIN" >/dev/null
pgbench -q -i -s "$SCALE" -h "$work" -p "$PORT" -U "$LG_USER" postgres >/dev/null 2>&1 || {
    echo "pgbench -i failed" >&2
    exit 1
}
lg_as_user pg_ctl -D "$data" -m fast -w -t 120 stop >/dev/null

# arm_conf ARM: builtin, or a group size
arm_conf() {
    if [ "$1" = builtin ]; then
        echo "shared_preload_libraries = ''"
    else
        echo "dynamic_library_path = '$work/lib-$1:\$libdir'"
        echo "shared_preload_libraries = 'leakguard'"
    fi >"$data/arm.conf"
}

# window_stats LOGS...: reads pgbench's per-transaction logs ("client
# xact latency_us script epoch_s epoch_us") and prints, for the window
# [$W0, $W1] (us since the epoch), "count tps p50_ms p99_ms max_ms" over
# the transactions running at some moment inside it (nearest rank).
window_stats() {
    awk -v w0="$W0" -v w1="$W1" '
        { end = $5 * 1000000 + $6; start = end - $3
          if (start <= w1 && end >= w0) print $3 / 1000 }' "$@" | sort -n |
    awk -v span="$((W1 - W0))" '
        { lat[++n] = $1 }
        END {
            if (n == 0) { print "0 0 - - -"; exit }
            p50 = lat[int(0.5 * (n - 1)) + 1]; p99 = lat[int(0.99 * (n - 1)) + 1]
            printf "%d %.0f %.2f %.2f %.2f\n", n, n / (span / 1e6), p50, p99, lat[n]
        }'
}

rows="$work/runs.rows"
: >"$rows"
arms="builtin $GROUPS_LIST"
rev_arms=$(echo "$arms" | tr ' ' '\n' | tac | tr '\n' ' ')
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order=$arms; else order=$rev_arms; fi
    for arm in $order; do
        arm_conf "$arm"
        lg_as_user pg_ctl -D "$data" -l "$log" -w -t 120 start >/dev/null
        conn=$CONN
        if [ "$arm" = builtin ]; then
            conn="$CONN options='-c idle_in_transaction_session_timeout=$LIMIT'"
            [ -z "$(psql_v "SHOW shared_preload_libraries")" ] || exit 1
        else
            for i in $(seq 1 100); do
                [ "$(psql_v "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'leakguard'")" = 1 ] && break
                sleep 0.1
            done
            [ "$(psql_v "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'leakguard'")" = 1 ] || {
                echo "the leakguard worker is not running (arm $arm)" >&2
                exit 1
            }
        fi
        run="$work/run-$round-$arm"
        mkdir -p "$run"
        [ "$(id -u)" = 0 ] && chown "$LG_USER" "$run"
        rc=0
        "$LG_BENCH" mass "$conn" --apps "lgb_mass=$LIMIT" --sessions "$SESSIONS" \
            --grace 30000 --label "$arm" --fail-early >"$run/mass.out" 2>"$run/mass.err" &
        mass_pid=$!
        until grep -q "sessions connected" "$run/mass.err"; do
            kill -0 "$mass_pid" 2>/dev/null || break
            sleep 0.05
        done
        pgbench -n -N -c "$CLIENTS" -j 2 -T "$PGB_TIME" -l --log-prefix="$run/pgb" \
            -h "$work" -p "$PORT" -U "$LG_USER" postgres >"$run/pgbench.out" 2>&1 || rc=$?
        wait "$mass_pid" || rc=$?
        if [ $rc != 0 ]; then
            cat "$run/mass.err" "$run/pgbench.out" >&2
            echo "run $round, arm $arm failed" >&2
            exit 1
        fi
        # @massnum nover first_dl last_dl last_close last_eof p50 p99 max label
        last_eof=""
        read -r first_dl last_dl last_close last_eof < <(awk '$1 == "@massnum" { print $3, $4, $5, $6 }' "$run/mass.out") || true
        [ -n "$last_eof" ] || { cat "$run/mass.out" "$run/mass.err" >&2; exit 1; }
        W0=$first_dl W1=$((last_eof + 100000))
        expiry=$(window_stats "$run"/pgb.*)
        W0=$((first_dl - 2500000)) W1=$((first_dl - 500000))
        quiet=$(window_stats "$run"/pgb.*)
        fatal_ms=$(awk -v a="$last_close" -v b="$last_dl" 'BEGIN { printf "%.1f", (a - b) / 1000 }')
        window_ms=$(awk -v a="$last_eof" -v b="$first_dl" 'BEGIN { printf "%.0f", (a - b) / 1000 + 100 }')
        echo "$round $arm $window_ms $expiry $quiet $fatal_ms" >>"$rows"
        printf '  round %s, %-7s: expiry window %s ms: %s xacts, p99 %s ms, max %s ms (quiet p99 %s ms); last FATAL %s ms after the last deadline\n' \
            "$round" "$arm" "$window_ms" "$(echo "$expiry" | cut -d' ' -f1)" \
            "$(echo "$expiry" | cut -d' ' -f4)" "$(echo "$expiry" | cut -d' ' -f5)" \
            "$(echo "$quiet" | cut -d' ' -f4)" "$fatal_ms"
        lg_as_user pg_ctl -D "$data" -m fast -w -t 120 stop >/dev/null
    done
done
t_end=$(date +%s)

label() { if [ "$1" = builtin ]; then echo "built-in timeout"; elif [ "$1" = 0 ]; then echo "leakguard, whole batch per hold"; else echo "leakguard, $1 per hold"; fi; }
# med FIELD ARM: "median (min–max)" of a column of the runs of one arm
med() {
    awk -v f="$1" -v a="$2" '$2 == a && $f != "-" { print $f + 0 }' "$rows" | sort -g |
    awk '{ v[++n] = $1 }
        END { if (n == 0) { print "-"; exit }
              m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
              printf "%.1f (%.1f–%.1f)\n", m, v[1], v[n] }'
}
report="$work/report.md"
{
    echo "### 7. ProcArrayLock during a mass expiry: other sessions' writes"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); PostgreSQL $server_version; $(nproc) CPUs"
    echo "- leakguard: git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' with uncommitted changes in src/')"
    echo "- $SESSIONS sessions go idle in transaction at once under a ${LIMIT} ms limit (naptime ${NAPTIME} ms) while"
    echo "  pgbench -N -c $CLIENTS -j 2 (scale $SCALE) writes; $ROUNDS rounds, arms alternating; wall time $((t_end - t_begin)) s."
    echo "- expiry window: from the first deadline to the end of the last session's connection + 100 ms;"
    echo "  latencies of the pgbench transactions running in it (and in a quiet window of 2 s before it)."
    echo "- cells: median over the rounds (min–max)."
    echo
    echo "| arm | expiry window ms | xacts/s in it | p50 ms | p99 ms | max ms | quiet p99 ms | last FATAL after last deadline ms |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for arm in $arms; do
        echo "| $(label "$arm") | $(med 3 "$arm") | $(med 5 "$arm") | $(med 6 "$arm") | $(med 7 "$arm") | $(med 8 "$arm") | $(med 12 "$arm") | $(med 14 "$arm") |"
    done
    echo
    echo "Runs (round, arm, window ms, expiry: xacts tps p50 p99 max, quiet: xacts tps p50 p99 max, last FATAL ms):"
    echo
    sed 's/^/    /' "$rows"
} >"$report"
echo
cat "$report"
[ -n "${LG_BENCH_REPORT:-}" ] && cp "$report" "$LG_BENCH_REPORT"
exit 0
