#!/usr/bin/env bash
# make test-citus: leakguard on a Citus cluster.
#
# Builds leakguard with -Werror and installs it into the PostgreSQL that
# PG_CONFIG names (one built by test/pg-build.sh 18), builds and installs
# Citus into it (test/citus-build.sh, cached), then runs the TAP tests of
# test/citus/ (a coordinator and two workers on loopback).  Servers run as
# an unprivileged user ("postgres" when run as root).  Exits 3, saying so,
# when the Citus source is not there (test/citus-build.sh); non-zero on any
# failure.
#
# Environment: PG_CONFIG (required), LG_CITUS_TARBALL, LG_CITUS_SESSIONS
# (short coordinator sessions of test 001, default 1000), PROVE_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

[ -n "${PG_CONFIG:-}" ] || { echo "make test-citus needs PG_CONFIG: the pg_config of test/pg-build.sh 18" >&2; exit 2; }
start=$SECONDS
rc=0
./test/citus-build.sh || rc=$?
[ $rc = 0 ] || exit $rc
lg_prepare
lg_say "Citus TAP tests against PostgreSQL $LG_PG_VERSION: ${LG_CITUS_TAP_TESTS:-test/citus/*.pl}"
work=$(lg_workdir citus)
cp -r test "$work/"
[ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work"
rc=0
(
    cd "$work"
    lg_as_user env TESTDIR="$work" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
        LG_CITUS_SESSIONS="${LG_CITUS_SESSIONS:-}" \
        PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-120}" \
        prove -I "$PGXS_DIR/src/test/perl" -I "$work/test/perl" \
        ${PROVE_FLAGS:-} ${LG_CITUS_TAP_TESTS:-test/citus/*.pl}
) || rc=$?
if [ $rc != 0 ]; then
    for log in "$work"/tmp_check/log/regress_log_*; do
        [ -f "$log" ] || continue
        echo "---- $log (last 80 lines)"
        tail -n 80 "$log"
    done
    echo "make test-citus failed after $((SECONDS - start)) s (outputs kept in $work)"
    exit 1
fi
rm -rf "$work"
echo "make test-citus passed in $((SECONDS - start)) s"
