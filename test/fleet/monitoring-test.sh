#!/usr/bin/env bash
# test/fleet/monitoring-test.sh: monitoring/ against the real tools, wired
# as docs/monitoring.md says.
#
# Installs, as root and when missing, Debian's prometheus-postgres-exporter
# (0.11), prometheus (2.42, with promtool), curl and jq.  Builds and
# installs leakguard into the PostgreSQL of PG_CONFIG (Debian's 15 by
# default) unless LG_FLEET_PREPARED is set (test/fleet-test.sh has done it),
# then:
#
#   1. promtool check rules and promtool test rules on the alerting rules;
#      the dashboard is valid JSON with the panels it promises;
#   2. as root: builds the Debian package leakguard-monitoring from the tree
#      (test/deb-build.sh, dpkg-buildpackage -A) and installs it with
#      dpkg -i (removed at the end), so that the files are where the docs
#      say, /usr/share/leakguard/monitoring/ (not root: monitoring/ is used
#      in their place);
#   3. a throwaway leakguard server (scratch directory, private socket, run
#      as an unprivileged user) with the extension in two databases, and
#      the real exporter wired word for word as docs/monitoring.md says: the
#      role of its "exporter-role" block, the /etc/default file of its
#      "etc-default" block (only the socket directory changed, and a free
#      loopback port added to ARGS), started as the systemd unit starts it
#      (as the user prometheus, $ARGS); /metrics is scraped whole with
#      --auto-discover-databases, where the same file without
#      "master: true" fails; on a database where the extension is still at
#      1.2, only the queries the file's header names fail;
#   4. before any act, with a real Prometheus scraping the exporter (it
#      loads the rules from the docs' "prometheus-rules" block): the series
#      of the acts (leakguard_terminated_total, leakguard_cancelled_total,
#      leakguard_refused_total, leakguard_dry_run_total) are exactly one at
#      0 per application of leakguard.stats and kind of leakguard.kinds,
#      under the metric of the kind's action, in /metrics and in
#      Prometheus;
#   5. a termination of every kind (idle in transaction, idle, transaction,
#      xmin, blocking), a refusal by a quota (kind connections), a quota
#      pinned to a role and an exempt idle leak; /metrics is scraped and
#      the series, their types, labels and values checked (every count of
#      leakguard.stats_by_kind is a series of its kind); every leakguard
#      metric the rules and the dashboard use is exported, and no series
#      carries a label beyond application, kind, the quota's rule, usename,
#      datname and the exporter's server (the leak sources' also queryid);
#      Prometheus counts each first termination (increase() > 0), refusals
#      rising fire LeakguardRefusalsRising, and every dashboard query is
#      accepted by its query API;
#   6. a bad rule reloaded shows as leakguard_worker_config_error 1;
#   7. leakguard removed from shared_preload_libraries and the server
#      restarted: every leakguard series vanishes, and Prometheus fires
#      LeakguardMissing is pending (it fires after its 2 minutes: the
#      promtool unit test of part 1), LeakguardWorkerDown is not.
#
# Everything is removed at the end; exits non-zero if a check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/fleet/lib.sh

lg_install_packages prometheus-postgres-exporter prometheus curl jq
if [ -z "${LG_FLEET_PREPARED:-}" ]; then
    lg_prepare
else
    lg_setup_paths
    lg_setup_user
fi

work=$(lg_workdir monitoring)
data="$work/data"
# pid files and logs of the exporters, which may run as another user
run="$work/run"
mkdir -p "$run"
chmod 1777 "$run"
clients=()
installed_monitoring=""
cleanup() {
    local pid
    disown -a
    for pid in "${clients[@]}"; do kill -- -"$pid" 2>/dev/null || true; done
    for pid in exporter exporter-nomaster exporter-old12 prometheus; do
        [ -f "$run/$pid.pid" ] && kill "$(cat "$run/$pid.pid")" 2>/dev/null || true
    done
    lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true
    if [ -n "$installed_monitoring" ]; then
        dpkg -r leakguard-monitoring >/dev/null 2>&1 || echo "monitoring test: dpkg -r leakguard-monitoring failed"
    fi
    if [ "$fleet_failed" = 0 ]; then
        rm -rf "$work"
    else
        echo "monitoring test: logs kept in $work"
    fi
}
trap cleanup EXIT

lg_say "promtool: the alerting rules and their unit tests"
fleet_check "promtool check rules" promtool check rules monitoring/leakguard-alerts.yml
fleet_check "promtool test rules" promtool test rules monitoring/leakguard-alerts.test.yml

lg_say "the Grafana dashboard"
fleet_check "dashboard is valid JSON" eval 'jq -e . monitoring/leakguard-dashboard.json >/dev/null'
for title in "Terminations per application and kind" "Connections per application against quota" \
             "Longest idle in transaction" "Worker running" "Enforcing" "Configuration error" \
             "Leak sources: the statements sessions leaked after"; do
    panel() {
        jq -e --arg t "$1" '[.panels[] | select(.title == $t and (.targets | length) > 0)] | length == 1' \
            monitoring/leakguard-dashboard.json >/dev/null
    }
    fleet_check "dashboard panel \"$title\"" panel "$title"
done

# doc_block NAME: the fenced block that follows "<!-- fleet-test: NAME -->"
# in docs/monitoring.md, without the list item's indentation.
doc_block() {
    awk -v name="$1" '
        $0 ~ "<!-- fleet-test: " name " -->" { found = 1; next }
        found == 1 && /^ *```/ { match($0, /^ */); indent = RLENGTH; found = 2; next }
        found == 2 && /^ *```/ { exit }
        found == 2 { print substr($0, indent + 1) }' docs/monitoring.md
}
for block in exporter-role etc-default prometheus-rules; do
    fleet_check "docs/monitoring.md has the block \"$block\"" test -n "$(doc_block $block)"
done

# The monitoring files where docs/monitoring.md says they are.
mondir=/usr/share/leakguard/monitoring
if [ "$(id -u)" = 0 ]; then
    lg_say "the Debian package leakguard-monitoring, built from the tree and installed"
    if dpkg-query -W -f='${Status}' leakguard-monitoring 2>/dev/null | grep -q "ok installed"; then
        echo "leakguard-monitoring is installed; this test would replace it: remove it first (dpkg -r leakguard-monitoring)" >&2
        exit 1
    fi
    rc=0
    LG_DEB_INDEP=1 LG_DEB_DIR="$work/deb" ./test/deb-build.sh >"$work/deb-build.log" 2>&1 || rc=$?
    fleet_check "leakguard-monitoring built (dpkg-buildpackage -A)" test $rc = 0
    [ $rc = 0 ] || { tail -n 30 "$work/deb-build.log"; fleet_done "monitoring test"; }
    dpkg -i "$work"/deb/leakguard-monitoring_*_all.deb >/dev/null
    installed_monitoring=1
    fleet_check "leakguard-monitoring installs monitoring/ in $mondir" \
        eval 'for f in monitoring/*; do cmp -s "$f" "$mondir/${f#monitoring/}" || exit 1; done'
    fleet_check "promtool test rules in $mondir" \
        eval '(cd "$mondir" && promtool test rules leakguard-alerts.test.yml) >/dev/null'
else
    lg_say "not root: monitoring/ in place of $mondir (no package installed)"
    mondir=$PWD/monitoring
fi
# from_docs: a docs block with the paths and socket of this test
from_docs() {
    doc_block "$1" | sed -e "s#/usr/share/leakguard/monitoring#$mondir#g" -e "s#host=/run/postgresql#host=$work#g"
}

lg_say "a throwaway leakguard server in $work"
lg_as_user initdb -D "$data" -A trust >/dev/null
cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = 5432
shared_preload_libraries = 'leakguard'
leakguard.application_timeouts = 'billing-api=1s, report-nightly=0'
leakguard.application_idle_timeouts = 'idle-app=1s'
leakguard.application_connection_limits = 'route_builder=1, batch=20, billing-api user app = 3, * = 50'
leakguard.application_transaction_timeouts = 'txn-app=1s'
leakguard.application_xmin_age_limits = 'xmin-app=5'
leakguard.application_blocking_timeouts = 'blocker=1s'
leakguard.naptime = 200ms
CONF
lg_as_user pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
psql_su() { lg_as_user psql -X -q -h "$work" -p 5432 -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_su <<'SQL'
CREATE EXTENSION leakguard;
CREATE DATABASE appdb;
CREATE ROLE app LOGIN;
CREATE ROLE plain_monitor LOGIN;
CREATE TABLE lockme ();
GRANT ALL ON lockme TO app;
SQL
psql_su -d appdb -c "CREATE EXTENSION leakguard"
lg_say "the exporter's role, as docs/monitoring.md says"
from_docs exporter-role >"$run/exporter-role.sql"
sed 's/^/  /' "$run/exporter-role.sql"
psql_su -f "$run/exporter-role.sql"

# A client that runs SQL then stays connected up to 120 s, in a process
# group of its own that cleanup kills.
export -f lg_as_user
hold() {	# hold APPLICATION SQL
    PGAPPNAME=$1 setsid bash -c '(printf "%s\n" "$1"; sleep 120) |
            lg_as_user psql -X -q -h "$2" -p 5432 -d postgres -U app' hold "$2" "$work" \
        >>"$work/clients.out" 2>&1 &
    clients+=($!)
}
sql_is() {	# sql_is QUERY EXPECTED
    [ "$(psql_su -Atc "$1")" = "$2" ]
}

lg_say "the exporter, wired as docs/monitoring.md says"
# The /etc/default file of the docs, but for this test's socket directory
# and a free port; started as Debian's systemd unit starts it:
#   User=prometheus
#   EnvironmentFile=/etc/default/prometheus-postgres-exporter
#   ExecStart=/usr/bin/prometheus-postgres-exporter $ARGS
exporter_port=$(fleet_free_port)
{ from_docs etc-default; echo "ARGS=\"\$ARGS --web.listen-address=127.0.0.1:$exporter_port\""; } >"$run/prometheus-postgres-exporter"
sed 's/^/  /' "$run/prometheus-postgres-exporter"
exporter_user=$LG_USER
[ "$(id -u)" = 0 ] && exporter_user=prometheus
start_exporter() {	# start_exporter NAME ENVFILE
    runuser -u "$exporter_user" -- sh -c 'echo $$ > "$1/$2.pid"; set -a; . "$3"; set +a
        exec /usr/bin/prometheus-postgres-exporter $ARGS >"$1/$2.log" 2>&1' sh "$run" "$1" "$2" 2>/dev/null &
}
[ "$(id -u)" = 0 ] || runuser() { shift 3; "$@"; }
start_exporter exporter "$run/prometheus-postgres-exporter"
scrape() { curl -sf "http://127.0.0.1:$exporter_port/metrics" >"$work/metrics.txt"; }
fleet_wait 60 "the exporter answers on 127.0.0.1:$exporter_port" scrape || {
    curl -s "http://127.0.0.1:$exporter_port/metrics" | head -n 5
    fleet_done "monitoring test"
}
fleet_check "the exporter runs with --auto-discover-databases" \
    grep -q -- "--auto-discover-databases" "$run/prometheus-postgres-exporter"
fleet_wait 30 "/metrics scraped whole, with pg_up 1 and one leakguard_worker_up (extension in postgres and appdb)" \
    eval 'scrape && grep -qx "pg_up 1" "$work/metrics.txt" && [ "$(grep -c "^leakguard_worker_up" "$work/metrics.txt")" = 1 ]'

# The same, without "master: true": each leakguard query runs in every
# database discovered, and /metrics fails whole (what master: true fixes).
grep -v '^  master: true$' "$mondir/queries.yaml" >"$run/queries-nomaster.yaml"
nomaster_port=$(fleet_free_port)
sed -e "s#$mondir/queries.yaml#$run/queries-nomaster.yaml#" -e "s#127.0.0.1:$exporter_port#127.0.0.1:$nomaster_port#" \
    "$run/prometheus-postgres-exporter" >"$run/nomaster.env"
start_exporter exporter-nomaster "$run/nomaster.env"
nomaster_fails() {
    local out
    out=$(curl -s "http://127.0.0.1:$nomaster_port/metrics") || return 1
    printf '%s' "$out" | grep -q 'leakguard_.*was collected before with the same name and label values'
}
fleet_wait 60 "without master: true, /metrics fails (\"... was collected before with the same name and label values\")" nomaster_fails
kill "$(cat "$run/exporter-nomaster.pid")" 2>/dev/null || true

# The same file on a database where the extension's SQL is still 1.2 (not
# yet updated): what the header of queries.yaml says fails there does, and
# only that.
psql_su -c "CREATE DATABASE old12"
psql_su -d old12 -c "CREATE EXTENSION leakguard VERSION '1.2'"
old12_port=$(fleet_free_port)
sed -e "s#dbname=postgres#dbname=old12#" -e "s#127.0.0.1:$exporter_port#127.0.0.1:$old12_port#" \
    "$run/prometheus-postgres-exporter" >"$run/old12.env"
fleet_check "the exporter for 1.2 connects to old12" grep -q "dbname=old12" "$run/old12.env"
start_exporter exporter-old12 "$run/old12.env"
old12_scrape() {
    curl -sf "http://127.0.0.1:$old12_port/metrics" >"$work/metrics.old12.txt" &&
        grep -q "^leakguard_worker_up" "$work/metrics.old12.txt"
}
fleet_wait 60 "at 1.2: the exporter answers, with leakguard_worker_up" old12_scrape
fleet_check "at 1.2: pg_exporter_last_scrape_error 1" grep -qx "pg_exporter_last_scrape_error 1" "$work/metrics.old12.txt"
fleet_check "at 1.2: no series of terminations, cancellations, refusals, dry runs or leak sources" \
    eval '! grep -qE "^leakguard_(terminated|cancelled|refused|dry_run|leak_sources)_" "$work/metrics.old12.txt"'
fleet_check "at 1.2: the other queries answer (leakguard_application_*, leakguard_worker_*, leakguard_stats_reset_*)" \
    eval 'for m in leakguard_application_connections leakguard_worker_scans_total leakguard_stats_reset_timestamp_seconds; do
              grep -q "^# TYPE $m " "$work/metrics.old12.txt" || exit 1; done'
fleet_check "at 1.2: the exporter's log says why (relation \"leakguard.kinds\" does not exist)" \
    grep -q 'leakguard_terminated pq: relation \\"leakguard.kinds\\" does not exist' "$run/exporter-old12.log"
kill "$(cat "$run/exporter-old12.pid")" 2>/dev/null || true

# The checks of a scrape: the value of the one series with given labels.
metric() {	# metric NAME [LABEL="VALUE"]...: the value of the one series that has them
    local name=$1 line
    shift
    line=$(grep -E "^$name(\{| )" "$work/metrics.txt" | while IFS= read -r l; do
        local ok=1 want
        for want in "$@"; do
            case "$l" in *"$want"*) ;; *) ok=0 ;; esac
        done
        [ $ok = 1 ] && echo "$l"
    done)
    [ "$(printf '%s\n' "$line" | grep -c .)" = 1 ] || return 1
    echo "${line##* }"
}
metric_is() {	# metric_is EXPECTED NAME [LABEL="VALUE"]...
    local want=$1 got
    shift
    got=$(metric "$@") || return 1
    [ "$got" = "$want" ]
}
metric_positive() {	# metric_positive NAME [LABEL="VALUE"]...
    local got
    got=$(metric "$@") || return 1
    awk -v v="$got" 'BEGIN { exit !(v + 0 > 0) }'
}
scrape_until() {	# scrape_until CHECK...: scrape until the check holds
    scrape && "$@"
}

# Prometheus, started before any act, so that it has every series of the
# acts at 0 before they rise: increase() misses the first increment of a
# series that appears at 1.
lg_say "Prometheus scraping the exporter and evaluating the rules"
prom_port=$(fleet_free_port)
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
$(from_docs prometheus-rules)
scrape_configs:
  - job_name: postgres
    static_configs:
      - targets: ['127.0.0.1:$exporter_port']
YAML
[ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work"
lg_as_user sh -c 'echo $$ > "$1/run/prometheus.pid"; exec prometheus --config.file="$1/prometheus.yml" \
        --storage.tsdb.path="$1/tsdb" --web.listen-address="127.0.0.1:$2" >"$1/prometheus.log" 2>&1' \
    sh "$work" "$prom_port" 2>/dev/null &
prom_query() {	# prom_query PROMQL: the JSON answer of the instant query API
    curl -sf -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1"
}
prom_has() {	# prom_has PROMQL: the query returns at least one series
    prom_query "$1" | jq -e '.status == "success" and (.data.result | length) > 0' >/dev/null
}
# The series of the acts per kind (leakguard_terminated_total,
# leakguard_cancelled_total, leakguard_refused_total, leakguard_dry_run_total)
# in the scrape: "METRIC<TAB>APPLICATION<TAB>KIND<TAB>VALUE" lines, sorted.
kind_series() {
    sed -nE 's/^(leakguard_(terminated|cancelled|refused|dry_run)_total)\{application="([^"]*)",kind="([^"]*)",server="[^"]*"\} (.*)$/\1\t\3\t\4\t\5/p' \
        "$work/metrics.txt" | LC_ALL=C sort
}
# What leakguard.kinds and leakguard.stats_by_kind say those series are:
# the metric of each kind's action (terminate, cancel, refuse), and
# leakguard_dry_run_total for every kind that acts; with WHERE, only the
# rows of stats_by_kind (activity), else every application of
# leakguard.stats and every kind.
kinds_sql="
    SELECT 'leakguard_' || m.metric || '_total', s.application_name, k.kind,
           coalesce(CASE WHEN m.metric = 'dry_run' THEN b.dry_run ELSE b.terminated END, 0)
      FROM leakguard.stats s
     CROSS JOIN leakguard.kinds k
      JOIN (VALUES ('terminate', 'terminated'), ('cancel', 'cancelled'), ('refuse', 'refused'),
                   ('terminate', 'dry_run'), ('cancel', 'dry_run'), ('refuse', 'dry_run')) AS m(action, metric)
        ON m.action = k.action
      LEFT JOIN leakguard.stats_by_kind b
             ON b.application_name = s.application_name AND b.kind = k.kind"
expected_series() {	# expected_series [WHERE ...]
    psql_su -AtF $'\t' -c "$kinds_sql ${1:-}" | LC_ALL=C sort
}
series_are() {	# series_are FILE: the scrape's series of the acts are FILE's lines
    scrape || return 1
    kind_series >"$work/series.scraped"
    diff "$1" "$work/series.scraped" >"$work/series.diff"
}
series_include() {	# series_include FILE: the scrape has FILE's lines among its series of the acts
    scrape || return 1
    kind_series >"$work/series.scraped"
    LC_ALL=C comm -23 "$1" "$work/series.scraped" >"$work/series.diff"
    [ ! -s "$work/series.diff" ]
}

lg_say "before any act: a series at 0 per application and kind of leakguard.kinds"
# Each application the test acts on connects once without leaking, so that
# leakguard.stats has it before its first act.
for app in billing-api idle-app txn-app xmin-app blocker route_builder; do
    PGAPPNAME=$app lg_as_user psql -X -q -h "$work" -p 5432 -d postgres -U app -c "SELECT 1" >/dev/null
done
fleet_check "nothing acted on yet (leakguard.stats: terminated_all, dry_run_all)" \
    sql_is "SELECT sum(terminated_all + dry_run_all) FROM leakguard.stats" 0
terminate_kinds=$(psql_su -Atc "SELECT string_agg(kind, ', ' ORDER BY kind) FROM leakguard.kinds WHERE action = 'terminate'")
echo "kinds of leakguard.kinds that terminate: $terminate_kinds"
for kind in "idle in transaction" idle transaction xmin blocking; do
    fleet_check "leakguard.kinds has \"$kind\" with action terminate" \
        sql_is "SELECT action FROM leakguard.kinds WHERE kind = '$kind'" terminate
done
fleet_check "leakguard.kinds has \"connections\" with action refuse" \
    sql_is "SELECT action FROM leakguard.kinds WHERE kind = 'connections'" refuse
expected_series >"$work/series.zero"
fleet_check "the expected series: one per application, kind and metric ($(grep -c . "$work/series.zero"))" \
    test "$(grep -c $'^leakguard_terminated_total\tbilling-api\t' "$work/series.zero")" = \
        "$(psql_su -Atc "SELECT count(*) FROM leakguard.kinds WHERE action = 'terminate'")"
fleet_wait 30 "/metrics has exactly those series, at 0: every kind of leakguard.kinds (terminate: $terminate_kinds) for every application, no other" \
    series_are "$work/series.zero" || sed 's/^/  /' "$work/series.diff"
cp "$work/metrics.txt" "$work/metrics.zero.txt"
fleet_check "leakguard_terminated_total{application=\"billing-api\",kind=\"idle in transaction\"} = 0" \
    metric_is 0 leakguard_terminated_total 'application="billing-api"' 'kind="idle in transaction"'
fleet_check "leakguard_refused_total{application=\"route_builder\",kind=\"connections\"} = 0" \
    metric_is 0 leakguard_refused_total 'application="route_builder"' 'kind="connections"'
fleet_wait 90 "Prometheus has those series at 0" \
    prom_has "count({__name__=~\"leakguard_(terminated|cancelled|refused|dry_run)_total\"} == 0) >= $(grep -c . "$work/series.zero")"

lg_say "a termination of every kind, a refusal, a pinned quota and an exempt leak"
hold billing-api "BEGIN; SELECT 1;"
hold billing-api "SELECT 1;"
hold billing-api "SELECT 1;"
hold idle-app "SELECT 1;"
hold route_builder "SELECT 1;"
hold report-nightly "BEGIN; SELECT 1;"
hold txn-app "BEGIN; SELECT 1;"
hold xmin-app "BEGIN; SELECT pg_catalog.pg_current_xact_id();"
hold blocker "BEGIN; LOCK TABLE lockme;"
fleet_wait 60 "billing-api terminated (idle in transaction)" \
    sql_is "SELECT terminated FROM leakguard.stats WHERE application_name = 'billing-api'" 1
fleet_wait 60 "billing-api (user app) holds 2 connections of its pinned quota of 3" \
    sql_is "SELECT connections FROM leakguard.stats WHERE application_name = 'billing-api'" 2
fleet_wait 60 "idle-app terminated (idle)" \
    sql_is "SELECT idle_terminated FROM leakguard.stats WHERE application_name = 'idle-app'" 1
fleet_wait 60 "txn-app terminated (transaction)" \
    sql_is "SELECT transaction_terminated FROM leakguard.stats WHERE application_name = 'txn-app'" 1
fleet_wait 60 "xmin-app holds its xid, idle in transaction" \
    sql_is "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xmin-app' AND state = 'idle in transaction' AND backend_xid IS NOT NULL" 1
psql_su -c "DO \$\$ BEGIN FOR i IN 1..10 LOOP PERFORM pg_catalog.pg_current_xact_id(); COMMIT; END LOOP; END \$\$"
fleet_wait 60 "xmin-app terminated (xmin)" \
    sql_is "SELECT xmin_terminated FROM leakguard.stats WHERE application_name = 'xmin-app'" 1
fleet_wait 60 "blocker holds its lock, idle in transaction" \
    sql_is "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'blocker' AND state = 'idle in transaction'" 1
hold waiter "BEGIN; LOCK TABLE lockme; COMMIT;"
fleet_wait 60 "blocker terminated (blocking)" \
    sql_is "SELECT blocking_terminated FROM leakguard.stats WHERE application_name = 'blocker'" 1
fleet_wait 60 "route_builder holds its one connection" \
    sql_is "SELECT connections FROM leakguard.stats WHERE application_name = 'route_builder'" 1
fleet_wait 60 "report-nightly is idle in transaction, exempt" \
    sql_is "SELECT exempt FROM leakguard.sessions WHERE application_name = 'report-nightly' AND idle_in_transaction > '1s'" rule

idle_times_seen_by() {	# idle_times_seen_by ROLE: leaks whose idle time ROLE can read
    lg_as_user psql -X -q -h "$work" -p 5432 -d postgres -U "$1" -Atc \
        "SELECT count(*) FROM leakguard.sessions WHERE idle_in_transaction IS NOT NULL"
}
fleet_check "the exporter's role (pg_monitor) sees report-nightly's idle time" test "$(idle_times_seen_by prometheus)" = 1
fleet_check "a role without pg_monitor does not (so the README asks for pg_monitor)" \
    test "$(idle_times_seen_by plain_monitor)" = 0

fleet_wait 90 "Prometheus has route_builder's refusals at 0" \
    prom_has 'leakguard_refused_total{application="route_builder",kind="connections"} == 0'

for i in 1 2 3 4 5 6; do
    if PGAPPNAME=route_builder lg_as_user psql -X -h "$work" -p 5432 -d postgres -U app -c "SELECT 1" \
        >/dev/null 2>"$work/refused.$i.err"; then
        fleet_not_ok "connection $i of route_builder beyond its quota was accepted"
    fi
done
fleet_check "the refused client got SQLSTATE 53300's message" \
    grep -q "too many connections for application" "$work/refused.1.err"
fleet_wait 30 "route_builder's six refusals counted" \
    sql_is "SELECT refused FROM leakguard.stats WHERE application_name = 'route_builder'" 6

lg_say "scraping /metrics"
fleet_wait 30 "leakguard_refused_total of route_builder is 6" \
    scrape_until metric_is 6 leakguard_refused_total 'application="route_builder"' 'kind="connections"'
cp "$work/metrics.txt" "$work/metrics.events.txt"
echo "the leakguard series scraped:"
grep '^leakguard_' "$work/metrics.txt" | sed 's/^/  /'

check_metric() {	# check_metric EXPECTED NAME LABELS...
    fleet_check "$2{${*:3}} = $1" metric_is "$@"
}
check_metric 1 leakguard_terminated_total 'application="billing-api"' 'kind="idle in transaction"'
check_metric 0 leakguard_terminated_total 'application="billing-api"' 'kind="idle"'
check_metric 0 leakguard_terminated_total 'application="billing-api"' 'kind="transaction"'
check_metric 0 leakguard_terminated_total 'application="billing-api"' 'kind="xmin"'
check_metric 0 leakguard_terminated_total 'application="billing-api"' 'kind="blocking"'
check_metric 1 leakguard_terminated_total 'application="txn-app"' 'kind="transaction"'
check_metric 0 leakguard_terminated_total 'application="txn-app"' 'kind="idle in transaction"'
check_metric 1 leakguard_terminated_total 'application="xmin-app"' 'kind="xmin"'
check_metric 1 leakguard_terminated_total 'application="blocker"' 'kind="blocking"'
check_metric 0 leakguard_terminated_total 'application="blocker"' 'kind="idle in transaction"'
check_metric 1 leakguard_terminated_total 'application="idle-app"' 'kind="idle"'
check_metric 0 leakguard_terminated_total 'application="idle-app"' 'kind="idle in transaction"'
check_metric 0 leakguard_refused_total 'application="billing-api"' 'kind="connections"'
check_metric 0 leakguard_dry_run_total 'application="billing-api"' 'kind="idle in transaction"'
check_metric 0 leakguard_dry_run_total 'application="route_builder"' 'kind="connections"'
for kind in idle transaction xmin blocking; do
    check_metric 0 leakguard_dry_run_total 'application="billing-api"' "kind=\"$kind\""
done
check_metric 1 leakguard_application_connections 'application="route_builder"'
check_metric 1 leakguard_application_connection_limit 'application="route_builder"'
check_metric 50 leakguard_application_connection_limit 'application="billing-api"'
check_metric 3 leakguard_quota_connection_limit 'application="billing-api"' 'rule="billing-api user app = 3"' 'usename="app"' 'datname=""'
check_metric 2 leakguard_quota_connections 'application="billing-api"' 'rule="billing-api user app = 3"' 'usename="app"' 'datname=""'
check_metric 1 leakguard_quota_connection_limit 'application="route_builder"' 'rule="route_builder=1"' 'usename=""'
check_metric 1 leakguard_quota_connections 'application="route_builder"' 'rule="route_builder=1"' 'usename=""'
check_metric 50 leakguard_quota_connection_limit 'application="report-nightly"' 'rule="* = 50"' 'usename=""'
check_metric 1 leakguard_application_idle_in_transaction 'application="report-nightly"'
check_metric 2 leakguard_application_connections 'application="billing-api"'
check_metric 1 leakguard_worker_up
check_metric 1 leakguard_worker_enforcing
check_metric 0 leakguard_worker_dry_run
check_metric 0 leakguard_worker_config_error
check_metric 5 leakguard_worker_terminated_total
check_metric 1 leakguard_leak_sources_leaks_total 'application="billing-api"' 'kind="idle in transaction"'
check_metric 1 leakguard_leak_sources_leaks_total 'application="idle-app"' 'kind="idle"'
# Every act leakguard.stats_by_kind counts is a series of its application
# and kind, under the metric of the kind's action, with that count.
expected_series "WHERE b.terminated > 0 OR b.dry_run > 0" >"$work/series.acts"
fleet_check "leakguard.stats_by_kind counts acts of every kind provoked: $(cut -f3 "$work/series.acts" | LC_ALL=C sort -u | paste -sd, -)" \
    test "$(cut -f3 "$work/series.acts" | LC_ALL=C sort -u | paste -sd, -)" = "blocking,connections,idle,idle in transaction,transaction,xmin"
fleet_wait 30 "every one is exported with its count ($(grep -c . "$work/series.acts") series)" \
    series_include "$work/series.acts" || sed 's/^/  /' "$work/series.diff"
fleet_check "leakguard_application_longest_idle_seconds of report-nightly > 0" \
    metric_positive leakguard_application_longest_idle_seconds 'application="report-nightly"'
fleet_check "leakguard_unguarded_idle_in_transaction_seconds of report-nightly > 0" \
    metric_positive leakguard_unguarded_idle_in_transaction_seconds 'application="report-nightly"'
fleet_check "no unguarded series for billing-api (leakguard ends its leaks)" \
    eval '! grep -q "^leakguard_unguarded_idle_in_transaction_seconds{.*application=\"billing-api\"" "$work/metrics.txt"'
fleet_check "leakguard_application_max_idle_seconds of billing-api > 0 (its terminated episode)" \
    metric_positive leakguard_application_max_idle_seconds 'application="billing-api"'
fleet_check "leakguard_worker_scans_total > 0" metric_positive leakguard_worker_scans_total
fleet_check "leakguard_stats_reset_timestamp_seconds > 0" metric_positive leakguard_stats_reset_timestamp_seconds

types_are() {	# types_are TYPE NAME...
    local type=$1 name
    shift
    for name in "$@"; do
        grep -qx "# TYPE $name $type" "$work/metrics.txt" || { echo "  $name is not a $type"; return 1; }
    done
}
fleet_check "counters are typed counter" types_are counter \
    leakguard_terminated_total leakguard_refused_total leakguard_dry_run_total \
    leakguard_application_episodes_total leakguard_application_idle_seconds_total \
    leakguard_worker_scans_total leakguard_worker_terminated_total \
    leakguard_leak_sources_leaks_total
fleet_check "gauges are typed gauge" types_are gauge \
    leakguard_application_connections leakguard_application_connection_limit \
    leakguard_application_idle_in_transaction leakguard_application_longest_idle_seconds \
    leakguard_application_max_idle_seconds leakguard_application_peak_connections \
    leakguard_unguarded_idle_in_transaction_seconds leakguard_worker_up leakguard_worker_enforcing \
    leakguard_worker_config_error leakguard_worker_last_scan_age_seconds \
    leakguard_quota_connections leakguard_quota_connection_limit

labels_bounded() {	# labels_bounded PATTERN LABELS: the labels of the series PATTERN matches
    local extra
    extra=$(grep -E "$1" "$work/metrics.txt" | sed -n 's/^[^{]*{\(.*\)} .*/\1/p' |
        grep -oE '(^|,)[a-z_]+=' | tr -d ',=' | sort -u | grep -vxE "$2" || true)
    [ -z "$extra" ] || { echo "  unexpected labels: $extra"; return 1; }
}
fleet_check "leakguard series carry only the labels application, kind, a quota's rule, usename, datname, a leak source's queryid (and the exporter's server)" \
    labels_bounded '^leakguard_' 'application|kind|server|rule|usename|datname|queryid'
fleet_check "leak source series carry only application, kind, queryid (and the exporter's server)" \
    labels_bounded '^leakguard_leak_sources_' 'application|kind|queryid|server'
fleet_check "only the quotas carry rule, usename and datname" \
    labels_bounded '^leakguard_(terminated|refused|dry_run|application|unguarded|worker|stats)' 'application|kind|server'

fleet_check "the exporter logged no error on leakguard's queries" \
    eval '! grep -iE "level=(error|warn).*leakguard" "$run/exporter.log"'

exported() {	# exported FILE: every leakguard_* metric FILE names is in the scrape
    local name missing=""
    for name in $(grep -oE 'leakguard_[a-z_]+' "$1" | sort -u); do
        grep -q "^# TYPE $name " "$work/metrics.txt" && continue
        # the metric of an action no kind of leakguard.kinds has yet has no series
        [ "$name" = leakguard_cancelled_total ] &&
            sql_is "SELECT count(*) FROM leakguard.kinds WHERE action = 'cancel'" 0 && continue
        missing="$missing $name"
    done
    [ -z "$missing" ] || { echo "  not exported:$missing"; return 1; }
}
fleet_check "every metric the alerting rules use is exported" exported monitoring/leakguard-alerts.yml
fleet_check "every metric the dashboard uses is exported" \
    exported <(jq -r '.. | .expr? // empty' monitoring/leakguard-dashboard.json)

lg_say "Prometheus evaluates the rules"
alert_firing() {	# alert_firing NAME LABEL VALUE
    curl -sf "http://127.0.0.1:$prom_port/api/v1/alerts" |
        jq -e --arg n "$1" --arg l "$2" --arg v "$3" \
        '[.data.alerts[] | select(.labels.alertname == $n and .labels[$l] == $v and .state == "firing")] | length == 1' >/dev/null
}
fleet_wait 90 "LeakguardRefusalsRising fires for route_builder" \
    alert_firing LeakguardRefusalsRising application route_builder
# Prometheus had every series at 0 before the act: it counts the first.
for app_kind in "billing-api/idle in transaction" idle-app/idle txn-app/transaction xmin-app/xmin blocker/blocking; do
    app=${app_kind%%/*} kind=${app_kind#*/}
    fleet_wait 60 "Prometheus counts $app's first termination ($kind): increase() > 0" \
        prom_has "increase(leakguard_terminated_total{application=\"$app\",kind=\"$kind\"}[10m]) > 0"
done
fleet_wait 60 "Prometheus counts route_builder's refusals: increase() > 5" \
    prom_has 'increase(leakguard_refused_total{application="route_builder",kind="connections"}[10m]) > 5'
fleet_check "LeakguardTerminationsRising does not fire (one termination per application and kind)" \
    eval '! curl -sf "http://127.0.0.1:$prom_port/api/v1/alerts" | grep -q LeakguardTerminationsRising'
dashboard_queries_run() {
    local expr bad=0
    while IFS= read -r expr; do
        expr=${expr//\$instance/.*}
        expr=${expr//\$__rate_interval/1m}
        expr=${expr//\$__range/1h}
        prom_query "$expr" | jq -e '.status == "success"' >/dev/null || { echo "  rejected: $expr"; bad=1; }
    done < <(jq -r '.. | .expr? // empty' monitoring/leakguard-dashboard.json)
    [ $bad = 0 ]
}
fleet_check "Prometheus accepts every dashboard query" dashboard_queries_run
fleet_check "the dashboard's connections-against-quota query returns billing-api's pinned quota" \
    prom_has 'max by (application, rule, usename, datname) (leakguard_quota_connection_limit{application="billing-api",usename="app"}) == 3'

lg_say "a bad rule reloaded: leakguard_worker_config_error"
echo "leakguard.application_timeouts = 'billing-api=1 fortnight'" >>"$data/postgresql.conf"
psql_su -c "SELECT pg_reload_conf()" >/dev/null
fleet_wait 60 "status().config_error is set" \
    sql_is "SELECT config_error IS NOT NULL FROM leakguard.status()" t
fleet_wait 30 "leakguard_worker_config_error = 1" scrape_until metric_is 1 leakguard_worker_config_error
check_metric 1 leakguard_worker_up
fleet_check "the previous rules stay in force" \
    sql_is "SELECT rules FROM leakguard.status()" "billing-api=1s, report-nightly=0"

lg_say "leakguard removed from shared_preload_libraries: LeakguardMissing"
alert_active() {	# alert_active NAME: pending or firing
    curl -sf "http://127.0.0.1:$prom_port/api/v1/alerts" |
        jq -e --arg n "$1" '[.data.alerts[] | select(.labels.alertname == $n)] | length > 0' >/dev/null
}
fleet_check "LeakguardMissing is not active while leakguard runs" eval '! alert_active LeakguardMissing'
for pid in "${clients[@]}"; do kill -- -"$pid" 2>/dev/null || true; done
sed -i "s/^shared_preload_libraries = 'leakguard'$/shared_preload_libraries = ''/" "$data/postgresql.conf"
lg_as_user pg_ctl -D "$data" -l "$work/server.log" -m fast -w restart >/dev/null
fleet_check "the server runs without the library" \
    sql_is "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'" ""
fleet_wait 60 "the exporter reaches PostgreSQL (pg_up 1) and every leakguard series is gone" \
    eval 'scrape && grep -qx "pg_up 1" "$work/metrics.txt" && ! grep -q "^leakguard_" "$work/metrics.txt"'
check_metric 1 pg_exporter_last_scrape_error
fleet_check "the exporter logs why: leakguard must be loaded via shared_preload_libraries" \
    grep -q "leakguard must be loaded via shared_preload_libraries" "$run/exporter.log"
fleet_wait 60 "Prometheus sees no leakguard_worker_up" eval '! prom_has leakguard_worker_up'
# Its expression holds live (the alert is pending for this exporter); that
# it fires after its 2 minutes is promtool's unit test (part 1), which
# spares the suite a two-minute wait.
alert_pending() {	# alert_pending NAME LABEL VALUE: pending or firing for that label
    curl -sf "http://127.0.0.1:$prom_port/api/v1/alerts" |
        jq -e --arg n "$1" --arg l "$2" --arg v "$3" \
        '[.data.alerts[] | select(.labels.alertname == $n and .labels[$l] == $v)] | length == 1' >/dev/null
}
fleet_wait 120 "LeakguardMissing is pending for 127.0.0.1:$exporter_port (it fires after 2 minutes: promtool test)" \
    alert_pending LeakguardMissing instance "127.0.0.1:$exporter_port"
fleet_check "LeakguardWorkerDown does not (it has no series to compare)" eval '! alert_active LeakguardWorkerDown'

fleet_done "monitoring test"
