#!/usr/bin/env bash
# test/bench/kinds.sh: every kind of limit enabled, side by side (make
# bench-kinds; make bench runs it as its parts "kinds-scan" and
# "kinds-pgbench").  Nothing is installed: each leakguard is built in a
# scratch directory and served from a private installation of its own (see
# private_install below); the installed leakguard.so is checked unchanged at
# the end.
#
# "Every kind enabled": for each kind, its default setting set to a limit no
# session reaches during the measurement, and a rule for the benchmark's
# applications in its rules setting (a duration: 1h; transactions:
# 1000000000; connections: 100000).  The kinds come from the view
# leakguard.kinds where the build has it (so that a new kind is covered
# without editing this script), else from 1.2's list (KINDS_12 below).
#
#   kinds-scan     the worker's CPU time per scan, this tree against 1.2
#                  (LG_BENCH_KINDS_OLD, adb71a1), with LG_BENCH_KS_STEPS
#                  (100 1000) client backends of a non-superuser role, half
#                  idle in transaction holding a transaction ID, half idle,
#                  leakguard.naptime LG_BENCH_KS_NAPTIME (10) ms.  Both
#                  versions run at once, each on a server of its own with
#                  the same sessions; the steps are reached by opening more
#                  sessions.  At each step, LG_BENCH_KS_ROUNDS (6) windows of
#                  LG_BENCH_KS_WINDOW (5) s, each measuring both workers over
#                  the same seconds: the worker's time on a CPU
#                  (/proc/PID/schedstat, ns) divided by the scans it made
#                  (leakguard.status()).  CPU time, not wall time: a worker
#                  waiting for a CPU taken by another load is not counted;
#                  and a load that slows the machine slows both alike, so
#                  the ratio is taken per window and its median reported.
#   kinds-pgbench  what a pgbench -S transaction costs the backend, in
#                  instructions counted by callgrind, with leakguard not
#                  loaded ("off"), 1.2 and this tree (LG_BENCH_KP_ARMS).  Per
#                  arm two runs on a copy of the same scale-1 database, each
#                  server under callgrind: pgbench -S --random-seed=1 -c
#                  LG_BENCH_KP_CLIENTS (2) clients of the non-superuser role,
#                  LG_BENCH_KP_TX (400) transactions per client, then 4 times
#                  as many.  The instructions of the clients' backends (each
#                  from its InitPostmasterChild to its exit, less its
#                  statistics flushes, which follow elapsed time) of the two
#                  runs, their difference over the difference of the
#                  transactions: the cost of one transaction, connection
#                  start and exit left out.
#
# Environment (defaults in brackets):
#   LG_BENCH_PARTS ["kinds-scan kinds-pgbench"]  parts to run
#   LG_BENCH_KINDS_OLD [adb71a1]  git revision to compare with (1.2)
#   LG_BENCH_KS_STEPS ["100 1000"]  LG_BENCH_KS_ROUNDS [6] windows
#   LG_BENCH_KS_WINDOW [5] s        LG_BENCH_KS_NAPTIME [10] ms
#   LG_BENCH_KP_ARMS ["off 1.2 1.3"]  LG_BENCH_KP_CLIENTS [2]
#   LG_BENCH_KP_TX [400]
#   LG_BENCH_REPORT               also append the report to this file
#   LG_BENCH_KEEP [0]             1: keep the scratch directory
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

PARTS=" ${LG_BENCH_PARTS:-kinds-scan kinds-pgbench} "
OLD_REV=${LG_BENCH_KINDS_OLD:-adb71a1}
KS_STEPS=${LG_BENCH_KS_STEPS:-100 1000}
KS_ROUNDS=${LG_BENCH_KS_ROUNDS:-6}
KS_WINDOW=${LG_BENCH_KS_WINDOW:-5}
KS_NAPTIME=${LG_BENCH_KS_NAPTIME:-10}
KP_ARMS=${LG_BENCH_KP_ARMS:-off 1.2 1.3}
KP_CLIENTS=${LG_BENCH_KP_CLIENTS:-2}
KP_TX=${LG_BENCH_KP_TX:-400}
KP_TX2=$((4 * KP_TX))
APP=lgb_kinds       # application and role of the sessions
PORT=5432           # on a private socket directory: no clash with other servers

# 1.2's kinds: kind|measure|default setting|rules setting
KINDS_12="idle in transaction|duration|leakguard.idle_in_transaction_timeout|leakguard.application_timeouts
idle|duration|leakguard.idle_session_timeout|leakguard.application_idle_timeouts
transaction|duration|leakguard.transaction_timeout|leakguard.application_transaction_timeouts
xmin|transactions|leakguard.xmin_age_limit|leakguard.application_xmin_age_limits
blocking|duration|leakguard.blocking_timeout|leakguard.application_blocking_timeouts
connections|connections||leakguard.application_connection_limits
prepared|duration|leakguard.prepared_transaction_warning|"

part_on() { [[ "$PARTS" == *" $1 "* ]]; }
part_on kinds-scan || part_on kinds-pgbench || { echo "kinds.sh: no part of mine in LG_BENCH_PARTS" >&2; exit 0; }

lg_ensure_packages valgrind git libpq-dev
lg_setup_paths
lg_setup_user

PKGLIB=$("$PG_CONFIG" --pkglibdir)
SHARE=$("$PG_CONFIG" --sharedir)
installed_lib=$PKGLIB/leakguard.so
lib_stamp() { if [ -e "$installed_lib" ]; then stat -c '%y %s' "$installed_lib"; else echo none; fi; }
stamp_before=$(lib_stamp)

work=$(lg_workdir kinds)
cleanup() {
    local rc=$?
    set +e
    exec 4>&- 5>&- 6>&- 7>&- 2>/dev/null
    for d in "$work"/data "$work"/data-* "$work"/tmpl; do
        [ -f "$d/postmaster.pid" ] &&
            lg_as_user "$PG_BINDIR/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
    done
    wait 2>/dev/null
    if [ "$rc" != 0 ]; then
        for d in "$work"/*.log; do
            [ -s "$d" ] || continue
            echo "---- $d (last 20 lines)" >&2
            tail -n 20 "$d" >&2
        done
    fi
    if [ "${LG_BENCH_KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The two builds, each in a scratch directory.
build() {	# build DIR
    make -s -C "$1" clean PG_CONFIG="$PG_CONFIG" >/dev/null
    make -s -C "$1" PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
}
lg_say "building this leakguard and $OLD_REV in $work"
mkdir -p "$work/src-old" "$work/src-new"
git archive "$OLD_REV" Makefile leakguard.control src '*.sql' | tar -x -C "$work/src-old"
cp -r Makefile leakguard.control ./*.sql src "$work/src-new/"
build "$work/src-old"
build "$work/src-new"
version_of() { sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$1/leakguard.control"; }
V_OLD=$(version_of "$work/src-old")
V_NEW=$(version_of "$work/src-new")

# A private installation: the server finds $libdir and its share directory
# relative to the path of its own executable, so a real copy of postgres
# and pg_ctl under DEST followed by the same absolute paths, next to
# symbolic links to every other file of the installation, serves this
# build's leakguard.so, control file and scripts, and nothing else changes.
private_install() {	# private_install DEST SRC
    local dest=$1 src=$2 f
    mkdir -p "$dest$PG_BINDIR" "$dest$PKGLIB" "$dest$SHARE/extension"
    cp "$PG_BINDIR/postgres" "$PG_BINDIR/pg_ctl" "$dest$PG_BINDIR/"
    for f in "$PKGLIB"/*; do
        [ "${f##*/}" = leakguard.so ] || ln -s "$f" "$dest$PKGLIB/"
    done
    cp "$src/leakguard.so" "$dest$PKGLIB/"
    for f in "$SHARE"/*; do
        [ "${f##*/}" = extension ] || ln -s "$f" "$dest$SHARE/"
    done
    for f in "$SHARE"/extension/*; do
        case ${f##*/} in leakguard.control | leakguard--*) ;; *) ln -s "$f" "$dest$SHARE/extension/" ;; esac
    done
    cp "$src/leakguard.control" "$src"/leakguard--*.sql "$dest$SHARE/extension/"
}
private_install "$work/inst-old" "$work/src-old"
private_install "$work/inst-new" "$work/src-new"
inst_of() { case $1 in "$V_OLD") echo "$work/inst-old" ;; *) echo "$work/inst-new" ;; esac; }

cc -O2 -Wall -Werror -I"$("$PG_CONFIG" --includedir)" -I/usr/include/postgresql \
    -o "$work/lg_hold" test/bench/lg_hold.c -lpq
[ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work"
# lg_hold holds one socket per session
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
    ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

psql_p() { local port=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U "$LG_USER" -d postgres "$@"; }
psql_s() { psql_p "$PORT" "$@"; }

# The template cluster: the role of the sessions, pgbench's tables, and the
# kinds of this tree read from its leakguard.kinds if it has one.
lg_say "template cluster; the kinds of each build"
lg_as_user "$PG_BINDIR/initdb" -D "$work/tmpl" -A trust --locale=C >/dev/null
cat >>"$work/tmpl/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
shared_buffers = 128MB
fsync = off
autovacuum = off
log_line_prefix = '%m [%p] '
include_if_exists = 'run.conf'
include_if_exists = 'kinds.conf'
CONF
echo "shared_preload_libraries = 'leakguard'" >"$work/tmpl/run.conf"
[ "$(id -u)" = 0 ] && chown "$LG_USER" "$work/tmpl/run.conf"
lg_as_user "$work/inst-new$PG_BINDIR/pg_ctl" -D "$work/tmpl" -l "$work/tmpl.log" -w -t 300 start >/dev/null
psql_s -c "CREATE ROLE $APP LOGIN" >/dev/null
psql_s -c "CREATE EXTENSION leakguard" >/dev/null
if [ -n "$(psql_s -c "SELECT to_regclass('leakguard.kinds')")" ]; then
    KINDS_NEW=$(psql_s -F '|' -c "SELECT kind, measure, coalesce(default_setting, ''), coalesce(rules_setting, '') FROM leakguard.kinds ORDER BY 1")
    KINDS_NEW_FROM="leakguard.kinds"
else
    KINDS_NEW=$KINDS_12
    KINDS_NEW_FROM="1.2's list (no leakguard.kinds)"
fi
psql_s -c "DROP EXTENSION leakguard" >/dev/null
if part_on kinds-pgbench; then
    pgbench -i -q -s 1 -h "$work" -p "$PORT" -U "$LG_USER" postgres >/dev/null 2>&1
    psql_s -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO $APP" >/dev/null
fi
lg_as_user "$work/inst-new$PG_BINDIR/pg_ctl" -D "$work/tmpl" -m fast -w -t 300 stop >/dev/null
rm -f "$work/tmpl/run.conf"

# kinds_conf KINDS: the settings that enable every kind, for the
# applications of both parts.
kinds_conf() {
    local kind measure def rules value
    while IFS='|' read -r kind measure def rules; do
        [ -n "$kind" ] || continue
        case $measure in
            transactions) value=1000000000 ;;
            connections) value=100000 ;;
            *) value=1h ;;
        esac
        [ -z "$def" ] || echo "$def = '$value'"
        [ -z "$rules" ] || echo "$rules = '$APP=$value, pgbench=$value'"
    done <<<"$1"
}
kinds_of() { if [ "$1" = "$V_OLD" ]; then echo "$KINDS_12"; else echo "$KINDS_NEW"; fi; }
kind_names() { kinds_of "$1" | cut -d'|' -f1 | paste -sd, - | sed 's/,/, /g'; }

# fresh_data DIR ARM PRELOAD MAXCONN PORT [EXTRA]: a copy of the template
# with the arm's settings (the kinds' when leakguard is loaded); its server
# logs to DIR.log
fresh_data() {
    local dir=$1 arm=$2 preload=$3 maxconn=$4 port=$5 extra=${6:-}
    rm -rf "$dir"
    cp -a "$work/tmpl" "$dir"
    {
        echo "port = $port"
        echo "shared_preload_libraries = '$preload'"
        echo "max_connections = $maxconn"
        [ -z "$extra" ] || echo "$extra"
    } >"$dir/run.conf"
    if [ -n "$preload" ]; then kinds_conf "$(kinds_of "$arm")" >"$dir/kinds.conf"; fi
    : >"$dir.log"
    [ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$dir" "$dir.log"
    return 0
}

# check_loaded ARM PID PORT: the process maps the arm's library, and every
# kind setting was read without error and is in force
check_loaded() {
    local arm=$1 pid=$2 port=$3 inst lib got
    inst=$(inst_of "$arm")
    lib=$(awk '/leakguard\.so/ { print $NF; exit }' "/proc/$pid/maps")
    [ "$lib" = "$inst$PKGLIB/leakguard.so" ] || {
        echo "arm $arm: process $pid maps '$lib', not $inst$PKGLIB/leakguard.so" >&2
        exit 1
    }
    got=$(psql_p "$port" -c "SELECT name || ': ' || coalesce(error, 'not applied') FROM pg_file_settings WHERE sourcefile LIKE '%/kinds.conf' AND (error IS NOT NULL OR NOT applied)")
    [ -z "$got" ] || { echo "arm $arm: settings not in force: $got" >&2; exit 1; }
    [ "$(psql_p "$port" -c "SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%/kinds.conf'")" -gt 0 ] || {
        echo "arm $arm: no kind settings read" >&2
        exit 1
    }
}

results=$work/results
: >"$results"
load_avg() { cut -d' ' -f1 /proc/loadavg; }
t_start=$(date +%s)
load_start=$(load_avg)

# ---------------------------------------------------------------- kinds-scan
# Both versions run at once, each on a server of its own (1.2 on port
# PORT + 1, this tree on PORT + 2) with the same sessions, and each window
# measures both workers over the same seconds: a load elsewhere on the
# machine weighs on both alike, and the ratio is taken per window.
port_of() { if [ "$1" = "$V_OLD" ]; then echo $((PORT + 1)); else echo $((PORT + 2)); fi; }
declare -A WPID
scan_start() {	# scan_start ARM MAXCONN
    local arm=$1 port inst got
    port=$(port_of "$arm")
    inst=$(inst_of "$arm")
    fresh_data "$work/data-$arm" "$arm" leakguard "$2" "$port" "leakguard.naptime = '${KS_NAPTIME}ms'"
    lg_as_user "$inst$PG_BINDIR/pg_ctl" -D "$work/data-$arm" -l "$work/data-$arm.log" -w -t 300 start >/dev/null
    psql_p "$port" -c "CREATE EXTENSION leakguard" >/dev/null
    got=$(psql_p "$port" -c "SELECT extversion FROM pg_extension WHERE extname = 'leakguard'")
    [ "$got" = "$arm" ] || { echo "arm $arm: extension version $got" >&2; exit 1; }
    WPID[$arm]=$(psql_p "$port" -c "SELECT pid FROM leakguard.status()")
    [ -r "/proc/${WPID[$arm]}/schedstat" ] || { echo "arm $arm: no worker" >&2; exit 1; }
    check_loaded "$arm" "${WPID[$arm]}" "$port"
}
scan_hold() {	# scan_hold ARM COUNT FD: COUNT more sessions, half idle, half idle in transaction
    local arm=$1 count=$2 fd=$3 port
    port=$(port_of "$arm")
    rm -f "$work/hold$fd.fifo" "$work/hold$fd.out"
    mkfifo "$work/hold$fd.fifo"
    "$work/lg_hold" "host=$work port=$port user=$APP dbname=postgres application_name=$APP" \
        "$count" $((count / 2)) <"$work/hold$fd.fifo" >"$work/hold$fd.out" &
    eval "exec $fd>\"$work/hold$fd.fifo\""
}
scan_ready() {	# scan_ready ARM N FD: the sessions open, all N judged with a deadline
    local arm=$1 n=$2 fd=$3 port i got
    port=$(port_of "$arm")
    for i in $(seq 1 600); do
        grep -q ready "$work/hold$fd.out" 2>/dev/null && break
        sleep 0.5
    done
    grep -q ready "$work/hold$fd.out" || { echo "arm $arm: the sessions did not open" >&2; exit 1; }
    for i in $(seq 1 240); do
        got=$(psql_p "$port" -c "SELECT count(*) FROM leakguard.sessions WHERE application_name = '$APP' AND exempt IS NULL AND terminates_at IS NOT NULL")
        [ "$got" = "$n" ] && break
        sleep 0.5
    done
    [ "$got" = "$n" ] || { echo "arm $arm: $got of $n sessions have a deadline" >&2; exit 1; }
}
scan_sample() {	# scan_sample ARM: "scans scan_ms_sum cpu_ns time"
    local arm=$1 st cpu
    st=$(psql_p "$(port_of "$arm")" -c "SELECT scans || ' ' || mean_scan_time * scans FROM leakguard.status()")
    cpu=$(cut -d' ' -f1 "/proc/${WPID[$arm]}/schedstat")
    echo "$st $cpu $(date +%s.%N)"
}

if part_on kinds-scan; then
    max=0
    for n in $KS_STEPS; do [ "$n" -gt "$max" ] && max=$n; done
    lg_say "kinds-scan: $V_OLD and $V_NEW side by side, max_connections $((max + 100)) each"
    scan_start "$V_OLD" $((max + 100))
    scan_start "$V_NEW" $((max + 100))
    prev=0
    fd=4
    for n in $KS_STEPS; do
        lg_say "kinds-scan: $n sessions on each server; $KS_ROUNDS windows of ${KS_WINDOW} s"
        scan_hold "$V_OLD" $((n - prev)) "$fd"
        scan_hold "$V_NEW" $((n - prev)) $((fd + 1))
        scan_ready "$V_OLD" "$n" "$fd"
        scan_ready "$V_NEW" "$n" $((fd + 1))
        fd=$((fd + 2))
        prev=$n
        sleep 1
        for w in $(seq 1 "$KS_ROUNDS"); do
            # the order of the readings alternates, so that neither is
            # always measured over the longer window
            if [ $((w % 2)) = 1 ]; then order="$V_OLD $V_NEW"; else order="$V_NEW $V_OLD"; fi
            declare -A S1=()
            for a in $order; do S1[$a]=$(scan_sample "$a"); done
            sleep "$KS_WINDOW"
            for a in $order; do
                echo "${S1[$a]} $(scan_sample "$a")" | awk -v arm="$a" -v w="$w" -v n="$n" \
                    '{ printf "scan %s %d %d %d %d %.6f %.6f\n", arm, w, n, $7 - $3, $5 - $1, $6 - $2, $8 - $4 }'
            done | tee -a "$results"
        done
    done
    for a in "$V_OLD" "$V_NEW"; do
        got=$(psql_p "$(port_of "$a")" -c "SELECT terminated FROM leakguard.status()")
        [ "$got" = 0 ] || { echo "!!! arm $a: $got sessions terminated" >&2; exit 1; }
    done
    for ((i = 4; i < fd; i++)); do eval "exec $i>&-"; done
    wait
    for a in "$V_OLD" "$V_NEW"; do
        lg_as_user "$(inst_of "$a")$PG_BINDIR/pg_ctl" -D "$work/data-$a" -m fast -w -t 300 stop >/dev/null
    done
fi
t_scan=$(date +%s)

# ------------------------------------------------------------- kinds-pgbench
# pgb_run ARM TX: a server under callgrind, pgbench -S; prints
# "pgbench ARM TX instructions backends"
pgb_run() {
    local arm=$1 tx=$2 inst preload=leakguard out=$work/cg-$1-$2 vpid poller pids f sum=0 lgself=0 pgstat i n=0
    [ "$arm" = off ] && preload=""
    if [ "$arm" = off ]; then inst=$work/inst-new; else inst=$(inst_of "$arm"); fi
    fresh_data "$work/data" "$arm" "$preload" 100 "$PORT"
    rm -rf "$out"
    mkdir -p "$out"
    [ "$(id -u)" = 0 ] && chown "$LG_USER" "$out"
    # --zero-before: a forked child starts with its parent's counts; each
    # process counts from its own start instead
    lg_as_user valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
        --dump-instr=no --compress-strings=no --zero-before=InitPostmasterChild \
        "$inst$PG_BINDIR/postgres" -D "$work/data" >"$work/data.log" 2>&1 &
    vpid=$!
    for i in $(seq 1 600); do
        psql_s -c "SELECT 1" >/dev/null 2>&1 && break
        sleep 0.5
    done
    if [ -n "$preload" ]; then
        check_loaded "$arm" "$(head -n 1 "$work/data/postmaster.pid")" "$PORT"
    fi
    # the pids of pgbench's clients, read while they run
    psql_s -c "DO \$\$ BEGIN
        FOR i IN 1..12000 LOOP
            PERFORM pg_stat_clear_snapshot();
            EXIT WHEN (SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbench'
                       AND query LIKE 'SELECT abalance%') >= $KP_CLIENTS;
            PERFORM pg_sleep(0.05);
        END LOOP; END \$\$;
        SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND query LIKE 'SELECT abalance%'" \
        >"$out/pids" &
    poller=$!
    sleep 2
    pgbench -n -S --random-seed=1 -c "$KP_CLIENTS" -j "$KP_CLIENTS" -t "$tx" -h "$work" -p "$PORT" -U "$APP" postgres \
        >"$out/pgbench.out" 2>&1 || { cat "$out/pgbench.out" >&2; exit 1; }
    grep -q "number of transactions actually processed: $((KP_CLIENTS * tx))/" "$out/pgbench.out" ||
        { cat "$out/pgbench.out" >&2; exit 1; }
    wait "$poller"
    lg_as_user "$inst$PG_BINDIR/pg_ctl" -D "$work/data" -m fast -w -t 600 stop >/dev/null
    wait "$vpid" 2>/dev/null || true
    pids=$(cat "$out/pids")
    for i in $pids; do
        f=$out/cg.$i
        [ -f "$f" ] || { echo "arm $arm: no profile of backend $i" >&2; exit 1; }
        sum=$((sum + $(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$f" | head -n 1)))
        # less the statistics flushes (pgstat_report_stat, inclusive): at
        # most one a second, so their number follows the run's elapsed
        # time, which the machine's load stretches, not its transactions
        pgstat=$(callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$f" 2>/dev/null |
            awk '/[ :]pgstat_report_stat / && v == "" { v = $1; gsub(",", "", v) } END { print v + 0 }')
        sum=$((sum - ${pgstat:-0}))
        # leakguard's own code: the self cost of its functions
        lgself=$((lgself + $(callgrind_annotate --auto=no --threshold=100 "$f" 2>/dev/null |
            awk '/leakguard\.so\]/ { v = $1; gsub(",", "", v); s += v } END { printf "%.0f", s }')))
        n=$((n + 1))
    done
    [ "$n" = "$KP_CLIENTS" ] || { echo "arm $arm: $n client backends found, not $KP_CLIENTS" >&2; exit 1; }
    echo "pgbench $arm $tx $sum $n $lgself"
}

if part_on kinds-pgbench; then
    for a in $KP_ARMS; do
        [ "$a" = 1.3 ] && a=$V_NEW
        [ "$a" = 1.2 ] && a=$V_OLD
        for tx in "$KP_TX" "$KP_TX2"; do
            lg_say "kinds-pgbench: $a, pgbench -S -c $KP_CLIENTS -t $tx under callgrind"
            pgb_run "$a" "$tx" | tee -a "$results"
        done
    done
fi
t_end=$(date +%s)

stamp_after=$(lib_stamp)

# -------------------------------------------------------------------- report
report=$work/report.md
{
    when="$(date -u '+%Y-%m-%d %H:%M UTC'), git $(git rev-parse --short HEAD) against $OLD_REV, PostgreSQL $LG_PG_VERSION"
    echo
    echo "Kinds enabled: $V_OLD ($OLD_REV): $(kind_names "$V_OLD"); $V_NEW (this tree, from $KINDS_NEW_FROM): $(kind_names "$V_NEW")."
    echo "Each default setting at a limit no session reaches (1h; 1000000000 transactions; 100000 connections) and a rule for $APP and pgbench in each rules setting."
    if part_on kinds-scan; then
        echo
        echo "### Every kind enabled: the worker's CPU per scan, $V_NEW against $V_OLD (make bench-kinds; $when)"
        echo
        echo "Sessions of a non-superuser role, half idle in transaction with a transaction ID, half idle; leakguard.naptime ${KS_NAPTIME} ms; max_connections $((max + 100)) on each server (the largest step + 100, for every step); no session ended."
        echo "Both versions at once, each on its own server with the same sessions; $KS_ROUNDS windows of ${KS_WINDOW} s per step, each measuring both workers."
        echo "CPU per scan: the worker's time on a CPU (/proc/PID/schedstat) over the window, divided by its scans in it (leakguard.status())."
        echo "Scan time: leakguard.status()'s mean scan time (wall) over the same scans. Ratio: $V_NEW / $V_OLD per window, and its median."
        echo
        echo "| backends | version | CPU per scan, µs (per window) | median µs | scans/s | worker CPU, % of a core | scan time, ms | $V_NEW / $V_OLD (per window) | median ratio |"
        echo "|---:|---|---|---:|---:|---:|---:|---|---:|"
        awk -v old="$V_OLD" -v new="$V_NEW" '
            function median(s,   a, n, i, j, t) {
                n = split(s, a, " ")
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            $1 == "scan" {
                k = $4 SUBSEP $2
                if (!($4 in seen)) { seen[$4] = 1; ns[++nn] = $4 }
                per = $5 / $6 / 1000
                cpu[k, $3] = per
                list[k] = list[k] (list[k] == "" ? "" : ", ") sprintf("%.1f", per)
                vals[k] = vals[k] " " per
                rate[k] = rate[k] " " $6 / $8
                pct[k] = pct[k] " " $5 / $8 / 1e7
                wall[k] = wall[k] " " $7 / $6
                if ($3 > rounds) rounds = $3
            }
            END {
                for (i = 1; i <= nn; i++) {
                    n = ns[i]; rl = ""; rs = ""
                    for (r = 1; r <= rounds; r++)
                        if (((n, new, r) in cpu) && ((n, old, r) in cpu)) {
                            q = cpu[n, new, r] / cpu[n, old, r]
                            rl = rl (rl == "" ? "" : ", ") sprintf("%.3f", q); rs = rs " " q
                        }
                    m = (rs == "") ? 0 : median(rs)
                    split(old " " new, vs, " ")
                    for (v = 1; v <= 2; v++) {
                        k = n SUBSEP vs[v]
                        printf "| %d | %s | %s | %.1f | %.0f | %.2f | %.3f | %s | %s |\n", n, vs[v], list[k],
                            median(vals[k]), median(rate[k]), median(pct[k]), median(wall[k]),
                            (v == 2) ? rl : "", (v == 2) ? sprintf("%.3f", m) : ""
                    }
                    verdict = verdict sprintf("%s%.3f at %d backends", verdict == "" ? "" : ", ", m, n)
                    if (m > 1.10) over = 1
                }
                printf "\nVerdict: %s / %s CPU per scan, median of the per-window ratios: %s; target <= 1.10: %s.\n",
                    new, old, verdict, over ? "MISSED" : "met"
            }' "$results"
        echo
        echo "Wall time of this part: $((t_scan - t_start)) s."
    fi
    if part_on kinds-pgbench; then
        echo
        echo "### Every kind enabled: instructions per pgbench -S transaction, against leakguard not loaded (make bench-kinds; $when)"
        echo
        echo "Backends of pgbench -S -c $KP_CLIENTS (role $APP) under callgrind, scale 1; per transaction: (instructions of the clients' backends at $KP_TX2 transactions each − at $KP_TX) / ($KP_CLIENTS × $((KP_TX2 - KP_TX)));"
        echo "each backend counted from its start to its exit, less pgstat_report_stat (inclusive: its flushes follow elapsed time, at most one a second, not transactions)."
        echo
        echo "\"in leakguard.so\": per transaction, the instructions of leakguard's own functions (self cost, what they call in the server not included)."
        echo
        echo "| arm | instructions, $KP_TX tx | instructions, $KP_TX2 tx | per transaction | vs off | in leakguard.so |"
        echo "|---|---:|---:|---:|---:|---:|"
        awk -v c="$KP_CLIENTS" -v t1="$KP_TX" -v t2="$KP_TX2" -v new="$V_NEW" '
            $1 == "pgbench" {
                if (!($2 in seen)) { seen[$2] = 1; arms[++na] = $2 }
                if ($3 == t1) { a[$2] = $4; la[$2] = $6 } else { b[$2] = $4; lb[$2] = $6 }
            }
            END {
                for (i = 1; i <= na; i++) per[arms[i]] = (b[arms[i]] - a[arms[i]]) / (c * (t2 - t1))
                for (i = 1; i <= na; i++) {
                    x = arms[i]
                    printf "| %s | %d | %d | %.0f | %s | %s |\n", x, a[x], b[x], per[x],
                        (x != "off" && ("off" in per)) ? sprintf("%+.2f%%", (per[x] - per["off"]) * 100 / per["off"]) : "",
                        (x != "off") ? sprintf("%.0f", (lb[x] - la[x]) / (c * (t2 - t1))) : ""
                }
                if (("off" in per) && (new in per)) {
                    d = (per[new] - per["off"]) * 100 / per["off"]
                    printf "\nVerdict: %s costs %+.2f%% instructions per pgbench -S transaction against leakguard not loaded; target <= +1%%: %s.\n",
                        new, d, (d > 1) ? "MISSED" : "met"
                }
            }' "$results"
        echo
        echo "Wall time of this part: $((t_end - t_scan)) s."
    fi
    echo
    echo "Load average: $load_start at the start, $(load_avg) at the end."
    echo "Installed $installed_lib: $stamp_before before, $stamp_after after$([ "$stamp_before" = "$stamp_after" ] && echo " (unchanged)")."
} >"$report"

echo
cat "$report"
[ -z "${LG_BENCH_REPORT:-}" ] || cat "$report" >>"$LG_BENCH_REPORT"
if [ "$stamp_before" != "$stamp_after" ]; then
    echo "!!! the installed $installed_lib changed during the benchmark" >&2
    exit 1
fi
exit 0
