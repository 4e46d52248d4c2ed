#!/usr/bin/env bash
# make bench: leakguard's benchmarks, on a throwaway server, in a few minutes.
#
# Builds the libpq client test/bench/lg_bench (and, unless LG_BENCH_BUILD=0,
# builds and installs leakguard with "make install"), creates one scratch
# cluster (run as an unprivileged user, private Unix socket directory, no
# TCP port), and measures:
#
#   1. precision: the overshoot past each session's deadline
#      (state_change + limit) when sessions of 4 applications with 4 limits
#      leave transactions open, for leakguard, for the built-in
#      idle_in_transaction_session_timeout set per role, and for a sweeper
#      running pg_terminate_backend() every second; plus leakguard and the
#      built-in timeout (per role again) at limits shorter than leakguard's
#      naptime, side by side in the tables (the per-limit table is ordered
#      by limit), with a line comparing their overshoot p99 and max;
#   2. mass expiry: many sessions going idle at once under one limit, with
#      leakguard and with the built-in timeout (ratio of the times from the
#      last deadline to the last FATAL, difference of the p99 overshoots);
#      in leakguard's arm log_min_messages = debug1 (server-wide: the
#      worker, bound to no database, takes no per-role setting), and the
#      worker's "leakguard batch" lines are read back from the server log:
#      batches, sessions per batch, where the worker's time went (sums and
#      maxima per component) and its span from first wake to last batch;
#   3. scan cost: leakguard's scan time against one sweep query over
#      pg_stat_activity, at 100, 500 and 1000 client backends, and on the
#      same backends with idle-session limits (1 h) that cover the idle ones;
#      then, with the 1000 backends still connected, the worker's CPU time
#      at rest (naptime 1 s, then a 50 ms and a 20 ms limit in force) next
#      to a process that only sleeps and wakes as often; all of it also
#      with an earlier leakguard (LG_BENCH_SCAN_OLD, 1.1 by default) built
#      in a scratch directory and loaded from there for its arm
#      (dynamic_library_path; the installed library is never replaced);
#   4. overhead: pgbench -S with leakguard preloaded and active versus not
#      loaded, alternating, with restarts in between;
#   5. quota: connection setup, pgbench -C -S (a new connection per
#      transaction), with leakguard not loaded, loaded without quotas, and
#      loaded with 20 quota rules of which the last matches the benchmark's
#      application_name (a quota it never reaches), alternating, with
#      restarts in between;
#   6. history: enforcement precision with a full leakguard.terminations
#      (leakguard.history_size = 100000, loaded from a statistics file built
#      from one real termination), without and then with connections reading
#      the whole view back to back;
#   7. ProcArrayLock: pgbench -N latency during a mass expiry with
#      leakguard holding ProcArrayLock per batch and per group of victims,
#      and with the built-in timeout (test/bench/procarray.sh, on a
#      cluster of its own; it runs alone too);
#   8. admission: what a connection costs the server, in instructions
#      counted by callgrind, with leakguard not loaded, 1.1, and this build
#      with 20 quota rules (plain and qualified by role), at max_connections
#      100, 1000 and 5000 (test/bench/admission.sh; it runs alone too);
#   9. contention: pgbench with clients waiting on each other's row locks,
#      the blocking limit off and on, alternating (test/bench/blocking.sh,
#      on a cluster of its own; it runs alone too);
#  10. blocking: from the moment a waiter's wait passes the blocking limit
#      to the blocker's FATAL, over 50 runs (test/bench/blocking.sh).
#  11. kinds-scan: every kind of limit enabled, the worker's CPU time per
#      scan of this tree against 1.2, both on servers of their own at once,
#      at 100 and 1000 backends (test/bench/kinds.sh; make bench-kinds runs
#      it alone);
#  12. kinds-pgbench: every kind enabled, instructions per pgbench -S
#      transaction counted by callgrind, against leakguard not loaded and
#      1.2 (test/bench/kinds.sh).  Both build in scratch directories and
#      serve each build from a private installation: the installed
#      leakguard.so is never replaced (checked).
#
# Prints progress, then a report of Markdown tables.  Figures only: nothing
# here passes or fails on time.  Exits non-zero if something breaks (server
# start, connections, queries) or if leakguard terminated a session before
# its deadline where the limit is at least naptime.  Everything is removed
# at the end (LG_BENCH_KEEP=1 keeps the scratch directory).
#
# Environment (defaults in brackets):
#   LG_BENCH_SESSIONS [200]        precision sessions (up to 1000)
#   LG_BENCH_LIMITS [1000,1500,2000,2500]   precision limits, ms, one app each
#   LG_BENCH_SHORT_LIMITS [200,300,400,500] limits below naptime, ms
#                                  (a leakguard and a built-in arm)
#   LG_BENCH_STAGGER [1000]        ms over which sessions go idle
#   LG_BENCH_MASS_SESSIONS [1000]  LG_BENCH_MASS_LIMIT [2000] ms
#   LG_BENCH_SCAN_STEPS [100,500,1000]  LG_BENCH_SCAN_WINDOW [3000] ms
#   LG_BENCH_SCAN_IDLE_PCT [25]    share of the scan backends idle in
#                                  transaction (the rest are idle)
#   LG_BENCH_EXPLAIN_RUNS [20]
#   LG_BENCH_SCAN_OLD [5a2a285]    git revision of the earlier leakguard the
#                                  scan part compares with (1.1); "" for none
#   LG_BENCH_REST_WINDOW [10000] ms  per worker-at-rest arm; 0 for none
#   LG_BENCH_REST_LIMITS [50,20]   ms, the limits of the worker-at-rest arms
#   LG_BENCH_EXTRA_CONF ['']       lines appended to postgresql.conf, e.g.
#                                  the 1.2 limits on what a leak costs
#   LG_BENCH_PGBENCH_ROUNDS [4]  LG_BENCH_PGBENCH_TIME [10] s
#   LG_BENCH_PGBENCH_WARMUP [2] s  LG_BENCH_PGBENCH_CLIENTS [8]
#   LG_BENCH_PGBENCH_SCALE [10]
#   LG_BENCH_QUOTA_ROUNDS [4]      rounds of the three quota arms
#   LG_BENCH_QUOTA_TIME [5] s      per pgbench -C run
#   LG_BENCH_QUOTA_WARMUP [1] s    LG_BENCH_QUOTA_CLIENTS [4] (-j 2)
#   LG_BENCH_QUOTA_RULES [20]      quota rules; only the last matches
#   LG_BENCH_QUOTA_LIMIT [1000]    the quota of the benchmark's application
#   LG_BENCH_HISTORY_EVENTS [100000]  history size and events loaded
#   LG_BENCH_HISTORY_SESSIONS [40]  LG_BENCH_HISTORY_READERS [4]
#   LG_BENCH_HISTORY_STAGGER [2000] ms
#   LG_BENCH_LOCK_GROUPS ["0 1 16"]  LG_BENCH_LOCK_ROUNDS [3]
#   LG_BENCH_LOCK_CLIENTS [4]      part 7 (see test/bench/procarray.sh)
#   LG_BENCH_ADMISSION_*           part 8 (see test/bench/admission.sh)
#   LG_BENCH_CONTENTION_*, LG_BENCH_BLOCKING_*  parts 9 and 10 (see
#                                  test/bench/blocking.sh)
#   LG_BENCH_KINDS_OLD, LG_BENCH_KS_*, LG_BENCH_KP_*  parts 11 and 12 (see
#                                  test/bench/kinds.sh)
#   LG_BENCH_PARTS           space-separated parts to run (all if unset):
#                            precision mass scan overhead quota history
#                            procarray admission contention blocking
#                            kinds-scan kinds-pgbench
#   LG_BENCH_SKIP            space-separated parts to skip
#   LG_BENCH_BUILD [1]       0: do not run "make install" for leakguard
#   LG_BENCH_REPORT          also write the report to this file
#   LG_BENCH_KEEP [0]        1: keep the scratch directory and server log
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

SESSIONS=${LG_BENCH_SESSIONS:-200}
LIMITS=${LG_BENCH_LIMITS:-1000,1500,2000,2500}
SHORT_LIMITS=${LG_BENCH_SHORT_LIMITS:-200,300,400,500}
STAGGER=${LG_BENCH_STAGGER:-1000}
MASS_SESSIONS=${LG_BENCH_MASS_SESSIONS:-1000}
MASS_LIMIT=${LG_BENCH_MASS_LIMIT:-2000}
SCAN_STEPS=${LG_BENCH_SCAN_STEPS:-100,500,1000}
SCAN_WINDOW=${LG_BENCH_SCAN_WINDOW:-3000}
SCAN_IDLE_PCT=${LG_BENCH_SCAN_IDLE_PCT:-25}
SCAN_IDLE_RULES="lgb_scan=1h"   # second scan arm: idle-session limits
SCAN_OLD=${LG_BENCH_SCAN_OLD-5a2a285}
REST_WINDOW=${LG_BENCH_REST_WINDOW:-10000}
REST_LIMITS=${LG_BENCH_REST_LIMITS:-50,20}
EXPLAIN_RUNS=${LG_BENCH_EXPLAIN_RUNS:-20}
PGB_ROUNDS=${LG_BENCH_PGBENCH_ROUNDS:-4}
PGB_TIME=${LG_BENCH_PGBENCH_TIME:-10}
PGB_WARMUP=${LG_BENCH_PGBENCH_WARMUP:-2}
PGB_CLIENTS=${LG_BENCH_PGBENCH_CLIENTS:-8}
PGB_SCALE=${LG_BENCH_PGBENCH_SCALE:-10}
QUOTA_ROUNDS=${LG_BENCH_QUOTA_ROUNDS:-4}
QUOTA_TIME=${LG_BENCH_QUOTA_TIME:-5}
QUOTA_WARMUP=${LG_BENCH_QUOTA_WARMUP:-1}
QUOTA_CLIENTS=${LG_BENCH_QUOTA_CLIENTS:-4}
QUOTA_RULES=${LG_BENCH_QUOTA_RULES:-20}
QUOTA_LIMIT=${LG_BENCH_QUOTA_LIMIT:-1000}
QUOTA_APP=lgb_quota     # application, role and database of the quota part
if [ "$QUOTA_RULES" -lt 1 ] || [ "$QUOTA_LIMIT" -lt 1 ] || [ "$QUOTA_ROUNDS" -lt 1 ] ||
    [ "$QUOTA_TIME" -lt 1 ] || [ "$QUOTA_CLIENTS" -lt 1 ]; then
    echo "LG_BENCH_QUOTA_RULES, _LIMIT, _ROUNDS, _TIME and _CLIENTS must be at least 1" >&2
    exit 2
fi
HIST_EVENTS=${LG_BENCH_HISTORY_EVENTS:-100000}
HIST_SESSIONS=${LG_BENCH_HISTORY_SESSIONS:-40}
HIST_READERS=${LG_BENCH_HISTORY_READERS:-4}
HIST_STAGGER=${LG_BENCH_HISTORY_STAGGER:-2000}
HIST_LIMIT=1000     # ms, = naptime: every deadline is known before it passes
HIST_SOLO_READS=5
if [ "$HIST_EVENTS" -lt 1 ] || [ "$HIST_EVENTS" -gt 100000 ] ||
    [ "$HIST_SESSIONS" -lt 1 ] || [ "$HIST_READERS" -lt 1 ]; then
    echo "LG_BENCH_HISTORY_EVENTS must be 1..100000 (leakguard.history_size), LG_BENCH_HISTORY_SESSIONS and LG_BENCH_HISTORY_READERS at least 1" >&2
    exit 2
fi
SKIP=" ${LG_BENCH_SKIP:-} "
PARTS=" ${LG_BENCH_PARTS:-precision mass scan overhead quota history procarray admission contention blocking kinds-scan kinds-pgbench} "
NAPTIME=1000        # ms, precision and mass
SCAN_NAPTIME=10     # ms, scan cost and overhead
PORT=5432           # on a private socket directory: no clash with other servers

t_begin=$(date +%s)

# Largest of the connection counts, plus room for monitors and pgbench.
max_sessions=$SESSIONS
for n in $MASS_SESSIONS ${SCAN_STEPS//,/ } $((HIST_SESSIONS + HIST_READERS)); do
    [ "$n" -gt "$max_sessions" ] && max_sessions=$n
done
MAX_CONNECTIONS=$((max_sessions + 100))

skipped() { [[ "$SKIP" == *" $1 "* || "$PARTS" != *" $1 "* ]]; }

lg_ensure_packages libpq-dev
lg_setup_paths
lg_setup_user

installed_lib="$("$PG_CONFIG" --pkglibdir)/leakguard.so"
sanitized() { ldd "$1" 2>/dev/null | grep -qE 'lib(a|ub)san'; }
if [ "${LG_BENCH_BUILD:-1}" = 1 ]; then
    lg_say "building and installing leakguard (make install; LG_BENCH_BUILD=0 skips)"
    make -s install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
    # Objects left by "make sanitize" are up to date but instrumented.
    if sanitized "$installed_lib"; then
        lg_say "the build was instrumented by sanitizers: rebuilding from clean"
        make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
        make -s install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
    fi
fi
[ -f "$installed_lib" ] || {
    echo "leakguard is not installed in $("$PG_CONFIG" --pkglibdir); run make install" >&2
    exit 1
}
if sanitized "$installed_lib"; then
    echo "the installed $installed_lib is a sanitizer build; benchmark a normal one (make clean install)" >&2
    exit 1
fi
lib_stamp=$(date -u -r "$installed_lib" '+%Y-%m-%d %H:%M:%S UTC')
lg_say "building test/bench/lg_bench"
make -s -C test/bench lg_bench PG_CONFIG="$PG_CONFIG"
LG_BENCH=$PWD/test/bench/lg_bench

# The client holds one socket per session.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((max_sessions + 256)) ]; then
    ulimit -n $((max_sessions + 256 > 4096 ? max_sessions + 256 : 4096)) 2>/dev/null ||
        ulimit -n "$(ulimit -Hn)"
fi

work=$(lg_workdir bench)
data="$work/data"
log="$work/server.log"
report="$work/report.md"
CONN="host=$work port=$PORT dbname=postgres user=$LG_USER"
generation=0

cleanup() {
    local rc=$?
    set +e
    if [ -f "$data/postmaster.pid" ]; then
        lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1
    fi
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

# use_build DIR VERSION: the SQL objects in database postgres made again,
# served by the library in DIR at its VERSION (DIR empty: CREATE EXTENSION
# of the installed library's default version).  The installed library is
# never replaced, for other runs may be using this installation: the
# earlier build is found through dynamic_library_path (set by write_conf's
# conf_extra before the server starts) by the bare name "leakguard" that
# shared_preload_libraries and the worker's bgw_library_name use, and its
# own install script is run as a plain script with MODULE_PATHNAME as that
# same bare name, so that a backend loads that one file and never a second
# copy from $libdir (CREATE EXTENSION would: its functions name $libdir).
use_build() {
    local dir=$1 version=$2
    psql_b -c "DROP EXTENSION IF EXISTS leakguard" -c "DROP SCHEMA IF EXISTS leakguard CASCADE"
    if [ -n "$dir" ]; then
        { echo "CREATE SCHEMA leakguard; SET search_path = leakguard, pg_catalog;"
          sed -e '/^\\echo/d' -e 's/MODULE_PATHNAME/leakguard/g' -e 's/@extschema@/leakguard/g' \
              "$dir/leakguard--$version.sql"
        } | psql_b
    else
        psql_b -c "CREATE EXTENSION leakguard"
    fi
}

psql_b() { psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U "$LG_USER" -d postgres "$@"; }
psql_v() { psql_b -Atc "$1"; }

start_server() {
    if ! lg_as_user pg_ctl -D "$data" -l "$log" -w -t 120 start >/dev/null; then
        echo "the server did not start" >&2
        exit 1
    fi
}
stop_server() {
    lg_as_user pg_ctl -D "$data" -m fast -w -t 120 stop >/dev/null
}

# write_conf PRELOAD MODE NAPTIME_MS RULES: the settings that change
# between parts, plus the lines in conf_extra; generation tells when a
# reload has taken effect.
conf_extra=""
write_conf() {
    generation=$((generation + 1))
    cat >"$data/bench.conf" <<CONF
shared_preload_libraries = '$1'
leakguard.mode = '$2'
leakguard.naptime = '$3ms'
leakguard.application_timeouts = '$4'
lg_bench.generation = '$generation'
$conf_extra
CONF
    [ "$(id -u)" = 0 ] && chown "$LG_USER" "$data/bench.conf"
    return 0
}

# Reload, wait until new backends see it (the postmaster has signalled the
# worker by then), then let the worker scan once, which it does after
# reloading.
reload_conf() {
    local i
    psql_v "SELECT pg_reload_conf()" >/dev/null
    for i in $(seq 1 100); do
        [ "$(psql_v "SHOW lg_bench.generation")" = "$generation" ] && break
        sleep 0.1
    done
    [ "$(psql_v "SHOW lg_bench.generation")" = "$generation" ] || {
        echo "the configuration reload did not take effect" >&2
        exit 1
    }
    psql_b -c "SET client_min_messages = warning" -c "SELECT leakguard.check()" >/dev/null
    local err
    err=$(psql_v "SELECT config_error FROM leakguard.status()")
    if [ -n "$err" ]; then
        echo "leakguard configuration error: $err" >&2
        exit 1
    fi
}

# "1000,1500" -> apps lgb_app1=1000,lgb_app2=1500 and leakguard's rules
apps_of() {
    local i=0 l out=""
    for l in ${1//,/ }; do
        i=$((i + 1))
        out="$out${out:+,}lgb_app$i=$l"
    done
    echo "$out"
}
rules_of() { echo "$1" | sed 's/=\([0-9]*\)/=\1ms/g; s/,/, /g'; }

run_lg_bench() {	# run_lg_bench OUTFILE ARGS...: rows appended to OUTFILE
    local out=$1 rc=0
    shift
    "$LG_BENCH" "$@" >>"$out" || rc=$?
    if [ $rc = 3 ]; then
        early_failure=1
    elif [ $rc != 0 ]; then
        echo "lg_bench $1 failed (exit $rc)" >&2
        exit 1
    fi
}
early_failure=0

rows() { sed -n "s/^@$1 //p" "$2"; }	# the rows of one tag, as table lines

# The @limit rows ordered by limit, arms in the order they ran within a
# limit, so that the arms at one limit stand next to each other.
limit_rows() {
    rows limit "$1" | awk -F'|' '{
        split($3, w, " "); ms = w[1] * ((w[2] == "h") ? 3600000 : (w[2] == "s") ? 1000 : 1)
        printf "%012.1f %06d %s\n", ms, NR, $0 }' | sort | cut -d' ' -f3-
}

# mass_batches < SERVER_LOG: the worker's DEBUG1 "leakguard batch" lines
# (src/worker.c) as "end_ms due acted read exempt lock signals publish
# logging": end_ms is the line's time (log_line_prefix %m, in UTC) in ms
# since the epoch, the rest the line's figures.
mass_batches() {
    awk '
        # days since 1970-01-01 of a proleptic Gregorian date
        function days(y, m, d,   era, yoe, doy, doe) {
            y -= (m <= 2); era = int(y / 400); yoe = y - era * 400
            doy = int((153 * (m + ((m > 2) ? -3 : 9)) + 2) / 5) + d - 1
            doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
            return era * 146097 + doe - 719468
        }
        /leakguard batch: [0-9]+ due, [0-9]+ acted on;/ {
            split($1, dt, "-"); split($2, tm, ":")
            ms = (days(dt[1] + 0, dt[2] + 0, dt[3] + 0) * 86400 + tm[1] * 3600 + tm[2] * 60) * 1000 + tm[3] * 1000
            line = $0; sub(/.*leakguard batch: /, "", line); gsub(/[^0-9.]+/, " ", line)
            n = split(line, v, " ")
            if (n != 8) next
            printf "%.0f", ms
            for (i = 1; i <= 8; i++) printf " %s", v[i]
            printf "\n"
        }'
}

# ---------------------------------------------------------------------------
lg_say "creating a scratch cluster in $work"
lg_as_user initdb -D "$data" -A trust -E UTF8 --locale=C >/dev/null
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
max_connections = $MAX_CONNECTIONS
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_line_prefix = '%m [%p] '
log_timezone = 'UTC'
include_if_exists = 'bench.conf'
${LG_BENCH_EXTRA_CONF:-}
CONF
write_conf leakguard enforce $NAPTIME ""
start_server

server_version=$(psql_v "SHOW server_version")
psql_b <<SQL
CREATE EXTENSION leakguard;
DO \$\$
BEGIN
    FOR i IN 1..16 LOOP
        EXECUTE format('CREATE ROLE lgb_app%s LOGIN', i);
    END LOOP;
END
\$\$;
CREATE ROLE lgb_mass LOGIN;
CREATE ROLE lgb_scan LOGIN;
CREATE ROLE lgb_hist LOGIN;
CREATE ROLE $QUOTA_APP LOGIN;
SQL

precision_rows="$work/precision.rows"
SHORT_LG="leakguard, limits < naptime"          # labels of the short-limit arms
SHORT_BI="built-in timeout, limits < naptime"
mass_rows="$work/mass.rows"
scan_rows="$work/scan.rows"
mass_batch_rows="$work/mass-batches.rows"
: >"$mass_batch_rows"
: >"$precision_rows"
: >"$mass_rows"
: >"$scan_rows"

# ---------------------------------------------------------------------------
if ! skipped precision; then
    t_prec=$(date +%s)
    apps=$(apps_of "$LIMITS")
    short_apps=$(apps_of "$SHORT_LIMITS")
    common=(--sessions "$SESSIONS" --stagger "$STAGGER" --grace 5000)

    lg_say "precision, leakguard: $SESSIONS sessions, rules '$(rules_of "$apps")', naptime ${NAPTIME}ms"
    write_conf leakguard enforce $NAPTIME "$(rules_of "$apps")"
    reload_conf
    run_lg_bench "$precision_rows" precision "$CONN" --apps "$apps" "${common[@]}" \
        --label "leakguard" --fail-early --leakguard-history

    lg_say "precision, built-in idle_in_transaction_session_timeout per role (leakguard.mode off)"
    write_conf leakguard off $NAPTIME "$(rules_of "$apps")"
    reload_conf
    for a in ${apps//,/ }; do
        psql_v "ALTER ROLE ${a%%=*} SET idle_in_transaction_session_timeout = ${a#*=}"
    done
    run_lg_bench "$precision_rows" precision "$CONN" --apps "$apps" "${common[@]}" \
        --label "built-in timeout"
    for a in ${apps//,/ }; do
        psql_v "ALTER ROLE ${a%%=*} RESET idle_in_transaction_session_timeout"
    done

    lg_say "precision, sweeper: pg_terminate_backend() over pg_stat_activity every second (leakguard.mode off)"
    run_lg_bench "$precision_rows" precision "$CONN" --apps "$apps" "${common[@]}" \
        --label "sweeper, every 1 s" --sweep-every 1000

    lg_say "precision, leakguard with limits below naptime: rules '$(rules_of "$short_apps")', naptime ${NAPTIME}ms"
    write_conf leakguard enforce $NAPTIME "$(rules_of "$short_apps")"
    reload_conf
    run_lg_bench "$precision_rows" precision "$CONN" --apps "$short_apps" "${common[@]}" \
        --label "$SHORT_LG" --leakguard-history

    lg_say "precision, built-in idle_in_transaction_session_timeout per role at the same limits below naptime (leakguard.mode off)"
    write_conf leakguard off $NAPTIME "$(rules_of "$short_apps")"
    reload_conf
    for a in ${short_apps//,/ }; do
        psql_v "ALTER ROLE ${a%%=*} SET idle_in_transaction_session_timeout = ${a#*=}"
    done
    run_lg_bench "$precision_rows" precision "$CONN" --apps "$short_apps" "${common[@]}" \
        --label "$SHORT_BI"
    for a in ${short_apps//,/ }; do
        psql_v "ALTER ROLE ${a%%=*} RESET idle_in_transaction_session_timeout"
    done
    prec_wall=$(($(date +%s) - t_prec))
fi

# ---------------------------------------------------------------------------
if ! skipped mass; then
    t_mass=$(date +%s)
    # The worker's DEBUG1 "leakguard batch" lines say where its time went.
    # A background worker bound to no database takes no per-role or
    # per-database setting, so log_min_messages is set server-wide, for this
    # arm only.
    lg_say "mass expiry, leakguard: $MASS_SESSIONS sessions idle at once, limit ${MASS_LIMIT}ms, naptime ${NAPTIME}ms (log_min_messages = debug1)"
    conf_extra="log_min_messages = debug1"
    write_conf leakguard enforce $NAPTIME "lgb_mass=${MASS_LIMIT}ms"
    reload_conf
    log_at=$(stat -c %s "$log")
    run_lg_bench "$mass_rows" mass "$CONN" --apps "lgb_mass=$MASS_LIMIT" \
        --sessions "$MASS_SESSIONS" --grace 30000 \
        --label "leakguard, naptime $((NAPTIME / 1000)) s" --fail-early --leakguard-history
    tail -c +$((log_at + 1)) "$log" >"$work/mass-arm.log"
    conf_extra=""       # the next arm's reload sets log_min_messages back
    mass_batches <"$work/mass-arm.log" >"$mass_batch_rows"
    mass_log_lines=$(wc -l <"$work/mass-arm.log")
    mass_log_kb=$(($(wc -c <"$work/mass-arm.log") / 1024))
    rm -f "$work/mass-arm.log"
    echo "  server log during the arm: $mass_log_lines lines, $mass_log_kb kB; $(wc -l <"$mass_batch_rows") \"leakguard batch\" lines"

    lg_say "mass expiry, built-in idle_in_transaction_session_timeout for comparison (leakguard.mode off)"
    write_conf leakguard off $NAPTIME "lgb_mass=${MASS_LIMIT}ms"
    reload_conf
    psql_v "ALTER ROLE lgb_mass SET idle_in_transaction_session_timeout = $MASS_LIMIT"
    run_lg_bench "$mass_rows" mass "$CONN" --apps "lgb_mass=$MASS_LIMIT" \
        --sessions "$MASS_SESSIONS" --grace 30000 --label "built-in timeout"
    psql_v "ALTER ROLE lgb_mass RESET idle_in_transaction_session_timeout"
    mass_wall=$(($(date +%s) - t_mass))
fi

# ---------------------------------------------------------------------------
if ! skipped scan; then
    t_scan=$(date +%s)
    scan_load0=$(cut -d' ' -f1 /proc/loadavg)
    scan_builds="new"
    old_label=""
    if [ -n "$SCAN_OLD" ]; then
        # The earlier build, from git, in the scratch directory; only its
        # library is used, swapped in for its arm (the SQL objects it
        # calls are the same).
        old_label="$(git rev-parse --short "$SCAN_OLD")"
        lg_say "building leakguard $old_label (LG_BENCH_SCAN_OLD) in the scratch directory"
        mkdir "$work/old-src"
        git archive "$SCAN_OLD" | tar -x -C "$work/old-src"
        make -s -C "$work/old-src" PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null 2>&1 || {
            echo "building leakguard $SCAN_OLD failed" >&2
            exit 1
        }
        old_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$work/old-src/leakguard.control")
        [ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work/old-src"
        scan_builds="old new"
    fi
    rest_args=()
    [ "$REST_WINDOW" -gt 0 ] && rest_args=(--rest-window "$REST_WINDOW" --rest-limits "$REST_LIMITS")
    for build in $scan_builds; do
        stop_server
        if [ "$build" = old ]; then
            label="$old_label"
            conf_extra="dynamic_library_path = '$work/old-src:\$libdir'"
            idle_args=()
        else
            label="this build"
            conf_extra=""
            idle_args=(--idle-rules "$SCAN_IDLE_RULES")
        fi
        lg_say "scan cost, $label: $SCAN_STEPS client backends, naptime ${SCAN_NAPTIME}ms${idle_args:+, without and with idle rules '$SCAN_IDLE_RULES'}; then the worker at rest"
        write_conf leakguard enforce $SCAN_NAPTIME "lgb_scan=1h"
        start_server
        if [ "$build" = old ]; then
            use_build "$work/old-src" "$old_version"
        else
            use_build "" ""
        fi
        reload_conf
        run_lg_bench "$scan_rows" scan "$CONN" --apps "lgb_scan=3600000" --label "$label" \
            --steps "$SCAN_STEPS" --idle-pct "$SCAN_IDLE_PCT" --window "$SCAN_WINDOW" \
            --explain-runs "$EXPLAIN_RUNS" "${idle_args[@]}" "${rest_args[@]}"
    done
    if [ -n "$SCAN_OLD" ]; then
        stop_server
        conf_extra=""
        write_conf leakguard enforce $SCAN_NAPTIME ""
        start_server
        use_build "" ""
    fi
    # Rules qualified by role (1.2) against the same number of unqualified
    # ones, at the largest step: 20 idle rules, the last matching the
    # backends (by name; qualified: by name and role).
    qual_step=${SCAN_STEPS##*,}
    qual_plain=$(for i in $(seq 1 19); do printf 'lgb_other%d=1h, ' "$i"; done; echo 'lgb_scan=1h')
    qual_role=$(for i in $(seq 1 19); do printf 'lgb_other%d user lgb_scan=1h, ' "$i"; done; echo 'lgb_scan user lgb_scan=1h')
    for arm in plain role; do
        rules=$qual_plain
        [ $arm = role ] && rules=$qual_role
        lg_say "scan cost with 20 idle rules ($arm), $qual_step client backends"
        write_conf leakguard enforce $SCAN_NAPTIME "lgb_scan=1h"
        reload_conf
        "$LG_BENCH" scan "$CONN" --apps "lgb_scan=3600000" --label "20 rules, $arm" \
            --steps "$qual_step" --idle-pct "$SCAN_IDLE_PCT" --window "$SCAN_WINDOW" \
            --explain-runs 1 --idle-rules "$rules" | sed -n "s/^@scanidle /@qual $arm /p" >>"$scan_rows"
    done
    scan_wall=$(($(date +%s) - t_scan))
    scan_load1=$(cut -d' ' -f1 /proc/loadavg)
fi

# ---------------------------------------------------------------------------
pgb_table="$work/pgbench.rows"
: >"$pgb_table"
if ! skipped overhead; then
    lg_say "overhead: pgbench -S -c $PGB_CLIENTS -j 2 -T $PGB_TIME, scale $PGB_SCALE, $PGB_ROUNDS rounds"
    psql_v "SELECT 1" >/dev/null
    pgbench -q -i -s "$PGB_SCALE" -h "$work" -p "$PORT" -U "$LG_USER" postgres >/dev/null 2>&1 || {
        echo "pgbench -i failed" >&2
        exit 1
    }
    for round in $(seq 1 "$PGB_ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then order="with without"; else order="without with"; fi
        for arm in $order; do
            stop_server
            if [ "$arm" = with ]; then
                write_conf leakguard enforce $SCAN_NAPTIME "lgb_*=1min, pgbench=10min"
            else
                write_conf "" enforce $SCAN_NAPTIME ""
            fi
            start_server
            scans0=""
            if [ "$arm" = with ]; then
                [ -n "$(psql_v "SELECT pid FROM leakguard.status()")" ] || {
                    echo "the leakguard worker is not running" >&2
                    exit 1
                }
            else
                [ -z "$(psql_v "SHOW shared_preload_libraries")" ] || exit 1
            fi
            if [ "$PGB_WARMUP" -gt 0 ]; then
                pgbench -n -S -c "$PGB_CLIENTS" -j 2 -T "$PGB_WARMUP" \
                    -h "$work" -p "$PORT" -U "$LG_USER" postgres >/dev/null 2>&1
            fi
            [ "$arm" = with ] && scans0=$(psql_v "SELECT scans FROM leakguard.status()")
            out=$(pgbench -n -S -c "$PGB_CLIENTS" -j 2 -T "$PGB_TIME" \
                -h "$work" -p "$PORT" -U "$LG_USER" postgres 2>&1) || {
                echo "$out" >&2
                echo "pgbench failed" >&2
                exit 1
            }
            tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*without initial connection time.*/\1/p')
            [ -n "$tps" ] || tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -n 1)
            scans="-"
            if [ "$arm" = with ]; then
                scans=$(($(psql_v "SELECT scans FROM leakguard.status()") - scans0))
            fi
            echo "$round $arm $tps $scans" >>"$pgb_table"
            printf '  round %s, leakguard %-7s: %s tps\n' "$round" "$arm" "$tps"
        done
    done
fi

# ---------------------------------------------------------------------------
# quota_rules N LIMIT APP: N rules of application_connection_limits, of
# the kinds a real list holds (exact names, prefixes, suffixes, quoted names,
# percentages, near misses of APP), of which only the last, APP=LIMIT,
# matches APP.
quota_rules() {
    local n=$1 limit=$2 app=$3 i out=""
    local kinds=('reporting-*=50' 'etl_*=20' '"billing api"=100' 'web-*=30%'
        "${app}_ro*=10" 'psql=5' 'pg_dump*=2' '*-batch=15' 'metabase*=25'
        'airflow-worker-?*=40' 'grafana=10' 'django-*=20%' 'sidekiq*=50'
        "${app}-admin=3" 'tableau*=10' 'pgbouncer-*=0' 'node-app-*=25'
        '"cron job *"=5' 'jdbc*=30')
    for ((i = 1; i < n; i++)); do
        if [ "$i" -le ${#kinds[@]} ]; then
            out="$out${kinds[i - 1]}, "
        else
            out="${out}svc-$i-*=10, "
        fi
    done
    echo "$out$app=$limit"
}

# CPU time of the postmaster and of its exited children (every backend
# that has ended), in clock ticks: /proc/PID/stat utime stime cutime cstime.
clk_tck=$(getconf CLK_TCK)
postmaster_cpu_ticks() {
    local pid
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) || { echo -1; return; }
    sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || echo -1
}

quota_table="$work/quota.rows"
: >"$quota_table"
if ! skipped quota; then
    t_quota=$(date +%s)
    quota_load0=$(cut -d' ' -f1 /proc/loadavg)
    quota_list=$(quota_rules "$QUOTA_RULES" "$QUOTA_LIMIT" "$QUOTA_APP")
    quota_jobs=$((QUOTA_CLIENTS < 2 ? QUOTA_CLIENTS : 2))
    lg_say "quota: pgbench -C -S -c $QUOTA_CLIENTS -j $quota_jobs -T $QUOTA_TIME as role and application $QUOTA_APP, $QUOTA_ROUNDS rounds of 3 arms"
    psql_v "CREATE DATABASE $QUOTA_APP" >/dev/null
    pgbench -q -i -s 1 -h "$work" -p "$PORT" -U "$LG_USER" "$QUOTA_APP" >/dev/null 2>&1 || {
        echo "pgbench -i failed" >&2
        exit 1
    }
    psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U "$LG_USER" -d "$QUOTA_APP" \
        -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO $QUOTA_APP" >/dev/null
    # Quotas do not apply to superusers: the role must not be one.
    [ "$(psql_v "SELECT rolsuper FROM pg_roles WHERE rolname = '$QUOTA_APP'")" = f ] || exit 1
    for round in $(seq 1 "$QUOTA_ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then order="off loaded quota"; else order="quota loaded off"; fi
        for arm in $order; do
            stop_server
            case $arm in
                off)    conf_extra=""
                        write_conf "" enforce $NAPTIME "" ;;
                loaded) conf_extra=""
                        write_conf leakguard enforce $NAPTIME "lgb_*=1min, pgbench=10min" ;;
                quota)  conf_extra="leakguard.application_connection_limits = '$quota_list'"
                        write_conf leakguard enforce $NAPTIME "lgb_*=1min, pgbench=10min" ;;
            esac
            start_server
            # Check the arm is what it says.
            if [ "$arm" = off ]; then
                [ -z "$(psql_v "SHOW shared_preload_libraries")" ] || exit 1
            else
                [ -n "$(psql_v "SELECT pid FROM leakguard.status()")" ] || {
                    echo "the leakguard worker is not running" >&2
                    exit 1
                }
                err=$(psql_v "SELECT config_error FROM leakguard.status()")
                [ -z "$err" ] || {
                    echo "leakguard configuration error: $err" >&2
                    exit 1
                }
                got=$(psql_v "SELECT coalesce(connection_rule, '') || '|' || connection_limit FROM leakguard.limit_for('$QUOTA_APP')")
                if [ "$arm" = quota ]; then want="$QUOTA_APP=$QUOTA_LIMIT|$QUOTA_LIMIT"; else want="|0"; fi
                [ "$got" = "$want" ] || {
                    echo "quota arm $arm: leakguard.limit_for('$QUOTA_APP') gives rule|limit '$got', not '$want'" >&2
                    exit 1
                }
            fi
            pgb=(pgbench -n -C -S -c "$QUOTA_CLIENTS" -j "$quota_jobs"
                -h "$work" -p "$PORT" -U "$QUOTA_APP" "$QUOTA_APP")
            if [ "$QUOTA_WARMUP" -gt 0 ]; then
                PGAPPNAME=$QUOTA_APP "${pgb[@]}" -T "$QUOTA_WARMUP" >/dev/null 2>&1
            fi
            sleep 0.2   # the warm-up's backends have exited and been reaped
            cpu0=$(postmaster_cpu_ticks)
            out=$(PGAPPNAME=$QUOTA_APP "${pgb[@]}" -T "$QUOTA_TIME" 2>&1) || {
                echo "$out" >&2
                echo "pgbench -C failed (arm $arm)" >&2
                exit 1
            }
            sleep 0.2
            cpu1=$(postmaster_cpu_ticks)
            nconn=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
            cpu_ms=$(awk -v a="$cpu0" -v b="$cpu1" -v n="${nconn:-0}" -v hz="$clk_tck" \
                'BEGIN { if (n > 0 && a >= 0 && b >= a) printf "%.3f", (b - a) * 1000 / hz / n; else print "-" }')
            tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -n 1)
            conn_ms=$(echo "$out" | sed -n 's/^average connection time = \([0-9.]*\) ms.*/\1/p')
            lat_ms=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p')
            [ -n "$tps" ] || {
                echo "$out" >&2
                echo "no tps in pgbench's output" >&2
                exit 1
            }
            refused="-"
            if [ "$arm" != off ]; then
                refused=$(psql_v "SELECT coalesce(sum(refused + refused_dry_run), 0) FROM leakguard.stats WHERE application_name = '$QUOTA_APP'")
                [ "$refused" = 0 ] || {
                    echo "quota arm $arm: leakguard refused $refused connections of $QUOTA_APP" >&2
                    exit 1
                }
            fi
            echo "$round $arm $tps ${conn_ms:--} ${lat_ms:--} $refused $cpu_ms" >>"$quota_table"
            printf '  round %s, %-6s: %s connections/s, connection time %s ms, server CPU %s ms per connection\n' \
                "$round" "$arm" "$tps" "${conn_ms:--}" "$cpu_ms"
        done
    done
    conf_extra=""
    quota_wall=$(($(date +%s) - t_quota))
    quota_load1=$(cut -d' ' -f1 /proc/loadavg)
fi

# ---------------------------------------------------------------------------
hist_rows="$work/history.rows"
: >"$hist_rows"
if ! skipped history; then
    t_hist=$(date +%s)
    hist_common=(--apps "lgb_hist=$HIST_LIMIT" --sessions "$HIST_SESSIONS"
        --stagger "$HIST_STAGGER" --grace 5000 --fail-early --leakguard-history)
    stat="$data/pg_stat/leakguard.stat"

    lg_say "history: one real termination under leakguard.history_size = $HIST_EVENTS, saved at a clean shutdown"
    stop_server
    conf_extra="leakguard.history_size = $HIST_EVENTS"
    write_conf leakguard enforce $NAPTIME "lgb_hist=${HIST_LIMIT}ms"
    rm -f "$stat"
    start_server
    run_lg_bench "$work/history-seed.rows" precision "$CONN" --apps "lgb_hist=$HIST_LIMIT" \
        --sessions 1 --stagger 0 --grace 5000 --label "history seed" --fail-early
    stop_server
    [ -f "$stat" ] || {
        echo "the server did not write $stat at its clean shutdown" >&2
        exit 1
    }

    lg_say "history: a statistics file of $HIST_EVENTS copies of that termination, loaded at start"
    "$LG_BENCH" statsfile "$stat" "$stat.new" "$HIST_EVENTS" || {
        echo "lg_bench statsfile failed" >&2
        exit 1
    }
    [ "$(id -u)" = 0 ] && chown "$LG_USER" "$stat.new"
    mv -f "$stat.new" "$stat"
    start_server
    n=$(psql_v "SELECT count(*) FROM leakguard.terminations WHERE application_name = 'lgb_hist' AND action = 'terminated'")
    [ "$n" = "$HIST_EVENTS" ] || {
        echo "leakguard.terminations holds $n terminations of lgb_hist, not $HIST_EVENTS: the statistics file was not loaded (see the server log)" >&2
        exit 1
    }
    reload_conf

    lg_say "history: $HIST_SESSIONS sessions, limit ${HIST_LIMIT}ms, naptime ${NAPTIME}ms, no reader"
    run_lg_bench "$hist_rows" history "$CONN" "${hist_common[@]}" \
        --label "no reader" --readers 0 --solo-reads "$HIST_SOLO_READS"
    lg_say "history: the same with $HIST_READERS connections reading leakguard.terminations back to back"
    run_lg_bench "$hist_rows" history "$CONN" "${hist_common[@]}" \
        --label "$HIST_READERS readers of the view" --readers "$HIST_READERS"

    # Control: readers as busy, on a query that takes no lock of leakguard's,
    # sized so that one read alone lasts about as long as one of the view.
    view_ms=$(rows histread "$hist_rows" | awk -F'|' 'NR == 1 { print $5 + 0 }')
    gs_ms=$(psql_b -c '\timing on' -c "SELECT count(*) FROM generate_series(1, 1000000)" \
        -c "SELECT count(*) FROM generate_series(1, 1000000)" \
        -c "SELECT count(*) FROM generate_series(1, 1000000)" |
        sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | head -n 1)
    ctrl_rows=$(awk -v v="$view_ms" -v g="$gs_ms" 'BEGIN { n = (g > 0 && v > 0) ? int(1000000 * v / g) : 1000000; print (n < 1000 ? 1000 : n) }')
    lg_say "history, control: $HIST_READERS connections running count(*) over generate_series(1, $ctrl_rows) back to back (no leakguard lock)"
    run_lg_bench "$hist_rows" history "$CONN" "${hist_common[@]}" \
        --label "$HIST_READERS readers of generate_series (control)" --readers "$HIST_READERS" \
        --reader-sql "SELECT count(*) FROM generate_series(1, $ctrl_rows)" --solo-reads "$HIST_SOLO_READS"
    hist_wall=$(($(date +%s) - t_hist))
fi

stop_server
t_end=$(date +%s)

# ---------------------------------------------------------------------------
# The report.
{
    echo "## leakguard benchmarks"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- machine: $(uname -m), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
    echo "- PostgreSQL $server_version ($(uname -sr))"
    echo "- leakguard: git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' with uncommitted changes in src/'); installed library of $lib_stamp"
    echo "- server: max_connections $MAX_CONNECTIONS, shared_buffers 256MB, fsync off; client and server on the same machine"
    echo "- wall time of the whole run: $((t_end - t_begin)) s"

    if ! skipped precision; then
        echo
        echo "### 1. Precision: overshoot past state_change + limit"
        echo
        echo "$SESSIONS sessions, 4 applications (each its own role) with one limit each, going idle in"
        echo "transaction spread over ${STAGGER} ms; leakguard.naptime = ${NAPTIME} ms in every arm. Overshoot = moment the"
        echo "client received the server's FATAL message (poll, CLOCK_REALTIME) − (state_change from"
        echo "pg_stat_activity + limit), in ms; \"early\" counts sessions terminated before their deadline."
        echo "\"leakguard signalled\": when the worker sent SIGTERM (leakguard.terminations.terminated_at)"
        echo "− deadline, p50 / max. The backend then exits: \"connection end\" is the time from the FATAL"
        echo "message to the end of the socket, p50 / max. \"closed by\" is read from the FATAL message."
        echo "Arms: leakguard, the built-in idle_in_transaction_session_timeout set per role (ALTER ROLE,"
        echo "leakguard.mode off) and a sweeper every 1 s, at limits ${LIMITS//,/, } ms; then leakguard and the built-in"
        echo "timeout, the same way, at limits ${SHORT_LIMITS//,/, } ms, below naptime."
        echo
        echo "| arm | sessions | limits | terminated | early | p50 ms | p95 ms | p99 ms | max ms | leakguard signalled after deadline, ms | connection end after FATAL, ms | closed by |"
        echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        rows all "$precision_rows"
        echo
        echo "Per limit (ordered by limit; at each limit the arms in the order above):"
        echo
        echo "| arm | limit | sessions | terminated | early | p50 ms | p95 ms | p99 ms | max ms |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        limit_rows "$precision_rows"
        awk -v a="$SHORT_LG" -v b="$SHORT_BI" -v lims="$SHORT_LIMITS" '
            $1 == "@precnum" {
                label = $0; sub(/^@precnum [-0-9]+ [-0-9]+ [-0-9]+ [-0-9]+ /, "", label)
                p99[label] = $4 / 1000; mx[label] = $5 / 1000; n[label] = $2
            }
            END {
                if (!(a in p99) || !(b in p99)) exit
                gsub(/,/, ", ", lims)
                printf "\nLimits below naptime (%s ms), all sessions: overshoot p99 leakguard %.1f ms vs built-in %.1f ms (difference %+.1f ms); max %.1f ms vs %.1f ms (difference %+.1f ms).\n",
                    lims, p99[a], p99[b], p99[a] - p99[b], mx[a], mx[b], mx[a] - mx[b]
            }' "$precision_rows"
        echo
        echo "Wall time of this part: ${prec_wall} s."
    fi

    if ! skipped mass; then
        echo
        echo "### 2. Mass expiry"
        echo
        echo "$MASS_SESSIONS sessions of one application send their last statement in one burst, each waiting on the"
        echo "server until one common moment (pg_sleep_until), and stay idle in transaction; one limit;"
        echo "leakguard.naptime = ${NAPTIME} ms. Times in ms: how far apart their state_change are; from the first"
        echo "and from the last deadline (min/max of state_change + limit) until the last session received"
        echo "its FATAL message; from the last deadline until the last connection ended (backend exited);"
        echo "overshoot distribution of all sessions and when leakguard signalled them (p50 / max), as in 1."
        echo "The built-in timeout row is a baseline."
        echo
        echo "| case | sessions | limit | went idle within | last terminated after first deadline | after last deadline | last connection end after last deadline | overshoot p50 | p99 | max | leakguard signalled after deadline | early | terminated | closed by |"
        echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        rows mass "$mass_rows"
        # @massnum nover first_dl last_dl last_close last_eof p50 p99 max label
        awk '$1 == "@massnum" { k++; after[k] = ($5 - $4) / 1000; p99[k] = $8 / 1000 }
            END {
                if (k < 2) exit
                printf "\nleakguard / built-in: last FATAL after the last deadline %.1f / %.1f ms = %s; overshoot p99 %.1f vs %.1f ms (difference %+.1f ms).\n",
                    after[1], after[2], (after[2] > 0) ? sprintf("%.2f", after[1] / after[2]) : "-",
                    p99[1], p99[2], p99[1] - p99[2]
            }' "$mass_rows"
        echo
        echo "Where the worker's time went during the mass expiry (leakguard arm), from its DEBUG1 lines"
        echo "\"leakguard batch: ...\" (src/worker.c), one per scan that found sessions due: log_min_messages ="
        echo "debug1, server-wide, for that arm only (the server log grew by ${mass_log_lines:-?} lines, ${mass_log_kb:-?} kB over the"
        echo "arm, mostly the sessions' FATAL messages and leakguard's LOG line per termination). A batch ends"
        echo "at its line's time (log_line_prefix %m, 1 ms resolution) and starts that time minus the sum of its"
        echo "components. \"span\": from the start of the first batch to the end of the last, about the"
        echo "worker's first wake with work to its last signal and bookkeeping; \"between batches\": the rest"
        echo "of the span (the worker asleep until the next deadline, or waiting for a CPU). Times in ms."
        echo
        if [ ! -s "$mass_batch_rows" ]; then
            echo "No \"leakguard batch\" line in the server log: the installed leakguard may predate them."
        else
            # rows: end_ms due acted read exempt lock signals publish logging
            awk -v massnum="$(grep -m 1 '^@massnum' "$mass_rows")" -v sessions="$MASS_SESSIONS" '
                { k++; due[k] = $2; dues[k] = $2; acted[k] = $3; tacted += $3; tot = 0
                  for (c = 4; c <= 9; c++) { v[k, c] = $c; sum[c] += $c; if ($c > mx[c]) mx[c] = $c; tot += $c }
                  end[k] = $1; start[k] = $1 - tot; total[k] = tot
                  signalled[k] = start[k] + $4 + $5 + $6 + $7
                  if (tot > mxt) mxt = tot; all += tot }
                END {
                    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (dues[j] < dues[i]) { t = dues[i]; dues[i] = dues[j]; dues[j] = t }
                    first = start[1]; last = end[1]; gap = 0
                    for (i = 1; i <= k; i++) {
                        if (start[i] < first) first = start[i]; if (end[i] > last) last = end[i]
                        if (i > 1 && start[i] - end[i - 1] > gap) gap = start[i] - end[i - 1]
                    }
                    span = last - first
                    between = span - all; if (between < 0) between = 0     # rounding of %m
                    n = split(massnum, m, " ")
                    fd = (n >= 9) ? m[3] / 1000 : 0
                    printf "- batches (wakes with work): %d; sessions due per batch, min / median / max: %d / %d / %d; acted on in all: %d of %d\n",
                        k, dues[1], dues[int((k + 1) / 2)], dues[k], tacted, sessions
                    printf "- span: %.1f ms", span
                    if (n >= 9)
                        printf "; the first batch started %+.1f ms after the first deadline; the last batch'"'"'s signals were sent by %+.1f ms and it ended %+.1f ms after the last deadline",
                            first - fd, signalled[k] - m[4] / 1000, last - m[4] / 1000
                    printf "\n\n| component | total ms | share of the span | max in one batch, ms |\n|---|---:|---:|---:|\n"
                    split("reading the sessions (proc array)|exemptions (role look-ups)|ProcArrayLock wait|re-checks and signals|publishing (statistics, history, under leakguard'"'"'s lock)|logging (a LOG line per session)", name, "|")
                    for (c = 4; c <= 9; c++)
                        printf "| %s | %.1f | %s | %.1f |\n", name[c - 3], sum[c], (span > 0) ? sprintf("%.1f%%", 100 * sum[c] / span) : "-", mx[c]
                    printf "| **all batches** | %.1f | %s | %.1f |\n", all, (span > 0) ? sprintf("%.1f%%", 100 * all / span) : "-", mxt
                    printf "| between batches | %.1f | %s | %s (longest gap) |\n", between, (span > 0) ? sprintf("%.1f%%", 100 * between / span) : "-", (k > 1) ? sprintf("%.1f", (gap > 0) ? gap : 0) : "-"
                    if (k > 20 || n < 9)
                        exit
                    printf "\nPer batch (start: ms after the first deadline):\n\n"
                    printf "| batch | start | due | acted on | read | exemptions | lock wait | re-checks and signals | publishing | logging | total |\n"
                    printf "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
                    for (i = 1; i <= k; i++)
                        printf "| %d | %+.1f | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", i, start[i] - fd, due[i], acted[i],
                            v[i, 4], v[i, 5], v[i, 6], v[i, 7], v[i, 8], v[i, 9], total[i]
                }' "$mass_batch_rows"
        fi
        echo
        echo "Wall time of this part: ${mass_wall} s."
    fi

    if ! skipped scan; then
        echo
        echo "### 3. Scan cost"
        echo
        echo "Client backends connected, ${SCAN_IDLE_PCT}% idle in transaction under a 1 h rule, the rest idle (nobody is"
        echo "terminated); leakguard.naptime = ${SCAN_NAPTIME} ms. leakguard: mean scan time over a ${SCAN_WINDOW} ms window from"
        echo "leakguard.status() deltas, p99 and max of single scans (status() sampled every 5 ms). Sweep:"
        echo "median over $EXPLAIN_RUNS runs of planning + execution time of EXPLAIN (ANALYZE, TIMING OFF) of the"
        echo "sweeper's query over pg_stat_activity, matching nothing. Growth is relative to the first row."
        echo
        echo "| leakguard | client backends | idle in transaction | leakguard scans | leakguard mean µs | leakguard median µs | leakguard p99 µs | leakguard max µs | sweep query µs | sweep / leakguard | leakguard growth | sweep growth |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        rows scan "$scan_rows"
        if [ -n "$old_label" ]; then
            echo
            echo "Side by side (each build's arm has its own server start and its own sweep"
            echo "measurement; \"sweep / mean\" divides each arm's sweep by its own mean):"
            echo
            echo "| client backends | $old_label mean µs | this build mean µs | $old_label median µs | this build median µs | $old_label sweep / mean | this build sweep / mean | $old_label / this build (mean) |"
            echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
            rows scan "$scan_rows" | awk -F'|' -v old="$old_label" '
                function t(x) { gsub(/^ +| +$/, "", x); return x }
                t($2) == old { om[t($3)] = t($6); od[t($3)] = t($7); os[t($3)] = t($10) }
                t($2) == "this build" && (t($3) in om) {
                    b = t($3)
                    printf "| %s | %s | %s | %s | %s | %.0f× | %.0f× | %.1f× |\n", b, om[b], t($6), od[b], t($7),
                        os[b] / om[b], t($10) / t($6), om[b] / t($6)
                }'
        fi
        echo
        echo "The same backends with idle-session limits: leakguard.application_idle_timeouts ="
        echo "'$SCAN_IDLE_RULES' (ALTER SYSTEM and a reload; nobody is terminated), so each scan also follows"
        echo "the idle sessions' deadlines. On each step: half a window without, a whole window with, half"
        echo "a window without (${SCAN_WINDOW} ms each arm, both centred on the same moment); the figures above"
        echo "are those of the arm without. \"with a deadline\": client backends leakguard.sessions gives a"
        echo "terminates_at. Each cell \"without / with\"; µs as above, plus the median of the single scans,"
        echo "which a scan delayed by another load on the machine moves less than the mean; the ratios are"
        echo "with / without."
        echo
        echo "| client backends | idle in transaction | idle | with a deadline | leakguard scans | mean µs | mean, with / without | median µs | median, with / without | p99 µs | max µs |"
        echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        rows scanidle "$scan_rows"
        echo
        echo "Rules qualified by role (1.2): the same measurement at ${SCAN_STEPS##*,} client backends with 20 idle rules"
        echo "whose last matches the backends, unqualified (\"lgb_scan=1h\") or qualified (\"lgb_scan user lgb_scan=1h\")."
        echo "Columns as above (\"with\" = with those 20 rules)."
        echo
        echo "| rules | client backends | idle in transaction | idle | with a deadline | leakguard scans | mean µs | mean, with / without | median µs | median, with / without | p99 µs | max µs |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        rows qual "$scan_rows" | sed 's/^plain |/| 20 unqualified |/; s/^role |/| 20 qualified by role |/'
        echo
        if [ "$REST_WINDOW" -gt 0 ]; then
            echo
            echo "Worker at rest: with the last step's client backends still connected, the worker's CPU time"
            echo "(/proc/PID/schedstat: time on a CPU, user and system) over ${REST_WINDOW} ms, at leakguard.naptime"
            echo "= 1 s, then with each limit of ${REST_LIMITS} ms in force for an application nobody uses: first"
            echo "with the scan's sessions idle in transaction still open (the worker then scans every half limit,"
            echo "at least every 10 ms), then with every backend idle (1.2: the worker then scans at naptime, and a"
            echo "session that begins a transaction wakes it; 1.1 scans every half limit all the same). Floor: a"
            echo "process of lg_bench's that only sleeps in poll() for half the limit, over the same window: what"
            echo "waking up that often costs on this machine, whatever the worker does."
            echo
            echo "| leakguard | client backends | setting | scans/s | worker CPU, % of a core | worker µs per scan | floor wakes/s | floor CPU, % of a core | floor µs per wake |"
            echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
            rows rest "$scan_rows"
        fi
        echo
        echo "Wall time of this part: ${scan_wall} s; load average (1 min) at its start and end: $scan_load0, $scan_load1 on $(nproc) CPUs."
    fi

    if ! skipped overhead; then
        echo
        echo "### 4. Overhead: pgbench -S"
        echo
        echo "pgbench -S -c $PGB_CLIENTS -j 2 -T $PGB_TIME (scale $PGB_SCALE, after a ${PGB_WARMUP} s warm-up), server restarted before each"
        echo "run; \"with\": leakguard preloaded, enforce, naptime ${SCAN_NAPTIME} ms, rules set; \"without\": not in"
        echo "shared_preload_libraries. Runs alternate (ABBA order)."
        echo
        echo "| run | leakguard | tps | leakguard scans during the run |"
        echo "|---:|---|---:|---:|"
        awk '{ printf "| %d | %s | %.0f | %s |\n", NR, $2, $3, $4 }' "$pgb_table"
        echo
        echo "| leakguard | runs | median tps | min | max | spread (max−min)/median |"
        echo "|---|---:|---:|---:|---:|---:|"
        for arm in with without; do
            awk -v arm="$arm" '$2 == arm { print $3 }' "$pgb_table" | sort -n | awk -v arm="$arm" '
                { v[NR] = $1 }
                END {
                    if (NR == 0) exit
                    med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                    printf "| %s | %d | %.0f | %.0f | %.0f | %.1f%% |\n", arm, NR, med, v[1], v[NR], 100 * (v[NR] - v[1]) / med
                }'
        done
        awk '
            { v[$2] = v[$2] " " $3 }
            function median(s,   a, n, i, j, t) {
                n = split(s, a, " ")
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
                return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            END {
                if (v["with"] == "" || v["without"] == "") exit
                printf "\nRatio of medians, with / without: %.3f (%+.1f%%)\n", median(v["with"]) / median(v["without"]), 100 * (median(v["with"]) / median(v["without"]) - 1)
            }' "$pgb_table"
    fi

    if ! skipped quota; then
        echo
        echo "### 5. Connection setup with quotas: pgbench -C -S"
        echo
        echo "pgbench -n -C -S -c $QUOTA_CLIENTS -j $quota_jobs -T $QUOTA_TIME (a new connection for every transaction; scale 1;"
        echo "after a ${QUOTA_WARMUP} s warm-up), role, database and application_name (PGAPPNAME) $QUOTA_APP, not a"
        echo "superuser, over the Unix socket; server restarted before each run; arms alternate (ABC CBA)."
        echo "\"not loaded\": leakguard not in shared_preload_libraries. \"loaded, no quota\": preloaded, enforce,"
        echo "naptime ${NAPTIME} ms, application_timeouts set, application_connection_limits empty (every connection"
        echo "is still charged to its application under leakguard's quota lock). \"$QUOTA_RULES quota rules\": the same"
        echo "with application_connection_limits = $QUOTA_RULES rules of which only the last, $QUOTA_APP=$QUOTA_LIMIT,"
        echo "matches, so each connection also matches the list and counts its application's connections"
        echo "(one pass over MaxBackends slots; max_connections $MAX_CONNECTIONS); never refused (checked). tps = connections per second;"
        echo "connection time is pgbench's average per connection, as the client sees it. Server CPU per"
        echo "connection: CPU time (user + system) of the postmaster and its exited children, i.e. every"
        echo "backend that ended, during the run, over the connections made (clock ticks of $((1000 / clk_tck)) ms); it"
        echo "leaves out the client and the waits, so another load on the machine disturbs it less."
        echo
        echo "Rules: \`$quota_list\`"
        echo
        echo "| run | round | arm | connections/s | average connection time ms | server CPU ms per connection |"
        echo "|---:|---:|---|---:|---:|---:|"
        awk '{ a = ($2 == "off") ? "not loaded" : ($2 == "loaded") ? "loaded, no quota" : "'"$QUOTA_RULES"' quota rules"
               printf "| %d | %d | %s | %.1f | %s | %s |\n", NR, $1, a, $3, $4, $7 }' "$quota_table"
        echo
        echo "| arm | runs | mean connections/s | sd | min | max | spread (max−min)/mean | mean connection time ms | mean server CPU ms per connection | its spread |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for arm in off loaded quota; do
            awk -v arm="$arm" -v nr="$QUOTA_RULES" '
                $2 == arm {
                    n++; s += $3; ss += $3 * $3; if (n == 1 || $3 < lo) lo = $3; if (n == 1 || $3 > hi) hi = $3
                    if ($4 != "-") { c += $4; nc++ }
                    if ($7 != "-") { u += $7; nu++; if (nu == 1 || $7 < ulo) ulo = $7; if (nu == 1 || $7 > uhi) uhi = $7 }
                }
                END {
                    if (n == 0) exit
                    m = s / n; sd = (n > 1) ? sqrt((ss - n * m * m) / (n - 1)) : 0
                    a = (arm == "off") ? "not loaded" : (arm == "loaded") ? "loaded, no quota" : nr " quota rules"
                    printf "| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f%% | %s | %s | %s |\n", a, n, m, sd, lo, hi, 100 * (hi - lo) / m,
                        nc ? sprintf("%.3f", c / nc) : "-", nu ? sprintf("%.3f", u / nu) : "-",
                        (nu && u > 0) ? sprintf("%.1f%%", 100 * (uhi - ulo) / (u / nu)) : "-"
                }' "$quota_table"
        done
        echo
        echo "Ratios, with / without: of the means over all runs, and per round (the arms of one round ran"
        echo "back to back), median, mean and range of the per-round ratios. Connections/s: below 1 is slower;"
        echo "server CPU per connection: above 1 costs more."
        echo
        echo "| comparison | measure | ratio of means | per round: median | mean | min | max |"
        echo "|---|---|---:|---:|---:|---:|---:|"
        awk -v nr="$QUOTA_RULES" '
            { for (f = 3; f <= 7; f += 4) if ($f != "-") { v[$1, $2, f] = $f; s[$2, f] += $f; n[$2, f]++ }
              if ($1 > rounds) rounds = $1 }
            function row(label, a, b, f, what,   r, k, i, j, t, x, sum, med, ma, mb) {
                if (!n[a, f] || !n[b, f]) return
                k = 0
                for (r = 1; r <= rounds; r++)
                    if (((r, a, f) in v) && ((r, b, f) in v) && v[r, b, f] > 0) {
                        x[++k] = v[r, a, f] / v[r, b, f]; sum += x[k]
                    }
                if (k == 0) return
                for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
                med = (k % 2) ? x[(k + 1) / 2] : (x[k / 2] + x[k / 2 + 1]) / 2
                ma = s[a, f] / n[a, f]; mb = s[b, f] / n[b, f]
                printf "| %s | %s | %.3f (%+.1f%%) | %.3f | %.3f | %.3f | %.3f |\n", label, what, ma / mb, 100 * (ma / mb - 1), med, sum / k, x[1], x[k]
            }
            END {
                for (f = 3; f <= 7; f += 4) {
                    w = (f == 3) ? "connections/s" : "server CPU per connection"
                    row(nr " quota rules / loaded, no quota (the cost of quotas)", "quota", "loaded", f, w)
                    row("loaded, no quota / not loaded", "loaded", "off", f, w)
                    row(nr " quota rules / not loaded", "quota", "off", f, w)
                }
            }' "$quota_table"
        echo
        echo "Wall time of this part: ${quota_wall} s; load average (1 min) at its start and end: $quota_load0, $quota_load1 on $(nproc) CPUs."
    fi

    if ! skipped history; then
        echo
        echo "### 6. History readers against enforcement"
        echo
        echo "leakguard.history_size = $HIST_EVENTS and the history full: loaded at start from a statistics file"
        echo "holding $HIST_EVENTS copies of one real termination. $HIST_SESSIONS sessions of one application go idle in"
        echo "transaction spread over ${HIST_STAGGER} ms, limit ${HIST_LIMIT} ms, leakguard.naptime = ${NAPTIME} ms; overshoot as in 1, in"
        echo "ms. Three arms: no reader; $HIST_READERS connections running \"SELECT count(*) FROM leakguard.terminations\""
        echo "back to back; and, as a control for CPU competition, $HIST_READERS connections running a count(*) over"
        echo "generate_series sized to take as long alone as one read of the view, which takes no lock of"
        echo "leakguard's. Readers run from before the first session goes idle until the last is closed (a"
        echo "read still running then is cancelled and not counted). \"leakguard signalled\": terminated_at"
        echo "− deadline, p50 / max. \"worker waiting for the lock\": share of samples of"
        echo "pg_stat_activity.wait_event, every 10 ms over the same span, in which the worker was waiting for"
        echo "leakguard's LWLock."
        echo
        echo "| arm | readers | reads completed | mean read ms | rows per read | sessions | terminated | early | overshoot p50 ms | p99 ms | max ms | leakguard signalled after deadline, ms | worker waiting for the lock | closed by |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        rows history "$hist_rows"
        echo
        echo "One read alone:"
        echo
        echo "| query | reads | rows | mean ms | min ms | max ms |"
        echo "|---|---:|---:|---:|---:|---:|"
        rows histread "$hist_rows" | awk -F'|' -v OFS='|' '
            NR == 1 { $2 = " SELECT count(*) FROM leakguard.terminations " }
            NR == 2 { $2 = " count(*) over generate_series (control) " }
            { print }'
        awk '$1 == "@histnum" { p99[++n] = $3 }
            END {
                if (n >= 2 && p99[1] > 0)
                    printf "\nOvershoot p99 with readers of the view / without readers: %.1f / %.1f ms = %.1f\n", p99[2] / 1000, p99[1] / 1000, p99[2] / p99[1]
                if (n >= 3 && p99[1] > 0)
                    printf "Overshoot p99 with control readers / without readers: %.1f / %.1f ms = %.1f\n", p99[3] / 1000, p99[1] / 1000, p99[3] / p99[1]
            }' "$hist_rows"
        echo
        echo "Wall time of this part: ${hist_wall} s."
    fi
} >"$report"

echo
echo "================================================================================"
cat "$report"
[ -n "${LG_BENCH_REPORT:-}" ] && cp "$report" "$LG_BENCH_REPORT"

# Part 7 builds its own copies of leakguard and runs its own cluster.
if ! skipped procarray; then
    lg_say "7. ProcArrayLock during a mass expiry (test/bench/procarray.sh)"
    LG_BENCH_REPORT="$work/procarray.md" ./test/bench/procarray.sh
    [ -z "${LG_BENCH_REPORT:-}" ] || { echo; cat "$work/procarray.md"; } >>"$LG_BENCH_REPORT"
fi

# Part 8 builds its own copies of leakguard and runs its own clusters.
if ! skipped admission; then
    lg_say "8. connection admission in instructions (test/bench/admission.sh)"
    ./test/bench/admission.sh | tee "$work/admission.md"
    [ -z "${LG_BENCH_REPORT:-}" ] || { echo; sed -n '/^### Connection admission/,$p' "$work/admission.md"; } >>"$LG_BENCH_REPORT"
fi

# Parts 9 and 10 run their own cluster, with the leakguard installed above.
blocking_parts=""
skipped contention || blocking_parts="contention"
skipped blocking || blocking_parts="$blocking_parts blocking"
if [ -n "$blocking_parts" ]; then
    lg_say "9, 10. the blocking limit: $blocking_parts (test/bench/blocking.sh)"
    LG_BENCH_PARTS="$blocking_parts" LG_BENCH_BUILD=0 LG_BENCH_REPORT="$work/blocking.md" \
        ./test/bench/blocking.sh
    [ -z "${LG_BENCH_REPORT:-}" ] || { echo; cat "$work/blocking.md"; } >>"$LG_BENCH_REPORT"
fi

# Parts 11 and 12 build 1.2 and this tree in scratch directories and run
# their own clusters; they install nothing.
kinds_parts=""
skipped kinds-scan || kinds_parts="kinds-scan"
skipped kinds-pgbench || kinds_parts="$kinds_parts kinds-pgbench"
if [ -n "$kinds_parts" ]; then
    lg_say "11, 12. every kind enabled: $kinds_parts (test/bench/kinds.sh)"
    LG_BENCH_PARTS="$kinds_parts" LG_BENCH_REPORT="$work/kinds.md" ./test/bench/kinds.sh
    [ -z "${LG_BENCH_REPORT:-}" ] || { echo; cat "$work/kinds.md"; } >>"$LG_BENCH_REPORT"
fi

if [ "$early_failure" = 1 ]; then
    echo
    echo "FAILED: leakguard terminated sessions before their deadline although their limit is at least naptime (see the '!!!' lines above)." >&2
    exit 1
fi
exit 0
