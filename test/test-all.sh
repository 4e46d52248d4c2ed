#!/usr/bin/env bash
# make test-all: the test of test/pg-build.sh's choice of tarball
# (test/pg-build-test.sh), then the whole suite (make test: unit, fuzz,
# pg_regress, TAP, meta) against each supported PostgreSQL major version in
# turn, then the Debian package test (make test-deb), the fleet tests
# (make test-fleet: monitoring, Patroni, PGXN) and the drivers test (make
# test-drivers: what client drivers and PgBouncer report).
#
#   15   Debian's PostgreSQL 15 (installed through apt if missing);
#   17   built by test/pg-build.sh from the upstream tarball of Debian's
#   18   postgresql-17 (trixie) / postgresql-18 (sid) source package, once,
#        then reused from its cache (/var/cache/leakguard-pg as root).
#
# Builds what is needed first, then runs test/run-tests.sh with PG_CONFIG
# set for each version (each reinstalls leakguard into that installation).
# After PostgreSQL 18's suite, the Citus test (make test-citus: Citus built
# into that installation by test/citus-build.sh, cached, and a coordinator
# with two workers), when the Citus source is there; it says plainly when
# it is not, and skips.
# The package test runs when 15 is among the versions, as root, unless
# LG_DEB_TEST=0.  A version whose build fails counts as one failed suite
# ("build") and the others still run.
#
# Prints one line per version ("PostgreSQL 17.6: 5 passed, 0 failed, ...")
# and, last, "N passed, M failed" counting suites across all versions; exits
# non-zero if anything failed.
#
# After the versions, a clone of HEAD in a mode-0700 directory runs the
# tests that read the tree (as root; LG_CLONE_TEST=0 skips it).
#
# Environment: LG_VERSIONS (default "15 17 18"), LG_CLONE_TEST, LG_DEB_TEST, LG_FLEET_TEST,
# LG_DRIVERS_TEST, LG_CITUS_TEST (0: skip the Citus test), LG_CITUS_TARBALL,
# and what
# test/run-tests.sh and test/pg-build.sh read (LG_PG_CACHE, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

versions=${LG_VERSIONS:-15 17 18}
start=$SECONDS
passed=0
failed=0
summary=()
scratch=$(mktemp -d "${TMPDIR:-/tmp}/leakguard-test-all.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# Run a command, its output merged; a bare "N passed, M failed" line in it
# (make test's last line, the unit tests' total) gets a prefix, so that the
# last line of make test-all is the only one of that form.
run_marked() {
    "$@" 2>&1 | sed -u -E 's/^([A-Za-z0-9_.-]+: )?([0-9]+ passed, [0-9]+ failed)$/(part) \1\2/'
    return "${PIPESTATUS[0]}"
}

# How test/pg-build.sh chooses a tarball, against a local signed mirror.
t0=$SECONDS
lg_say "test/pg-build-test.sh: how test/pg-build.sh chooses a verified tarball (no network)"
if run_marked ./test/pg-build-test.sh; then
    passed=$((passed + 1))
    summary+=("test/pg-build.sh selection: 1 passed, 0 failed, $((SECONDS - t0)) s")
else
    failed=$((failed + 1))
    summary+=("test/pg-build.sh selection: 0 passed, 1 failed, $((SECONDS - t0)) s (failed: pg-build-test)")
fi

# A version's pg_config: Debian's for 15, else built (or found in the cache).
declare -A pg_config build_failed
lg_say "PostgreSQL versions to test: $versions"
for v in $versions; do
    case "$v" in
        15) pg_config[$v]=/usr/lib/postgresql/15/bin/pg_config ;;
        *)
            lg_say "PostgreSQL $v: test/pg-build.sh $v"
            t0=$SECONDS
            if pg_config[$v]=$(test/pg-build.sh "$v" --print-pg-config); then
                echo "PostgreSQL $v ready in $((SECONDS - t0)) s: ${pg_config[$v]}"
            else
                build_failed[$v]=1
                echo "PostgreSQL $v could not be built; its suites are skipped" >&2
            fi
            ;;
    esac
done

for v in $versions; do
    t0=$SECONDS
    if [ -n "${build_failed[$v]:-}" ]; then
        failed=$((failed + 1))
        summary+=("PostgreSQL $v: 0 passed, 1 failed (failed: build of PostgreSQL, see test/pg-build.sh $v)")
        continue
    fi
    results=$scratch/results-$v
    : >"$results"
    # "PostgreSQL 17.6"; just "PostgreSQL 15" before Debian's is installed
    label="PostgreSQL $v"
    [ ! -x "${pg_config[$v]}" ] || label=$("${pg_config[$v]}" --version)
    lg_say "$label: make test PG_CONFIG=${pg_config[$v]}"
    rc=0
    if [ "$v" = 15 ]; then
        # Debian's, the default of test/lib.sh (which installs it if missing)
        run_marked env -u PG_CONFIG LG_RESULTS_FILE="$results" LG_SUMMARY_LABEL="$label" \
            ./test/run-tests.sh || rc=$?
    else
        run_marked env PG_CONFIG="${pg_config[$v]}" LG_RESULTS_FILE="$results" \
            LG_SUMMARY_LABEL="$label" ./test/run-tests.sh || rc=$?
    fi
    [ ! -x "${pg_config[$v]}" ] || label=$("${pg_config[$v]}" --version)
    p=$(grep -c '^passed ' "$results" || true)
    f=$(grep -c '^failed ' "$results" || true)
    fails=$(sed -n 's/^failed //p' "$results" | tr '\n' ' ')
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        # it stopped before its suites: packages, or leakguard's -Werror build
        f=1 fails="build of leakguard (make with -Werror, or make install) "
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    line="$label: $p passed, $f failed, $((SECONDS - t0)) s"
    [ "$f" = 0 ] || line="$line (failed: ${fails% })"
    summary+=("$line")
done

# A clone in a directory only root may enter, as /root is (mode 0700): the
# tests run as an unprivileged user, so whatever they read of the tree must
# be copied where that user can read it (issue 30).  The tests that read
# the tree (the documentation's examples, its generated tables), from such
# a clone of HEAD, on PostgreSQL 15.
if [[ " $versions " == *" 15 "* ]] && [ "${LG_CLONE_TEST:-1}" != 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        t0=$SECONDS
        clone=$scratch/private/leakguard
        mkdir -m 700 "$scratch/private"
        lg_say "a clone of HEAD in a mode-0700 directory: make test LG_TAP_TESTS=\"test/t/025_readme.pl test/t/045_docs_generated.pl\""
        rc=0
        git clone -q . "$clone" || rc=$?
        [ "$rc" != 0 ] || run_marked env -u PG_CONFIG make -C "$clone" test \
            LG_TAP_TESTS="test/t/025_readme.pl test/t/045_docs_generated.pl" || rc=$?
        rm -rf "$clone"
        if [ "$rc" = 0 ]; then
            passed=$((passed + 1))
            summary+=("a clone in a mode-0700 directory: 1 passed, 0 failed, $((SECONDS - t0)) s")
        else
            failed=$((failed + 1))
            summary+=("a clone in a mode-0700 directory: 0 passed, 1 failed, $((SECONDS - t0)) s (failed: clone)")
        fi
    else
        summary+=("a clone in a mode-0700 directory: skipped (run as root, whose servers run as postgres)")
    fi
fi

# Citus on the PostgreSQL 18 just tested (Citus 14 supports 16 to 18).
citus_tarball=${LG_CITUS_TARBALL:-../shared/citus/citus-14.0.1.tar.gz}
if [[ " $versions " == *" 18 "* ]] && [ "${LG_CITUS_TEST:-1}" != 0 ]; then
    if [ -n "${build_failed[18]:-}" ]; then
        summary+=("Citus on PostgreSQL 18: skipped (PostgreSQL 18 could not be built)")
    elif [ ! -f "$citus_tarball" ]; then
        echo "Citus source not found at $citus_tarball: skipped"
        summary+=("Citus on PostgreSQL 18: Citus source not found at $citus_tarball: skipped")
    else
        t0=$SECONDS
        lg_say "Citus on PostgreSQL 18: make test-citus PG_CONFIG=${pg_config[18]}"
        rc=0
        run_marked env PG_CONFIG="${pg_config[18]}" LG_CITUS_TARBALL="$citus_tarball" \
            ./test/citus-test.sh || rc=$?
        if [ "$rc" = 0 ]; then
            passed=$((passed + 1))
            summary+=("Citus 14 on PostgreSQL 18: 1 passed, 0 failed, $((SECONDS - t0)) s")
        else
            failed=$((failed + 1))
            summary+=("Citus 14 on PostgreSQL 18: 0 passed, 1 failed, $((SECONDS - t0)) s (failed: citus)")
        fi
    fi
fi

if [[ " $versions " == *" 15 "* ]] && [ "${LG_DEB_TEST:-1}" != 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        t0=$SECONDS
        lg_say "the Debian package: make test-deb"
        rc=0
        run_marked ./test/deb-test.sh || rc=$?
        if [ "$rc" = 0 ]; then
            passed=$((passed + 1))
            summary+=("PostgreSQL 15 package postgresql-15-leakguard: 1 passed, 0 failed, $((SECONDS - t0)) s")
        else
            failed=$((failed + 1))
            summary+=("PostgreSQL 15 package postgresql-15-leakguard: 0 passed, 1 failed, $((SECONDS - t0)) s (failed: deb)")
        fi
    else
        summary+=("PostgreSQL 15 package postgresql-15-leakguard: skipped (make test-deb needs root for dpkg -i)")
    fi
fi

# The fleet tests: postgres_exporter, promtool and Prometheus against the
# files of monitoring/, Patroni with etcd, and the PGXN bundle, on Debian's
# PostgreSQL 15 (as root: they install packages and the bundle).
if [[ " $versions " == *" 15 "* ]] && [ "${LG_FLEET_TEST:-1}" != 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        t0=$SECONDS
        lg_say "the fleet tests: make test-fleet"
        rc=0
        run_marked env -u PG_CONFIG ./test/fleet-test.sh || rc=$?
        if [ "$rc" = 0 ]; then
            passed=$((passed + 1))
            summary+=("fleet tests (monitoring, Patroni, PGXN): 1 passed, 0 failed, $((SECONDS - t0)) s")
        else
            failed=$((failed + 1))
            summary+=("fleet tests (monitoring, Patroni, PGXN): 0 passed, 1 failed, $((SECONDS - t0)) s (failed: fleet)")
        fi
    else
        summary+=("fleet tests (monitoring, Patroni, PGXN): skipped (they install packages: run as root)")
    fi
fi

# What client drivers and PgBouncer report (make test-drivers), on Debian's
# PostgreSQL 15 (as root: it installs packages, and pg from npm).
if [[ " $versions " == *" 15 "* ]] && [ "${LG_DRIVERS_TEST:-1}" != 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        t0=$SECONDS
        lg_say "the drivers test: make test-drivers"
        rc=0
        run_marked env -u PG_CONFIG ./test/drivers-test.sh || rc=$?
        if [ "$rc" = 0 ]; then
            passed=$((passed + 1))
            summary+=("drivers and PgBouncer: 1 passed, 0 failed, $((SECONDS - t0)) s")
        else
            failed=$((failed + 1))
            summary+=("drivers and PgBouncer: 0 passed, 1 failed, $((SECONDS - t0)) s (failed: drivers)")
        fi
    else
        summary+=("drivers and PgBouncer: skipped (it installs packages: run as root)")
    fi
fi

# The objects in the tree are now built for the last version tested: clean
# them, so that a plain "make install" does not install them into another.
make -s clean >/dev/null 2>&1 || true

echo
lg_say "summary ($((SECONDS - start)) s)"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
