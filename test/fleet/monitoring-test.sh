#!/usr/bin/env bash
# test/fleet/monitoring-test.sh: monitoring/ against the real tools.
#
# Installs, as root and when missing, Debian's prometheus-postgres-exporter
# (0.11), prometheus (2.42, with promtool) and curl.  Builds and installs
# leakguard into the PostgreSQL of PG_CONFIG (Debian's 15 by default) unless
# LG_FLEET_PREPARED is set (test/fleet-test.sh has done it), then:
#
#   1. promtool check rules and promtool test rules on the alerting rules;
#      the dashboard is valid JSON with the panels it promises;
#   2. a throwaway leakguard server (scratch directory, private socket, run
#      as an unprivileged user) and the real exporter on a free loopback
#      port with monitoring/queries.yaml, connected as a role that has
#      pg_monitor and is no superuser;
#   3. a termination (idle in transaction), an idle-session termination, a
#      refusal by a quota and an exempt idle leak; /metrics is scraped and
#      the series, their types, labels and values checked; every leakguard
#      metric the rules and the dashboard use is exported, and no series
#      carries a label beyond application, kind and the exporter's server
#      (the leak sources' also queryid);
#   4. a real Prometheus scrapes the exporter and evaluates the rules:
#      refusals rising fire LeakguardRefusalsRising, and every dashboard
#      query is accepted by its query API;
#   5. a bad rule reloaded shows as leakguard_worker_config_error 1.
#
# Everything is removed at the end; exits non-zero if a check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/fleet/lib.sh

lg_install_packages prometheus-postgres-exporter prometheus curl
if [ -z "${LG_FLEET_PREPARED:-}" ]; then
    lg_prepare
else
    lg_setup_paths
    lg_setup_user
fi

work=$(lg_workdir monitoring)
data="$work/data"
clients=()
cleanup() {
    local pid
    disown -a
    for pid in "${clients[@]}"; do kill -- -"$pid" 2>/dev/null || true; done
    for pid in exporter prometheus; do
        [ -f "$work/$pid.pid" ] && kill "$(cat "$work/$pid.pid")" 2>/dev/null || true
    done
    lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true
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
fleet_check "dashboard is valid JSON" jq -e . monitoring/leakguard-dashboard.json >/dev/null
for title in "Terminations per application and kind" "Connections per application against quota" \
             "Longest idle in transaction" "Worker running" "Enforcing" "Configuration error" \
             "Leak sources: the statements sessions leaked after"; do
    fleet_check "dashboard panel \"$title\"" \
        jq -e --arg t "$title" '[.panels[] | select(.title == $t and (.targets | length) > 0)] | length == 1' \
        monitoring/leakguard-dashboard.json >/dev/null
done

lg_say "a throwaway leakguard server in $work"
cp monitoring/queries.yaml "$work/queries.yaml"
lg_as_user initdb -D "$data" -A trust >/dev/null
cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = 5432
shared_preload_libraries = 'leakguard'
leakguard.application_timeouts = 'billing-api=1s, report-nightly=0'
leakguard.application_idle_timeouts = 'idle-app=1s'
leakguard.application_connection_limits = 'route_builder=1, batch=20'
leakguard.naptime = 200ms
CONF
lg_as_user pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
psql_su() { lg_as_user psql -X -q -h "$work" -p 5432 -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_su <<'SQL'
CREATE EXTENSION leakguard;
CREATE ROLE app LOGIN;
CREATE ROLE leakguard_exporter LOGIN;
GRANT pg_monitor TO leakguard_exporter;
CREATE ROLE plain_monitor LOGIN;
SQL

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

lg_say "the exporter (prometheus-postgres-exporter, as leakguard_exporter)"
exporter_port=$(fleet_free_port)
lg_as_user sh -c 'echo $$ > "$1/exporter.pid"; exec env DATA_SOURCE_NAME="$2" prometheus-postgres-exporter \
        --web.listen-address="127.0.0.1:$3" --extend.query-path="$1/queries.yaml" >"$1/exporter.log" 2>&1' \
    sh "$work" "host=$work port=5432 user=leakguard_exporter dbname=postgres sslmode=disable" "$exporter_port" 2>/dev/null &
scrape() { curl -sf "http://127.0.0.1:$exporter_port/metrics" >"$work/metrics.txt"; }
fleet_wait 60 "the exporter answers on 127.0.0.1:$exporter_port" scrape

lg_say "a termination, an idle termination, a refusal and an exempt leak"
hold billing-api "BEGIN; SELECT 1;"
hold idle-app "SELECT 1;"
hold route_builder "SELECT 1;"
hold report-nightly "BEGIN; SELECT 1;"
fleet_wait 60 "billing-api terminated (idle in transaction)" \
    sql_is "SELECT terminated FROM leakguard.stats WHERE application_name = 'billing-api'" 1
fleet_wait 60 "idle-app terminated (idle)" \
    sql_is "SELECT idle_terminated FROM leakguard.stats WHERE application_name = 'idle-app'" 1
fleet_wait 60 "route_builder holds its one connection" \
    sql_is "SELECT connections FROM leakguard.stats WHERE application_name = 'route_builder'" 1
fleet_wait 60 "report-nightly is idle in transaction, exempt" \
    sql_is "SELECT exempt FROM leakguard.sessions WHERE application_name = 'report-nightly' AND idle_in_transaction > '1s'" rule

idle_times_seen_by() {	# idle_times_seen_by ROLE: leaks whose idle time ROLE can read
    lg_as_user psql -X -q -h "$work" -p 5432 -d postgres -U "$1" -Atc \
        "SELECT count(*) FROM leakguard.sessions WHERE idle_in_transaction IS NOT NULL"
}
fleet_check "the pg_monitor role sees report-nightly's idle time" test "$(idle_times_seen_by leakguard_exporter)" = 1
fleet_check "a role without pg_monitor does not (so the README asks for pg_monitor)" \
    test "$(idle_times_seen_by plain_monitor)" = 0

# Prometheus, started now so that it sees route_builder's refusals at 0
# before they rise.
lg_say "Prometheus scraping the exporter and evaluating the rules"
prom_port=$(fleet_free_port)
cp monitoring/leakguard-alerts.yml "$work/"
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $work/leakguard-alerts.yml
scrape_configs:
  - job_name: postgres
    static_configs:
      - targets: ['127.0.0.1:$exporter_port']
YAML
[ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work"
lg_as_user sh -c 'echo $$ > "$1/prometheus.pid"; exec prometheus --config.file="$1/prometheus.yml" \
        --storage.tsdb.path="$1/tsdb" --web.listen-address="127.0.0.1:$2" >"$1/prometheus.log" 2>&1' \
    sh "$work" "$prom_port" 2>/dev/null &
prom_query() {	# prom_query PROMQL: the JSON answer of the instant query API
    curl -sf -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1"
}
prom_has() {	# prom_has PROMQL: the query returns at least one series
    prom_query "$1" | jq -e '.status == "success" and (.data.result | length) > 0' >/dev/null
}
fleet_wait 90 "Prometheus has route_builder's refusals at 0" \
    prom_has 'leakguard_refused_total{application="route_builder",kind="quota"} == 0'

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
fleet_wait 30 "leakguard_refused_total of route_builder is 6" \
    scrape_until metric_is 6 leakguard_refused_total 'application="route_builder"' 'kind="quota"'
cp "$work/metrics.txt" "$work/metrics.events.txt"
echo "the leakguard series scraped:"
grep '^leakguard_' "$work/metrics.txt" | sed 's/^/  /'

check_metric() {	# check_metric EXPECTED NAME LABELS...
    fleet_check "$2{${*:3}} = $1" metric_is "$@"
}
check_metric 1 leakguard_terminated_total 'application="billing-api"' 'kind="idle in transaction"'
check_metric 0 leakguard_terminated_total 'application="billing-api"' 'kind="idle"'
check_metric 1 leakguard_terminated_total 'application="idle-app"' 'kind="idle"'
check_metric 0 leakguard_terminated_total 'application="idle-app"' 'kind="idle in transaction"'
check_metric 0 leakguard_refused_total 'application="billing-api"' 'kind="quota"'
check_metric 0 leakguard_dry_run_total 'application="billing-api"' 'kind="idle in transaction"'
check_metric 0 leakguard_dry_run_total 'application="route_builder"' 'kind="quota"'
check_metric 1 leakguard_application_connections 'application="route_builder"'
check_metric 1 leakguard_application_connection_limit 'application="route_builder"'
check_metric 0 leakguard_application_connection_limit 'application="billing-api"'
check_metric 1 leakguard_application_idle_in_transaction 'application="report-nightly"'
check_metric 0 leakguard_application_connections 'application="billing-api"'
check_metric 1 leakguard_worker_up
check_metric 1 leakguard_worker_enforcing
check_metric 0 leakguard_worker_dry_run
check_metric 0 leakguard_worker_config_error
check_metric 2 leakguard_worker_terminated_total
check_metric 1 leakguard_leak_sources_leaks_total 'application="billing-api"' 'kind="idle in transaction"'
check_metric 1 leakguard_leak_sources_leaks_total 'application="idle-app"' 'kind="idle"'
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
    leakguard_worker_config_error leakguard_worker_last_scan_age_seconds

labels_bounded() {	# labels_bounded ALLOWED GREP-ARGS...: the series grep selects carry only ALLOWED
    local allowed=$1 extra
    shift
    extra=$(grep '^leakguard_' "$work/metrics.txt" | grep "$@" | sed -n 's/^[^{]*{\(.*\)} .*/\1/p' |
        grep -oE '(^|,)[a-z_]+=' | tr -d ',=' | sort -u | grep -vxE "$allowed" || true)
    [ -z "$extra" ] || { echo "  unexpected labels: $extra"; return 1; }
}
fleet_check "leakguard series carry only the labels application, kind (and the exporter's server)" \
    labels_bounded 'application|kind|server' -v '^leakguard_leak_sources_'
fleet_check "leak source series carry only application, kind, queryid (and the exporter's server)" \
    labels_bounded 'application|kind|queryid|server' '^leakguard_leak_sources_'
fleet_check "the exporter logged no error on leakguard's queries" \
    eval '! grep -iE "level=(error|warn).*leakguard" "$work/exporter.log"'

exported() {	# exported FILE: every leakguard_* metric FILE names is in the scrape
    local name missing=""
    for name in $(grep -oE 'leakguard_[a-z_]+' "$1" | sort -u); do
        grep -q "^# TYPE $name " "$work/metrics.txt" || missing="$missing $name"
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
fleet_check "LeakguardTerminationsRising does not fire (2 terminations)" \
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
fleet_check "the dashboard's connections-against-quota query returns route_builder's quota" \
    prom_has 'sum by (application) (leakguard_application_connection_limit{application="route_builder"} > 0)'

lg_say "a bad rule reloaded: leakguard_worker_config_error"
echo "leakguard.application_timeouts = 'billing-api=1 fortnight'" >>"$data/postgresql.conf"
psql_su -c "SELECT pg_reload_conf()" >/dev/null
fleet_wait 60 "status().config_error is set" \
    sql_is "SELECT config_error IS NOT NULL FROM leakguard.status()" t
fleet_wait 30 "leakguard_worker_config_error = 1" scrape_until metric_is 1 leakguard_worker_config_error
check_metric 1 leakguard_worker_up
fleet_check "the previous rules stay in force" \
    sql_is "SELECT rules FROM leakguard.status()" "billing-api=1s, report-nightly=0"

fleet_done "monitoring test"
