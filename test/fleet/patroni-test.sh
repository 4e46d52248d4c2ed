#!/usr/bin/env bash
# test/fleet/patroni-test.sh: leakguard under Patroni.
#
# Installs, as root and when missing, Debian's patroni (3.0), etcd-server
# (3.4) and curl.  Builds and installs leakguard into the PostgreSQL of
# PG_CONFIG (Debian's 15 by default: Patroni 3.0 predates 18) unless
# LG_FLEET_PREPARED is set, then builds on loopback, in a scratch directory,
# as an unprivileged user: a single-node etcd, and a two-node Patroni
# cluster ("etcd3:" in its configuration) with leakguard in
# shared_preload_libraries and its settings in the DCS
# (bootstrap.dcs.postgresql.parameters).  It checks:
#
#   1. the worker runs and terminates a leak on the leader and the replica;
#   2. a rule changed with patronictl edit-config reaches both nodes'
#      status().rules;
#   3. after a switchover, leaks on the new leader and the new replica are
#      ended, and both nodes' statistics survived (same stats_reset);
#   4. after a failover (primary_start_timeout 0, kill -9 of the leader's
#      postmaster), the same, and the crashed node's statistics were reset
#      (a later stats_reset) while the promoted node's survived;
#   5. a bad value pushed through the DCS is reported by every node in
#      status().config_error, the previous rules stay in force and still end
#      leaks; the old text pushed back is not written out by Patroni (it
#      compares with the running value), the old rules written differently
#      are, and clear config_error everywhere.
#
# Everything is removed at the end; exits non-zero if a check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/fleet/lib.sh

lg_install_packages patroni etcd-server curl
if [ -z "${LG_FLEET_PREPARED:-}" ]; then
    lg_prepare
else
    lg_setup_paths
    lg_setup_user
fi

work=$(lg_workdir patroni)
clients=()
cleanup() {
    local pid n
    disown -a
    for pid in "${clients[@]}"; do kill -- -"$pid" 2>/dev/null || true; done
    for n in node1 node2; do
        [ -f "$work/patroni.$n.pid" ] && kill "$(cat "$work/patroni.$n.pid")" 2>/dev/null || true
    done
    for n in node1 node2; do
        # Patroni stops its PostgreSQL when it stops; make sure of it.
        for _ in $(seq 1 100); do
            [ -f "$work/patroni.$n.pid" ] && kill -0 "$(cat "$work/patroni.$n.pid")" 2>/dev/null || break
            sleep 0.1
        done
        lg_as_user pg_ctl -D "$work/$n" -m immediate stop >/dev/null 2>&1 || true
    done
    [ -f "$work/etcd.pid" ] && kill "$(cat "$work/etcd.pid")" 2>/dev/null || true
    if [ "$fleet_failed" = 0 ]; then
        rm -rf "$work"
    else
        echo "patroni test: logs kept in $work"
    fi
}
trap cleanup EXIT

etcd_port=$(fleet_free_port)
etcd_peer=$(fleet_free_port)
declare -A rest pg
for n in node1 node2; do
    rest[$n]=$(fleet_free_port)
    pg[$n]=$(fleet_free_port)
done
other() { [ "$1" = node1 ] && echo node2 || echo node1; }

lg_say "etcd on 127.0.0.1:$etcd_port"
lg_as_user sh -c 'echo $$ > "$1/etcd.pid"; exec etcd --name leakguard --data-dir "$1/etcd" \
        --listen-client-urls "http://127.0.0.1:$2" --advertise-client-urls "http://127.0.0.1:$2" \
        --listen-peer-urls "http://127.0.0.1:$3" --initial-advertise-peer-urls "http://127.0.0.1:$3" \
        --initial-cluster "leakguard=http://127.0.0.1:$3" >"$1/etcd.log" 2>&1' \
    sh "$work" "$etcd_port" "$etcd_peer" 2>/dev/null &
etcd_healthy() { curl -sf "http://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"'; }
fleet_wait 60 "etcd is healthy" etcd_healthy

for n in node1 node2; do
    cat >"$work/$n.yml" <<YAML
scope: leakguard
namespace: /leakguard-test/
name: $n
restapi:
  listen: 127.0.0.1:${rest[$n]}
  connect_address: 127.0.0.1:${rest[$n]}
etcd3:
  host: 127.0.0.1:$etcd_port
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 1
    retry_timeout: 5
    primary_start_timeout: 0
    postgresql:
      use_pg_rewind: true
      parameters:
        shared_preload_libraries: leakguard
        wal_log_hints: 'on'
        max_connections: 40
        leakguard.naptime: 200ms
        leakguard.application_timeouts: 'billing-api=2s, report-*=0'
        leakguard.application_idle_timeouts: '*=1h'
  initdb:
    - encoding: UTF8
    - auth-local: trust
    - auth-host: trust
postgresql:
  listen: 127.0.0.1:${pg[$n]}
  connect_address: 127.0.0.1:${pg[$n]}
  data_dir: $work/$n
  bin_dir: $PG_BINDIR
  pgpass: $work/pgpass.$n
  authentication:
    superuser:
      username: $LG_USER
    replication:
      username: replicator
    rewind:
      username: $LG_USER
  parameters:
    unix_socket_directories: '$work'
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
YAML
done
[ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work"

start_patroni() {	# start_patroni NODE
    lg_as_user sh -c 'echo $$ > "$1/patroni.$2.pid"; exec patroni "$1/$2.yml" >>"$1/patroni.$2.log" 2>&1' \
        sh "$work" "$1" 2>/dev/null &
}
is_leader() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${rest[$1]}/leader")" = 200 ]; }
is_replica() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${rest[$1]}/replica")" = 200 ]; }
psql_on() {	# psql_on NODE ARGS...
    local n=$1
    shift
    lg_as_user psql -X -q -h "$work" -p "${pg[$n]}" -d postgres -v ON_ERROR_STOP=1 "$@"
}
sql_is() {	# sql_is NODE QUERY EXPECTED
    [ "$(psql_on "$1" -Atc "$2" 2>/dev/null)" = "$3" ]
}
patronictl_() { lg_as_user patronictl -c "$work/node1.yml" "$@"; }
# follows NODE LEADER: NODE streams from LEADER on LEADER's timeline.  A
# node that comes back after a crash first runs as a replica of its old
# timeline; Patroni then stops it for pg_rewind and starts it again, so
# "/replica answers 200" alone can be true just before that restart.
follows() {
    local tli
    tli=$(psql_on "$2" -Atc "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int" 2>/dev/null) || return 1
    [ -n "$tli" ] && sql_is "$1" "SELECT status = 'streaming' AND received_tli = $tli FROM pg_stat_wal_receiver" t
}

lg_say "Patroni: node1 bootstraps the cluster, node2 joins it"
start_patroni node1
fleet_wait 120 "node1 is the leader" is_leader node1
psql_on node1 -c "CREATE EXTENSION leakguard" -c "CREATE ROLE app LOGIN"
start_patroni node2
fleet_wait 120 "node2 is a streaming replica" is_replica node2
fleet_wait 60 "the extension reached node2" \
    sql_is node2 "SELECT count(*) FROM pg_extension WHERE extname = 'leakguard'" 1
for n in node1 node2; do
    fleet_wait 30 "$n: the worker runs, in enforce mode" \
        sql_is $n "SELECT pid IS NOT NULL AND mode = 'enforce' FROM leakguard.status()" t
    fleet_check "$n: rules from the DCS" \
        sql_is $n "SELECT rules FROM leakguard.status()" "billing-api=2s, report-*=0"
done

# leak NODE: billing-api (role app: superusers are only reported) leaves a
# transaction open on NODE, in a process group of its own that cleanup kills.
export -f lg_as_user
leak() {
    PGAPPNAME=billing-api setsid bash -c '(printf "BEGIN;\nSELECT 1;\n"; sleep 120) |
            lg_as_user psql -X -q -h "$1" -p "$2" -d postgres -U app' leak "$work" "${pg[$1]}" \
        >>"$work/clients.out" 2>&1 &
    clients+=($!)
}
terminated_on() {	# terminated_on NODE: billing-api's terminations counted on NODE
    psql_on "$1" -Atc "SELECT coalesce(sum(terminated), 0) FROM leakguard.stats WHERE application_name = 'billing-api'"
}
stats_reset_on() {
    psql_on "$1" -Atc "SELECT min(stats_reset) FROM leakguard.stats"
}
# leaks_ended WHAT: a leak on each node, each terminated by that node's worker.
leaks_ended() {
    local n
    declare -A before
    for n in node1 node2; do
        before[$n]=$(terminated_on $n)
        leak $n
    done
    for n in node1 node2; do
        fleet_wait 60 "$1: $n ($(role $n)) ended billing-api's leak" \
            sql_is $n "SELECT coalesce(sum(terminated), 0) FROM leakguard.stats WHERE application_name = 'billing-api'" \
            $((before[$n] + 1))
    done
}
role() { is_leader "$1" && echo leader || echo replica; }

lg_say "1. the worker enforces on the leader and the replica"
leaks_ended "at start"

lg_say "2. patronictl edit-config changes a rule on both nodes"
patronictl_ edit-config --force -q -p "leakguard.application_timeouts=billing-api=3s, report-*=0, etl=5s" >/dev/null
for n in node1 node2; do
    fleet_wait 60 "$n: status().rules shows the new rule" \
        sql_is $n "SELECT rules FROM leakguard.status()" "billing-api=3s, report-*=0, etl=5s"
done

lg_say "3. switchover node1 -> node2"
declare -A reset_before terminated_before
for n in node1 node2; do
    reset_before[$n]=$(stats_reset_on $n)
    terminated_before[$n]=$(terminated_on $n)
done
patronictl_ switchover --leader node1 --candidate node2 --force >"$work/switchover.out" 2>&1 ||
    { cat "$work/switchover.out"; fleet_not_ok "patronictl switchover"; }
fleet_wait 120 "node2 is the leader" is_leader node2
fleet_wait 120 "node1 is a streaming replica" is_replica node1
fleet_wait 180 "node1 streams from node2 on its timeline" follows node1 node2
for n in node1 node2; do
    fleet_wait 60 "$n: the worker runs" sql_is $n "SELECT pid IS NOT NULL FROM leakguard.status()" t
    fleet_check "$n: statistics survived the switchover (stats_reset ${reset_before[$n]})" \
        sql_is $n "SELECT min(stats_reset) FROM leakguard.stats" "${reset_before[$n]}"
    fleet_check "$n: billing-api's terminations survived (${terminated_before[$n]})" \
        sql_is $n "SELECT coalesce(sum(terminated), 0) FROM leakguard.stats WHERE application_name = 'billing-api'" \
        "${terminated_before[$n]}"
done
leaks_ended "after the switchover"

lg_say "4. failover: kill -9 of node2's postmaster"
for n in node1 node2; do
    reset_before[$n]=$(stats_reset_on $n)
    terminated_before[$n]=$(terminated_on $n)
done
kill -9 "$(head -n 1 "$work/node2/postmaster.pid")"
fleet_wait 120 "node1 is the leader" is_leader node1
fleet_wait 120 "node2 is back, a streaming replica" is_replica node2
fleet_wait 180 "node2 streams from node1 on its timeline (after pg_rewind, if Patroni runs it)" follows node2 node1
for n in node1 node2; do
    fleet_wait 60 "$n: the worker runs" sql_is $n "SELECT pid IS NOT NULL FROM leakguard.status()" t
done
fleet_check "node1 (promoted): statistics survived (stats_reset ${reset_before[node1]})" \
    sql_is node1 "SELECT min(stats_reset) FROM leakguard.stats" "${reset_before[node1]}"
fleet_check "node1 (promoted): billing-api's terminations survived (${terminated_before[node1]})" \
    sql_is node1 "SELECT coalesce(sum(terminated), 0) FROM leakguard.stats WHERE application_name = 'billing-api'" \
    "${terminated_before[node1]}"
fleet_check "node2 (crashed): statistics were reset, stats_reset says when" \
    sql_is node2 "SELECT min(stats_reset) > '${reset_before[node2]}' FROM leakguard.stats" t
fleet_check "node2 (crashed): billing-api's terminations restart from 0" \
    sql_is node2 "SELECT coalesce(sum(terminated), 0) FROM leakguard.stats WHERE application_name = 'billing-api'" 0
leaks_ended "after the failover"

lg_say "5. a bad value pushed through the DCS"
patronictl_ edit-config --force -q -p "leakguard.application_timeouts=billing-api=1 fortnight" >/dev/null
for n in node1 node2; do
    fleet_wait 60 "$n: status().config_error names the bad rule" \
        sql_is $n "SELECT config_error LIKE '%fortnight%' FROM leakguard.status()" t
    fleet_check "$n: the previous rules stay in force" \
        sql_is $n "SELECT rules FROM leakguard.status()" "billing-api=3s, report-*=0, etl=5s"
done
leaks_ended "with the bad value in the DCS"
# The old text back, identical: Patroni compares the DCS with the running
# value, which is still the old text, sees no change and leaves the bad
# value in postgresql.conf.  (patroni.dynamic.json is the DCS configuration
# a node has applied.)
patronictl_ edit-config --force -q -p "leakguard.application_timeouts=billing-api=3s, report-*=0, etl=5s" >/dev/null
for n in node1 node2; do
    fleet_wait 60 "$n: Patroni applied the old text back from the DCS" \
        grep -qF '"leakguard.application_timeouts": "billing-api=3s, report-*=0, etl=5s"' "$work/$n/patroni.dynamic.json"
    fleet_check "$n: the bad value stays in postgresql.conf" grep -q "fortnight" "$work/$n/postgresql.conf"
    fleet_check "$n: config_error is still set" \
        sql_is $n "SELECT config_error LIKE '%fortnight%' FROM leakguard.status()" t
done
# The old rules written differently are a change: Patroni rewrites the file.
patronictl_ edit-config --force -q -p "leakguard.application_timeouts=billing-api=3s,report-*=0,etl=5s" >/dev/null
for n in node1 node2; do
    fleet_wait 60 "$n: the good value clears config_error" \
        sql_is $n "SELECT config_error IS NULL AND rules = 'billing-api=3s,report-*=0,etl=5s' FROM leakguard.status()" t
done

fleet_done "patroni test"
