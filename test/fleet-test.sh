#!/usr/bin/env bash
# make test-fleet: leakguard in a fleet, against the real tools Debian ships.
#
#   monitoring  test/fleet/monitoring-test.sh: monitoring/ (queries file,
#               alerting rules, dashboard) with postgres_exporter 0.11,
#               promtool and Prometheus 2.42;
#   patroni     test/fleet/patroni-test.sh: two Patroni 3.0 nodes on etcd
#               3.4: reloads, switchover, failover, a bad value in the DCS;
#   pgxn        test/fleet/pgxn-test.sh: make dist, installed with
#               pgxnclient, CREATE EXTENSION (root only: it writes into
#               the PostgreSQL installation; skipped otherwise).
#
# Installs missing packages (as root), builds leakguard with -Werror and
# installs it into the PostgreSQL of PG_CONFIG (Debian's 15 by default:
# Patroni 3.0 predates PostgreSQL 18) once, then runs the three tests, each
# its own servers on free loopback ports in scratch directories.  Prints a
# line per test with its wall time and, last, "N passed, M failed"; exits
# non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

lg_prepare
export LG_FLEET_PREPARED=1
lg_say "fleet tests against PostgreSQL $LG_PG_VERSION ($PG_CONFIG)"

passed=0
failed=0
summary=()
for t in monitoring patroni pgxn; do
    if [ $t = pgxn ] && [ "$(id -u)" != 0 ]; then
        summary+=("$t: skipped (needs root to install into $("$PG_CONFIG" --pkglibdir))")
        continue
    fi
    lg_say "test/fleet/$t-test.sh"
    t0=$SECONDS
    rc=0
    "./test/fleet/$t-test.sh" || rc=$?
    if [ $rc = 0 ]; then
        passed=$((passed + 1))
        summary+=("$t: passed, $((SECONDS - t0)) s")
    else
        failed=$((failed + 1))
        summary+=("$t: FAILED, $((SECONDS - t0)) s")
    fi
done

echo
lg_say "summary"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
