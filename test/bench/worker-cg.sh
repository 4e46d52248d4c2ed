#!/usr/bin/env bash
# test/bench/worker-cg.sh: what one wake of the worker costs, in
# instructions counted by callgrind.  Runs alone (make bench-worker); no
# "make install".
#
# Wall-clock scan times on a shared machine spread by more than the
# changes they should show; instruction counts repeat.  For each arm (the
# builds of the revisions in LG_BENCH_WCG_OLD, then this tree) it builds
# leakguard in a scratch directory, starts a cluster with max_connections
# LG_BENCH_WCG_MAXCONN under callgrind (the postmaster and everything it
# forks), loads that build (dynamic_library_path), holds LG_BENCH_WCG_IDLE idle client
# connections, and puts a rule of LG_BENCH_WCG_LIMIT ms in force for an
# application nobody uses, so that the worker wakes every half limit.  Each
# arm runs twice, the server stopped after LG_BENCH_WCG_WINDOW seconds and
# after three times as long; the worker's profile is written when it exits.
# The differences between the two runs of its instructions and of its
# wakes (calls of WaitLatch()) leave out what starting and stopping cost:
# their ratio is what a wake costs.  (callgrind_control cannot reach a
# forked child; no CREATE EXTENSION: it would load the installed leakguard
# next to the one loaded by path.)  Reported per arm: the wakes of each
# run, the worker's instructions per wake, and the inclusive instructions
# per wake of the functions that matter (FUNCS below; lg_scan and most of
# what it calls are inlined into lg_worker_main): the episodes fold, lock
# acquisitions and releases, the condition-variable broadcast, the wait.
#
# Few backends under callgrind are enough: the costs that grow with
# max_connections rather than with the backends (a pass over every slot)
# show at any count.
#
# Environment (defaults in brackets):
#   LG_BENCH_WCG_MAXCONN [1000]   LG_BENCH_WCG_IDLE [20] idle connections
#   LG_BENCH_WCG_LIMIT [50] ms    LG_BENCH_WCG_WINDOW [10] s (and 3 times that)
#   LG_BENCH_WCG_OLD ['']         git revisions to compare with (arms named
#                                 by them; this tree's arm is "new")
#   LG_BENCH_WCG_CONF ['']        lines appended to postgresql.conf (after
#                                 the rule above, which a setting of
#                                 leakguard.application_timeouts replaces)
#   LG_BENCH_KEEP [0]             1: keep the scratch directory
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

MAXCONN=${LG_BENCH_WCG_MAXCONN:-1000}
IDLE=${LG_BENCH_WCG_IDLE:-20}
LIMIT=${LG_BENCH_WCG_LIMIT:-50}
WINDOW=${LG_BENCH_WCG_WINDOW:-10}
OLD=${LG_BENCH_WCG_OLD:-}
FUNCS="lg_episodes_fold_all LWLockAcquire LWLockRelease ConditionVariableBroadcast WaitLatch"
PORT=5432

lg_ensure_packages valgrind git
lg_setup_paths
lg_setup_user

work=$(lg_workdir worker-cg)
cleanup() {
    local rc=$?
    set +e
    exec 4>&-
    [ -f "$work/data/postmaster.pid" ] &&
        lg_as_user pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1
    if [ "${LG_BENCH_KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT

build() {	# build DIR: leakguard built in DIR
    make -s -C "$1" clean PG_CONFIG="$PG_CONFIG" >/dev/null
    make -s -C "$1" PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
}
arms=""
lg_say "building this leakguard${OLD:+ and $OLD} in $work"
for rev in $OLD; do
    mkdir -p "$work/$rev"
    git archive "$rev" Makefile leakguard.control src '*.sql' | tar -x -C "$work/$rev"
    build "$work/$rev"
    arms="$arms $rev"
done
mkdir -p "$work/new"
cp -r Makefile leakguard.control ./*.sql src "$work/new/"
build "$work/new"
arms="$arms new"
[ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work"

psql_a() { psql -X -q -At -h "$work" -p "$PORT" -U "$LG_USER" -d postgres "$@"; }

run_arm() {
    local name=$1 window=$2 out=$work/cg-$1-$2 i pid f scans
    rm -rf "$work/data" "$out"
    mkdir -p "$out"
    [ "$(id -u)" = 0 ] && chown "$LG_USER" "$out"
    lg_as_user initdb -D "$work/data" -A trust --locale=C >/dev/null
    cat >>"$work/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
max_connections = $MAXCONN
shared_buffers = 16MB
fsync = off
autovacuum = off
dynamic_library_path = '$work/$name:\$libdir'
shared_preload_libraries = 'leakguard'
leakguard.application_timeouts = 'lgb_nobody=${LIMIT}ms'
${LG_BENCH_WCG_CONF:-}
CONF
    lg_as_user env PATH="$PATH" valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
        --dump-instr=no --compress-strings=no \
        "$PG_BINDIR/postgres" -D "$work/data" >"$work/server-$name-$window.log" 2>&1 &
    for i in $(seq 1 600); do
        psql_a -c "SELECT 1" >/dev/null 2>&1 && break
        sleep 0.5
    done
    # The idle connections: psql reading a FIFO held open until the end.
    rm -f "$work/idle.fifo"
    mkfifo "$work/idle.fifo"
    for i in $(seq 1 "$IDLE"); do
        PGAPPNAME=lgb_idle psql_a <"$work/idle.fifo" >/dev/null 2>&1 &
    done
    exec 4>"$work/idle.fifo"
    for i in $(seq 1 600); do
        [ "$(psql_a -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lgb_idle' AND state = 'idle'")" -ge "$IDLE" ] && break
        sleep 0.5
    done
    pid=$(psql_a -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'leakguard'")
    [ -n "$pid" ] || { echo "the leakguard worker is not running" >&2; exit 1; }
    sleep "$window"
    exec 4>&-
    lg_as_user pg_ctl -D "$work/data" -m fast -w -t 600 stop >/dev/null
    wait 2>/dev/null || true
    f=$out/cg.$pid
    [ -f "$f" ] || { echo "no profile of the worker ($pid)" >&2; exit 1; }
    callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$f" >"$f.txt"
    scans=$(awk '/^cfn=(\([0-9]+\) )?WaitLatch$/ { c = 1; next }
        c && /^calls=/ { split($0, a, /[= ]/); n += a[2] } { c = 0 } END { print n + 0 }' "$f")
    [ "$scans" -gt 0 ] || { echo "no scan in the worker's profile ($f)" >&2; exit 1; }
    awk -v name="$name" -v scans="$scans" -v funcs="$FUNCS" '
        BEGIN { n = split(funcs, fn, " ") }
        /^(summary|totals):/ && total == "" { total = $2 }
        /^ *[0-9,]+ / {
            v = $1; gsub(",", "", v)
            for (i = 1; i <= n; i++)
                if (index($0, " " fn[i] " ") || $0 ~ (":" fn[i] " ") || $0 ~ (":" fn[i] "$"))
                    if (!(fn[i] in inc)) inc[fn[i]] = v
        }
        END {
            gsub(",", "", total)
            printf "%s %d %.0f", name, scans, total
            for (i = 1; i <= n; i++) printf " %.0f", (fn[i] in inc) ? inc[fn[i]] : 0
            printf "\n"
        }' "$f" "$f.txt"
}

results=$work/results
: >"$results"
for a in $arms; do
    for w in "$WINDOW" $((3 * WINDOW)); do
        lg_say "arm $a: max_connections $MAXCONN, $IDLE idle connections, a ${LIMIT} ms rule, ${w} s under callgrind"
        run_arm "$a" "$w" | tee -a "$results"
    done
done

echo
echo "### The worker's wake, in instructions (callgrind; $(date -u '+%Y-%m-%d %H:%M UTC'), git $(git rev-parse --short HEAD)${OLD:+ against $OLD}, PostgreSQL $LG_PG_VERSION)"
echo
echo "max_connections $MAXCONN, $IDLE idle client connections, a ${LIMIT} ms rule in force (a scan every $((LIMIT / 2)) ms),"
echo "runs of ${WINDOW} s and $((3 * WINDOW)) s; per wake: the difference of the two runs' counts over the difference of their wakes."
echo "All the worker's instructions, and the inclusive count of each function (0: inlined or not called)."
echo
printf '| arm | wakes | per wake |'
for fn in $FUNCS; do printf ' %s |' "$fn"; done
printf '\n|---|---:|---:|'
for fn in $FUNCS; do printf -- '---:|'; done
printf '\n'
awk '
    $1 in first {
        split(first[$1], a, " ")
        d = $2 - a[2]
        printf "| %s | %d, %d |", $1, a[2], $2
        for (i = 3; i <= NF; i++) printf " %.0f |", (d > 0) ? ($i - a[i]) / d : 0
        printf "\n"
        next
    }
    { first[$1] = $0 }' "$results"
