#!/usr/bin/env bash
# test/bench/lockgraph.sh: what reading the lock graph costs under a
# pile-up of lock waiters (issue 29, item 7), for two builds of leakguard
# side by side in one run: "base" (git LG_LOCKGRAPH_BASE, by default the
# commit before the one-copy lock graph: one GetBlockerStatusData() per
# waiter) and "new" (the working tree: one GetLockStatusData() per pass).
#
# One scratch cluster (max_connections 300, blocking_timeout 1 s, so the
# worker looks at the waits every 0.5 s and reads the lock graph each time
# since they are all past 1 s).  Each run: restart the server with the arm's
# leakguard.so; a session holds the row locks of LG_LOCKGRAPH_WAITERS (200)
# rows while running pg_sleep() (active: never ended); one waiter per row
# UPDATEs it and waits on the holder's transaction ID; then, for
# LG_LOCKGRAPH_TIME (15) s, pgbench TPC-B (scale 10, -c 8 -j 2) runs while
# an "exporter" session reads leakguard.sessions and leakguard.connections
# every LG_LOCKGRAPH_EXPORT_MS (100) ms, timing each read on the server
# (clock_timestamp(), one transaction per read).  Arms in ABBA order,
# LG_LOCKGRAPH_ROUNDS (2) rounds.  Reported per run: tps, the mean and max
# time of one read of both views, the worker's CPU time; then the medians.
# Figures only: nothing passes or fails on time.
#
# Run as root (servers run as postgres) with PG_CONFIG set; installs the
# two builds into PG_CONFIG's installation (the new one stays installed).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

BASE=${LG_LOCKGRAPH_BASE:-3465c01}
WAITERS=${LG_LOCKGRAPH_WAITERS:-200}
TIME=${LG_LOCKGRAPH_TIME:-15}
EXPORT_MS=${LG_LOCKGRAPH_EXPORT_MS:-100}
ROUNDS=${LG_LOCKGRAPH_ROUNDS:-2}
PORT=5432           # on a private socket directory: no clash with other servers

lg_setup_paths
lg_setup_user
work=$(lg_workdir lockgraph)
data="$work/data"
log="$work/server.log"
pkglib=$("$PG_CONFIG" --pkglibdir)
cleanup() {
    local rc=$?
    set +e
    [ -f "$data/postmaster.pid" ] && lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1
    [ -f "$work/new.so" ] && cp "$work/new.so" "$pkglib/leakguard.so"
    [ $rc != 0 ] && [ -f "$log" ] && tail -n 30 "$log" >&2
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

lg_say "building base ($BASE) and new (working tree)"
mkdir -p "$work/base"
git archive "$BASE" | tar x -C "$work/base"
make -s -C "$work/base" install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
cp "$pkglib/leakguard.so" "$work/base.so"
make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
make -s install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
cp "$pkglib/leakguard.so" "$work/new.so"

psql_b() { psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$PORT" -U "$LG_USER" -d postgres "$@"; }
psql_v() { psql_b -Atc "$1"; }

lg_as_user initdb -D "$data" -A trust -E UTF8 --locale=C >/dev/null
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
max_connections = 300
shared_buffers = 256MB
fsync = off
log_line_prefix = '%m [%p] '
shared_preload_libraries = 'leakguard'
leakguard.blocking_timeout = '1s'
leakguard.application_blocking_timeouts = 'lgb_holder=0'
CONF
lg_as_user pg_ctl -D "$data" -l "$log" -w start >/dev/null
psql_v "CREATE EXTENSION leakguard" >/dev/null
psql_b -c "CREATE TABLE lgb_rows (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)" \
    -c "INSERT INTO lgb_rows (id) SELECT g FROM generate_series(1, $WAITERS) g" >/dev/null
pgbench -q -i -s 10 -h "$work" -p "$PORT" -U "$LG_USER" postgres >/dev/null 2>&1
lg_as_user pg_ctl -D "$data" -m fast -w stop >/dev/null

run_arm() {	# run_arm ARM ROUND
    local arm=$1 round=$2 wpid cpu0 cpu_ms out tps reads
    cp "$work/$arm.so" "$pkglib/leakguard.so"
    lg_as_user pg_ctl -D "$data" -l "$log" -w start >/dev/null
    psql_b -c "SET application_name = lgb_holder" -c "BEGIN" \
        -c "UPDATE lgb_rows SET v = v + 1" -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
    until [ "$(psql_v "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lgb_holder' AND state = 'active'")" = 1 ]; do sleep 0.1; done
    for i in $(seq 1 "$WAITERS"); do
        psql_b -c "UPDATE lgb_rows SET v = v + 1 WHERE id = $i" >/dev/null 2>&1 &
    done
    until [ "$(psql_v "SELECT count(*) FROM pg_locks WHERE NOT granted")" -ge "$WAITERS" ]; do sleep 0.2; done
    sleep 1.5   # every wait past the 1 s limit: the worker reads the graph at each look
    wpid=$(psql_v "SELECT pid FROM leakguard.status()")
    cpu0=$(cut -d' ' -f1 "/proc/$wpid/schedstat")
    psql_b -Atc "DO \$\$
        DECLARE t0 timestamptz; d float8; n int := 0; total float8 := 0; worst float8 := 0;
        BEGIN
            WHILE n * ($EXPORT_MS + 0) < $TIME * 1000 LOOP
                t0 := clock_timestamp();
                PERFORM count(*) FROM leakguard.sessions;
                PERFORM count(*) FROM leakguard.connections;
                d := extract(epoch FROM clock_timestamp() - t0) * 1000;
                total := total + d; worst := greatest(worst, d); n := n + 1;
                COMMIT;
                PERFORM pg_sleep($EXPORT_MS / 1000.0);
            END LOOP;
            RAISE NOTICE 'reads % mean % max %', n, round((total / n)::numeric, 2), round(worst::numeric, 2);
        END \$\$" >"$work/export.out" 2>&1 &
    local exporter=$!
    out=$(pgbench -n -c 8 -j 2 -T "$TIME" -h "$work" -p "$PORT" -U "$LG_USER" postgres 2>&1)
    wait "$exporter"
    cpu_ms=$((($(cut -d' ' -f1 "/proc/$wpid/schedstat") - cpu0) / 1000000))
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | tail -n 1)
    reads=$(sed -n 's/.*reads \([0-9]*\) mean \([0-9.]*\) max \([0-9.]*\).*/\1 \2 \3/p' "$work/export.out")
    echo "$round $arm $tps $reads $cpu_ms" >>"$work/rows"
    printf '  round %s %-4s: %s tps; %s reads of sessions+connections, mean %s ms, max %s ms; worker CPU %s ms\n' \
        "$round" "$arm" "$tps" $reads "$cpu_ms"
    lg_as_user pg_ctl -D "$data" -m immediate -w stop >/dev/null
    wait 2>/dev/null || true
}

lg_say "PostgreSQL $LG_PG_VERSION, $WAITERS waiters, pgbench -c 8 -j 2 -T $TIME (scale 10), views read every $EXPORT_MS ms"
: >"$work/rows"
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="base new"; else order="new base"; fi
    for arm in $order; do run_arm "$arm" "$round"; done
done

echo
echo "| build | runs | median tps | median read of sessions+connections (ms) | max read (ms) | median worker CPU (ms) |"
echo "|---|---:|---:|---:|---:|---:|"
for arm in base new; do
    awk -v arm="$arm" '
        function median(a, n,   i, j, t) {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $2 == arm { n++; tps[n] = $3; mean[n] = $5; if ($6 > mx) mx = $6; cpu[n] = $7 }
        END { printf "| %s | %d | %.0f | %.2f | %.2f | %.0f |\n", arm, n, median(tps, n), median(mean, n), mx, median(cpu, n) }
    ' "$work/rows"
done
