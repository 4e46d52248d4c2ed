#!/usr/bin/env bash
# make demo: a live demonstration of leakguard, in under a minute.
#
# Builds and installs leakguard, starts a throwaway server (scratch data
# directory, private Unix socket, no TCP port, run as an unprivileged user)
# with leakguard preloaded and short limits, leaks a transaction as the
# application "billing-api", shows it counting down in leakguard.sessions,
# its termination as the client and the log see it, and the statistics;
# then (1.1) a connection quota refusing a third connection of an
# application, and its idle limit ending the two it holds; last (1.2) the
# limit leakguard suggests for an application, and the settings.
# Everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

lg_prepare

work=$(lg_workdir demo)
data="$work/data"
cleanup() {
    lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

psql_demo() { lg_as_user psql -X -h "$work" -p 5432 -d postgres "$@"; }

lg_say "starting a throwaway server in $work"
lg_as_user initdb -D "$data" -A trust >/dev/null
cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = 5432
shared_preload_libraries = 'leakguard'
leakguard.application_timeouts = 'billing-api=5s, report-*=10min, pg_dump=0'
leakguard.idle_in_transaction_timeout = 1min
leakguard.naptime = 1s
CONF
lg_as_user pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
psql_demo -q <<'SQL'
CREATE EXTENSION leakguard;
CREATE ROLE demo_app LOGIN;
CREATE TABLE invoices (id int PRIMARY KEY, paid bool);
INSERT INTO invoices VALUES (1, false);
GRANT ALL ON invoices TO demo_app;
SQL

lg_say "the rules in force (leakguard.application_timeouts) and what they mean"
psql_demo -c "SELECT name AS application_name, l.rule, l.timeout
                FROM unnest(ARRAY['billing-api', 'report-weekly', 'pg_dump', 'psql']) AS name,
                     leakguard.limit_for(name) AS l"

lg_say "billing-api opens a transaction, updates a row and forgets it"
(
    printf "BEGIN;\nUPDATE invoices SET paid = true WHERE id = 1;\n"
    sleep 15
    printf "SELECT 'the application came back';\n"
) | PGAPPNAME=billing-api lg_as_user psql -X -h "$work" -p 5432 -d postgres -U demo_app \
    >"$work/client.out" 2>"$work/client.err" &
client=$!

lg_say "leakguard.sessions: the leak counts down to its deadline"
for _ in $(seq 1 20); do
    line=$(psql_demo -Atc "SELECT format('%s  pid %s  %-20s idle %s  limit %s  terminated in %s',
                                   application_name, pid, state,
                                   date_trunc('second', idle_in_transaction),
                                   timeout, greatest(date_trunc('second', terminates_at - now()), '0'))
                             FROM leakguard.sessions WHERE application_name = 'billing-api'")
    [ -z "$line" ] && break
    echo "  $line"
    sleep 1
done
wait "$client" || true

lg_say "what the client received"
sed 's/^/  /' "$work/client.err"

lg_say "what the server log says"
grep -E "leakguard|idle-in-transaction" "$work/server.log" | sed 's/^/  /'

lg_say "leakguard.terminations"
psql_demo -x -c "SELECT terminated_at, pid, usename, application_name, idle_time, timeout, rule, action, query
                   FROM leakguard.terminations"

lg_say "leakguard.stats"
psql_demo -c "SELECT application_name, connections, peak_connections, episodes, terminated,
                     max_idle, last_terminated_at IS NOT NULL AS terminated_once
                FROM leakguard.stats ORDER BY terminated DESC, application_name"

lg_say "leakguard.status()"
psql_demo -x -c "SELECT pid, mode, scans, terminated, round(mean_scan_time::numeric, 4) AS mean_scan_ms,
                        round(max_scan_time::numeric, 4) AS max_scan_ms, rules, config_error
                   FROM leakguard.status()"

lg_say "the update of the leaked transaction was rolled back; the row is free again"
psql_demo -c "UPDATE invoices SET paid = false WHERE id = 1 RETURNING *"

lg_say "1.1: route_builder may hold 2 connections, and its idle ones end after 3 s"
cat >> "$data/postgresql.conf" <<CONF
leakguard.application_connection_limits = 'route_builder=2'
leakguard.application_idle_timeouts = 'route_builder=3s'
CONF
psql_demo -qAtc "SELECT pg_reload_conf()" >/dev/null
until [ "$(psql_demo -Atc "SELECT connection_limit FROM leakguard.limit_for('route_builder')")" = 2 ]; do
    sleep 0.1
done
for i in 1 2; do
    (printf "SELECT 'pooled connection $i';\n"; sleep 6; printf "SELECT 'the pool uses it again';\n") |
        PGAPPNAME=route_builder lg_as_user psql -X -h "$work" -p 5432 -d postgres -U demo_app \
        >/dev/null 2>"$work/pool$i.err" &
done
until [ "$(psql_demo -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'route_builder'")" = 2 ]; do
    sleep 0.1
done
lg_say "a third connection of route_builder is refused"
PGAPPNAME=route_builder lg_as_user psql -X -h "$work" -p 5432 -d postgres -U demo_app -c "SELECT 1" 2>&1 |
    sed 's/^/  /' || true
lg_say "the two idle connections are ended by the idle limit; what the pool hears when it uses one again"
wait
sed 's/^/  /' "$work/pool1.err"
psql_demo -c "SELECT application_name, kind, action, rule, idle_time FROM leakguard.terminations
               WHERE application_name = 'route_builder' ORDER BY terminated_at"
psql_demo -c "SELECT application_name, idle_terminated, refused FROM leakguard.stats
               WHERE application_name = 'route_builder'"

lg_say "1.2: what limit to set: checkout runs 200 transactions idle 5-50 ms, and leaks one for 2 s"
(
    for i in $(seq 0 199); do
        printf 'BEGIN;\n\\! sleep 0.%03d\nCOMMIT;\n' $((5 + i * 45 / 199))
    done
) | PGAPPNAME=checkout lg_as_user psql -X -q -h "$work" -p 5432 -d postgres -U demo_app &
workload=$!
(printf 'BEGIN;\n\\! sleep 2\nCOMMIT;\n') |
    PGAPPNAME=checkout lg_as_user psql -X -q -h "$work" -p 5432 -d postgres -U demo_app
wait $workload
# the worker adds the sessions' episodes at its next scan: ask for one now
psql_demo -qAtc "SELECT leakguard.check()" >/dev/null
psql_demo -c "SELECT kind, episodes, p50, p99, max, current_limit, suggested_limit, would_terminate
                FROM leakguard.suggest_limits(99, 2)
               WHERE application_name = 'checkout' AND kind <> 'connections'"
lg_say "what applying the suggestions would change, read before applying them"
psql_demo -c "SELECT setting, application_name AS app, kind, limit_now, limit_after, rule_after
                FROM leakguard.suggested_changes(99, 2)
               ORDER BY 1, 2"
lg_say "the settings it suggests, ready for ALTER SYSTEM SET (\\gexec)"
psql_demo -c "SELECT name, setting FROM leakguard.suggested_settings(99, 2)"

lg_say "demo finished; the server and its files are removed"
