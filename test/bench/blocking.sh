#!/usr/bin/env bash
# test/bench/blocking.sh: what the blocking limit costs under lock
# contention, and how soon after its limit it ends a blocker.  Parts 9 and
# 10 of make bench; runs alone too (make bench-blocking), on a cluster of
# its own, with the installed leakguard (LG_BENCH_BUILD=1, the default,
# runs "make install" first).
#
#   contention: pgbench, LG_BENCH_CONTENTION_CLIENTS (8) clients (-j 2)
#     running BEGIN; UPDATE of one of LG_BENCH_CONTENTION_ROWS (10) rows;
#     SELECT; END, so that they wait on each other's row locks and each
#     blocker is briefly idle in transaction between its statements.  Two
#     arms, leakguard preloaded in both (mode enforce, naptime 1 s): "off",
#     leakguard.blocking_timeout = 0, and "on", blocking_timeout =
#     LG_BENCH_CONTENTION_LIMIT ms (100): the worker then looks at the lock
#     waits at least every half limit and asks the lock manager who blocks
#     every wait that reaches the limit; blockers idle for that long do not
#     happen here, so nothing is ended (the script checks the
#     blocking_terminated count).  Server restarted before every run, a
#     warm-up, ABBA order, LG_BENCH_CONTENTION_ROUNDS (4) rounds of
#     LG_BENCH_CONTENTION_TIME (10) s.  Reported: tps per run, median, min,
#     max and spread per arm, ratio of the medians; and the worker's CPU
#     time during each run (/proc/PID/schedstat), which other load on the
#     machine disturbs less than the rate.
#
#   blocking: the precision of the blocking limit.  LG_BENCH_BLOCKING_RUNS
#     (50) times: a session (application lgb_blocker, role lgb_app, not a
#     superuser, as every session here) runs BEGIN; UPDATE of
#     a row, and stays idle in transaction; then a waiter updates the same
#     row and waits.  leakguard.blocking_timeout = LG_BENCH_BLOCKING_LIMIT
#     ms (1000), no idle limit, naptime 1 s.  The deadline is the later of
#     the waiter's pg_locks.waitstart and the blocker's
#     pg_stat_activity.state_change (the rule leakguard applies), plus the
#     limit, both taken from the server (same clock, microseconds) while
#     the waiter waits.  Reported, over the runs, p50 / p99 / max of:
#       - signalled: terminated_at in leakguard.terminations (the moment
#         the worker sent SIGTERM) minus the deadline;
#       - FATAL: the time of the blocker's FATAL line in the server log
#         (log_line_prefix %m, milliseconds, matched by pid) minus the
#         deadline: when the blocker reported its end;
#       - waiter released: when the waiter's UPDATE finished
#         (clock_timestamp() logged by the waiter's next statement)
#         minus the deadline.
#     Any termination before its deadline is printed with !!! and makes the
#     script fail.
#
# Prints one line per run, then a Markdown report.  Figures only: nothing
# passes or fails on time.
#
# Environment (defaults in brackets):
#   LG_BENCH_CONTENTION_ROUNDS [4]   LG_BENCH_CONTENTION_TIME [10] s
#   LG_BENCH_CONTENTION_WARMUP [2] s LG_BENCH_CONTENTION_CLIENTS [8]
#   LG_BENCH_CONTENTION_ROWS [10]    LG_BENCH_CONTENTION_LIMIT [100] ms
#   LG_BENCH_BLOCKING_RUNS [50]      LG_BENCH_BLOCKING_LIMIT [1000] ms
#   LG_BENCH_PARTS ["contention blocking"]  the parts to run
#   LG_BENCH_BUILD [1]               0: do not run "make install"
#   LG_BENCH_REPORT                  also write the report to this file
#   LG_BENCH_KEEP [0]                1: keep the scratch directory
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

C_ROUNDS=${LG_BENCH_CONTENTION_ROUNDS:-4}
C_TIME=${LG_BENCH_CONTENTION_TIME:-10}
C_WARMUP=${LG_BENCH_CONTENTION_WARMUP:-2}
C_CLIENTS=${LG_BENCH_CONTENTION_CLIENTS:-8}
C_ROWS=${LG_BENCH_CONTENTION_ROWS:-10}
C_LIMIT=${LG_BENCH_CONTENTION_LIMIT:-100}
B_RUNS=${LG_BENCH_BLOCKING_RUNS:-50}
B_LIMIT=${LG_BENCH_BLOCKING_LIMIT:-1000}
PARTS=" ${LG_BENCH_PARTS:-contention blocking} "
PORT=5432           # on a private socket directory: no clash with other servers
part() { [[ "$PARTS" == *" $1 "* ]]; }

t_begin=$(date +%s)
load0=$(cut -d' ' -f1 /proc/loadavg)
lg_setup_paths
lg_setup_user
if [ "${LG_BENCH_BUILD:-1}" = 1 ]; then
    lg_say "building and installing leakguard (make install; LG_BENCH_BUILD=0 skips)"
    make -s install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
fi

work=$(lg_workdir blocking)
data="$work/data"
log="$work/server.log"
report="$work/report.md"
holder=""
cleanup() {
    local rc=$?
    set +e
    [ -n "$holder" ] && kill "$holder" 2>/dev/null
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

psql_b() { psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U "$LG_USER" -d postgres "$@"; }
psql_v() { psql_b -Atc "$1"; }
start_server() {
    lg_as_user pg_ctl -D "$data" -l "$log" -w -t 120 start >/dev/null || {
        echo "the server did not start" >&2
        exit 1
    }
}
stop_server() { lg_as_user pg_ctl -D "$data" -m fast -w -t 120 stop >/dev/null; }
arm_conf() {	# arm_conf BLOCKING_TIMEOUT_MS
    echo "leakguard.blocking_timeout = '$1ms'" >"$data/arm.conf"
    [ "$(id -u)" = 0 ] && chown "$LG_USER" "$data/arm.conf"
    return 0
}

lg_say "creating a scratch cluster in $work"
lg_as_user initdb -D "$data" -A trust -E UTF8 --locale=C >/dev/null
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
max_connections = 100
shared_buffers = 128MB
fsync = off
log_line_prefix = '%m [%p] '
log_timezone = 'UTC'
shared_preload_libraries = 'leakguard'
leakguard.mode = 'enforce'
leakguard.naptime = '1s'
include_if_exists = 'arm.conf'
CONF
arm_conf 0
start_server
server_version=$(psql_v "SHOW server_version")
psql_v "CREATE EXTENSION leakguard" >/dev/null
# Sessions of an ordinary role: leakguard does not end superusers' by default.
psql_b -c "CREATE ROLE lgb_app LOGIN" \
    -c "CREATE TABLE lgb_hot (id int PRIMARY KEY, v bigint NOT NULL DEFAULT 0)" \
    -c "INSERT INTO lgb_hot (id) SELECT g FROM generate_series(1, $C_ROWS) g" \
    -c "GRANT SELECT, UPDATE ON lgb_hot TO lgb_app" >/dev/null
cat >"$work/contention.sql" <<SQL
\\set id random(1, $C_ROWS)
BEGIN;
UPDATE lgb_hot SET v = v + 1 WHERE id = :id;
SELECT v FROM lgb_hot WHERE id = :id;
END;
SQL

# ---------------------------------------------------------------------------
c_rows="$work/contention.rows"
: >"$c_rows"
if part contention; then
    lg_say "contention: pgbench -c $C_CLIENTS -j 2 -T $C_TIME, $C_ROWS hot rows, blocking_timeout 0 vs ${C_LIMIT} ms, $C_ROUNDS rounds"
    for round in $(seq 1 "$C_ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then order="off on"; else order="on off"; fi
        for arm in $order; do
            stop_server
            if [ "$arm" = on ]; then arm_conf "$C_LIMIT"; else arm_conf 0; fi
            start_server
            wpid=$(psql_v "SELECT pid FROM leakguard.status()")
            [ -n "$wpid" ] || {
                echo "the leakguard worker is not running" >&2
                exit 1
            }
            want=$([ "$arm" = on ] && echo "$C_LIMIT" || echo 0)
            got=$(psql_v "SELECT setting FROM pg_settings WHERE name = 'leakguard.blocking_timeout'")
            [ "$got" = "$want" ] || { echo "blocking_timeout is $got, not $want" >&2; exit 1; }
            ended0=$(psql_v "SELECT coalesce(sum(blocking_terminated), 0) FROM leakguard.stats")
            if [ "$C_WARMUP" -gt 0 ]; then
                pgbench -n -f "$work/contention.sql" -c "$C_CLIENTS" -j 2 -T "$C_WARMUP" \
                    -h "$work" -p "$PORT" -U lgb_app postgres >/dev/null 2>&1
            fi
            cpu0=$(cut -d' ' -f1 "/proc/$wpid/schedstat")
            out=$(pgbench -n -f "$work/contention.sql" -c "$C_CLIENTS" -j 2 -T "$C_TIME" \
                -h "$work" -p "$PORT" -U lgb_app postgres 2>&1) || {
                echo "$out" >&2
                echo "pgbench failed" >&2
                exit 1
            }
            cpu_ms=$((($(cut -d' ' -f1 "/proc/$wpid/schedstat") - cpu0) / 1000000))
            tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*without initial connection time.*/\1/p')
            [ -n "$tps" ] || tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -n 1)
            ended=$(($(psql_v "SELECT coalesce(sum(blocking_terminated), 0) FROM leakguard.stats") - ended0))
            echo "$round $arm $tps $ended $cpu_ms" >>"$c_rows"
            printf '  round %s, blocking limit %-3s: %s tps, %s ended for blocking, worker CPU %s ms\n' "$round" "$arm" "$tps" "$ended" "$cpu_ms"
        done
    done
fi

# ---------------------------------------------------------------------------
b_rows="$work/blocking.rows"
: >"$b_rows"
early=0
if part blocking; then
    lg_say "blocking: $B_RUNS runs, blocking limit ${B_LIMIT} ms"
    stop_server
    arm_conf "$B_LIMIT"
    start_server
    for run in $(seq 1 "$B_RUNS"); do
        # The blocker: one row lock, then idle in transaction until ended.
        # Its psql reads from a FIFO this script holds open; closing it ends psql.
        rm -f "$work/blocker.fifo"
        mkfifo "$work/blocker.fifo"
        PGAPPNAME=lgb_blocker psql -X -q -h "$work" -p "$PORT" -U lgb_app -d postgres \
            <"$work/blocker.fifo" >/dev/null 2>&1 &
        holder=$!
        exec 3>"$work/blocker.fifo"
        echo "BEGIN; UPDATE lgb_hot SET v = v + 1 WHERE id = 1;" >&3
        bpid=""
        for i in $(seq 1 200); do
            bpid=$(psql_v "SELECT pid FROM pg_stat_activity WHERE application_name = 'lgb_blocker' AND state = 'idle in transaction'")
            [ -n "$bpid" ] && break
            sleep 0.05
        done
        [ -n "$bpid" ] || { echo "the blocker did not become idle in transaction" >&2; exit 1; }
        # The waiter: waits for the row, then says when it got it.
        PGAPPNAME=lgb_waiter PGOPTIONS="-c lock_timeout=60s" psql -X -q -At -h "$work" -p "$PORT" -U lgb_app -d postgres \
            -c "UPDATE lgb_hot SET v = v + 1 WHERE id = 1" \
            -c "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint" \
            >"$work/waiter.out" 2>&1 &
        wpid_client=$!
        times=""
        for i in $(seq 1 200); do
            times=$(psql_v "SELECT (extract(epoch FROM l.waitstart) * 1000000)::bigint,
                                   (extract(epoch FROM b.state_change) * 1000000)::bigint
                            FROM pg_locks l, pg_stat_activity w, pg_stat_activity b
                            WHERE NOT l.granted AND l.pid = w.pid AND w.application_name = 'lgb_waiter'
                              AND l.waitstart IS NOT NULL AND b.pid = $bpid")
            [ -n "$times" ] && break
            sleep 0.02
        done
        [ -n "$times" ] || { echo "the waiter did not wait (run $run)" >&2; exit 1; }
        wait "$wpid_client" || { cat "$work/waiter.out" >&2; echo "the waiter failed" >&2; exit 1; }
        exec 3>&-
        wait "$holder" 2>/dev/null || true
        holder=""
        released=$(tail -n 1 "$work/waiter.out")
        signalled=""
        for i in $(seq 1 100); do
            signalled=$(psql_v "SELECT (extract(epoch FROM terminated_at) * 1000000)::bigint FROM leakguard.terminations WHERE pid = $bpid AND kind = 'blocking' ORDER BY terminated_at DESC LIMIT 1")
            [ -n "$signalled" ] && break
            sleep 0.05
        done
        [ -n "$signalled" ] || { echo "no termination of the blocker $bpid recorded (run $run)" >&2; exit 1; }
        fatal=""
        for i in $(seq 1 100); do
            fatal=$(grep -m 1 "\[$bpid\] FATAL:" "$log" | cut -c1-23 || true)
            [ -n "$fatal" ] && break
            sleep 0.05
        done
        [ -n "$fatal" ] || { echo "no FATAL line of the blocker $bpid in the server log (run $run)" >&2; exit 1; }
        fatal_us=$(($(date -u -d "${fatal} UTC" +%s%N) / 1000))
        read -r waitstart state_change <<<"${times//|/ }"
        deadline=$(( (waitstart > state_change ? waitstart : state_change) + B_LIMIT * 1000 ))
        s_us=$((signalled - deadline))
        f_us=$((fatal_us - deadline))
        r_us=$((released - deadline))
        echo "$run $s_us $f_us $r_us" >>"$b_rows"
        awk -v r="$run" -v s="$s_us" -v f="$f_us" -v w="$r_us" 'BEGIN {
            printf "  run %2d: signalled %+7.1f ms, FATAL %+7.1f ms, waiter released %+7.1f ms after the deadline\n", r, s / 1000, f / 1000, w / 1000 }'
        if [ "$s_us" -lt 0 ]; then
            echo "!!! run $run: the blocker was signalled ${s_us} us before its deadline"
            early=1
        fi
    done
fi
load1=$(cut -d' ' -f1 /proc/loadavg)

# ---------------------------------------------------------------------------
{
    echo "### Blocking limit (test/bench/blocking.sh; $(date -u '+%Y-%m-%d %H:%M UTC'), git $(git rev-parse --short HEAD), PostgreSQL $server_version)"
    echo
    echo "Load average (1 min) at the start and end: $load0, $load1 on $(nproc) CPUs; wall time $(($(date +%s) - t_begin)) s."
    if part contention; then
        echo
        echo "#### 9. pgbench under lock contention, blocking limit off / on"
        echo
        echo "pgbench -c $C_CLIENTS -j 2 -T $C_TIME, each transaction BEGIN; UPDATE one of $C_ROWS rows; SELECT it; END"
        echo "(after a ${C_WARMUP} s warm-up, server restarted before each run, ABBA order). leakguard preloaded in both"
        echo "arms; \"off\": blocking_timeout 0; \"on\": blocking_timeout ${C_LIMIT} ms."
        echo
        echo "| run | blocking limit | tps | ended for blocking | worker CPU during the run, ms |"
        echo "|---:|---|---:|---:|---:|"
        awk '{ printf "| %d | %s | %.0f | %d | %d |\n", NR, $2, $3, $4, $5 }' "$c_rows"
        echo
        echo "| blocking limit | runs | median tps | min | max | spread (max−min)/median | median worker CPU, ms (min–max) |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        for arm in off on; do
            cpu=$(awk -v arm="$arm" '$2 == arm { print $5 }' "$c_rows" | sort -n | awk '
                { v[NR] = $1 }
                END { if (NR) printf "%d (%d–%d)", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }')
            awk -v arm="$arm" '$2 == arm { print $3 }' "$c_rows" | sort -n | awk -v arm="$arm" -v cpu="$cpu" '
                { v[NR] = $1 }
                END {
                    if (NR == 0) exit
                    med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                    printf "| %s | %d | %.0f | %.0f | %.0f | %.1f%% | %s |\n", arm, NR, med, v[1], v[NR], 100 * (v[NR] - v[1]) / med, cpu
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
                if (v["on"] == "" || v["off"] == "") exit
                printf "\nRatio of medians, on / off: %.3f (%+.1f%%)\n", median(v["on"]) / median(v["off"]), 100 * (median(v["on"]) / median(v["off"]) - 1)
            }' "$c_rows"
    fi
    if part blocking; then
        echo
        echo "#### 10. Blocking precision"
        echo
        echo "$B_RUNS runs: a session idle in transaction holds a row lock, another waits for it; blocking_timeout ${B_LIMIT} ms,"
        echo "naptime 1 s. Deadline: the later of the waiter's pg_locks.waitstart and the blocker's state_change, plus the limit."
        echo "Times after the deadline, ms (nearest-rank percentiles)."
        echo
        echo "| measured at | p50 | p99 | max | min |"
        echo "|---|---:|---:|---:|---:|"
        for col in 2:"signalled (terminations.terminated_at)" 3:"blocker's FATAL (server log, 1 ms resolution)" 4:"waiter's UPDATE finished"; do
            awk -v c="${col%%:*}" '{ print $c }' "$b_rows" | sort -n | awk -v label="${col#*:}" '
                { v[NR] = $1 }
                function pct(p,   r) { r = int((p * NR + 99) / 100); if (r < 1) r = 1; return v[r] / 1000 }
                END { if (NR) printf "| %s | %.1f | %.1f | %.1f | %.1f |\n", label, pct(50), pct(99), v[NR] / 1000, v[1] / 1000 }'
        done
    fi
} >"$report"
echo
cat "$report"
[ -n "${LG_BENCH_REPORT:-}" ] && cp "$report" "$LG_BENCH_REPORT"
if [ "$early" = 1 ]; then
    echo "FAILED: a blocker was signalled before its deadline (see the '!!!' lines above)." >&2
    exit 1
fi
exit 0
