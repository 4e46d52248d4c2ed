#!/usr/bin/env bash
# make test: the whole suite.
#
#   1. installs missing packages (as root), builds with -Werror, installs;
#   2. unit tests of the rule parser (test/unit), and a short fuzzing run
#      of it (test/fuzz);
#   3. pg_regress tests (sql/, expected/) on a temporary instance started
#      with leakguard preloaded (test/regress.conf);
#   4. TAP tests (test/t/*.pl) on temporary clusters, two files at a time
#      (PROVE_FLAGS, default -j2; one at a time under make sanitize);
#   5. the packaging metadata: META.json against the PGXN Meta Spec, and
#      its and debian/changelog's versions against leakguard.control
#      (test/check-meta.pl);
#   6. the shape of src/: no header over 350 lines, worker.c under 600,
#      no cycle of more than three files among the includes or the calls
#      between the objects (test/check-structure.pl).
#
# Against Debian's PostgreSQL 15, or the installation whose pg_config
# PG_CONFIG names (make test PG_CONFIG=...; test/pg-build.sh builds 17 and
# 18).  Servers run as an unprivileged user ("postgres" when run as root),
# in scratch directories under $TMPDIR, on free ports.  Prints a final
# "N passed, M failed" line and exits non-zero on any failure.
#
# For make test-all: LG_RESULTS_FILE, if set, gets one "passed NAME" or
# "failed NAME" line per suite; LG_SUMMARY_LABEL, if set, prefixes the
# final line ("PostgreSQL 17.6: N passed, M failed").
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

# make sanitize: the extension built with UBSan, and the servers of the
# pg_regress and TAP suites run under valgrind memcheck (see test/sanitize.sh).
if [ -n "${LG_SANITIZE:-}" ]; then
    LG_EXTRA_COPT="-fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    export LG_EXTRA_COPT
fi
lg_prepare
lg_say "testing against PostgreSQL $LG_PG_VERSION ($PG_CONFIG)"

passed=0
failed=0
failures=""
record() {	# record NAME RC
    if [ "$2" = 0 ]; then
        passed=$((passed + 1))
        [ -z "${LG_RESULTS_FILE:-}" ] || echo "passed $1" >>"$LG_RESULTS_FILE"
    else
        failed=$((failed + 1))
        failures="$failures $1"
        [ -z "${LG_RESULTS_FILE:-}" ] || echo "failed $1" >>"$LG_RESULTS_FILE"
    fi
}

work=$(lg_workdir test)
regress_bindir=$PG_BINDIR
if [ -n "${LG_SANITIZE:-}" ]; then
    regress_bindir=$(lg_valgrind_bindir "$work")
    export PATH="$regress_bindir:$PATH"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$work/sanitizer/ubsan"
    export PG_TEST_TIMEOUT_DEFAULT=${PG_TEST_TIMEOUT_DEFAULT:-900}
    export PGCTLTIMEOUT=900
fi
# Everything the tests read is copied into the work directory, which the
# unprivileged user owns: a clone in root's home (mode 0700) is not
# readable to it.
cp -r sql expected test README.md Makefile monitoring "$work/"
[ ! -d docs ] || cp -r docs "$work/"
# test/t/045 generates the kinds table from the code's table of kinds
mkdir -p "$work/src" && cp src/kinds.c "$work/src/"

# Fault-injection copies of leakguard, loaded by TAP tests through
# dynamic_library_path: fault_copy DIR DEFINE builds one in $work/DIR.
fault_copy() {
    mkdir -p "$work/$1"
    cp -r Makefile leakguard.control ./*.sql src "$work/$1/"
    make -s -C "$work/$1" clean PG_CONFIG="$PG_CONFIG" >/dev/null
    make -s -C "$work/$1" PG_CONFIG="$PG_CONFIG" with_llvm=no COPT="-Werror $2" >/dev/null
}
# test/t/013: a copy that looks for the backend status array under a name
# no server uses, to show what happens when it is not found.
lg_say "building a fault-injection copy of leakguard for test/t/013"
fault_copy fault "-DLG_STATUS_ARRAY_NAME='\"leakguard fault injection\"'"
# test/t/022 and 023: one copy with two hooks, inert unless their files
# exist in the data directory: the worker pauses a reload between
# PostgreSQL's reading of the configuration files and leakguard's own while
# leakguard_reload_pause exists (022, to edit the files in between), and
# offsets its system clock by the milliseconds in leakguard_clock_offset
# (023).
lg_say "building a fault-injection copy of leakguard for test/t/022 and 023"
fault_copy fault-hooks "-DLG_FAULT_RELOAD_PAUSE -DLG_FAULT_CLOCK_OFFSET_FILE='\"leakguard_clock_offset\"'"
[ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work"

lg_say "unit tests of the rule parser"
rc=0; make -s -C test/unit run || rc=$?
record unit $rc

lg_say "fuzzing the rule parser for ${LG_FUZZ_SECONDS:-10} s (make fuzz runs longer)"
rc=0; make -s -C test/fuzz run FUZZ_SECONDS="${LG_FUZZ_SECONDS:-10}" >"$work/fuzz.log" 2>&1 || rc=$?
grep -E "^(Done|stat::number_of_executed_units)" "$work/fuzz.log" || true
[ $rc = 0 ] || tail -n 40 "$work/fuzz.log"
record fuzz $rc

lg_say "pg_regress: $(sed -n 's/^REGRESS = //p' Makefile)"
rc=0
lg_as_user "$PGXS_DIR/src/test/regress/pg_regress" \
    --temp-instance="$work/tmp_regress" \
    --temp-config="$work/test/regress.conf" \
    --bindir="$regress_bindir" \
    --inputdir="$work" --outputdir="$work" \
    $(sed -n 's/^REGRESS = //p' Makefile) || rc=$?
if [ $rc != 0 ] && [ -f "$work/regression.diffs" ]; then
    cat "$work/regression.diffs"
fi
record pg_regress $rc

# Two TAP files at a time: each starts its own clusters on free ports and
# spends most of its time waiting on conditions.  One at a time under make
# sanitize, where every server runs under valgrind.  PROVE_FLAGS overrides.
if [ -n "${LG_SANITIZE:-}" ]; then
    prove_flags=${PROVE_FLAGS-}
else
    prove_flags=${PROVE_FLAGS--j2}
fi
lg_say "TAP tests: ${LG_TAP_TESTS:-test/t/*.pl}${prove_flags:+ (prove $prove_flags)}"
rc=0
(
    cd "$work"
    lg_as_user env TESTDIR="$work" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
        LG_RACES_SECONDS="${LG_RACES_SECONDS:-}" LG_FAULT_LIBDIR="$work/fault" \
        LG_SOURCE_DIR="$work" \
        LG_FAULT_RELOAD_LIBDIR="$work/fault-hooks" LG_FAULT_CLOCK_LIBDIR="$work/fault-hooks" \
        PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-120}" \
        prove -I "$PGXS_DIR/src/test/perl" -I "$work/test/perl" \
        $prove_flags ${LG_TAP_TESTS:-test/t/*.pl}
) || rc=$?
if [ $rc != 0 ]; then
    for log in "$work"/tmp_check/log/regress_log_*; do
        [ -f "$log" ] || continue
        echo "---- $log (last 60 lines)"
        tail -n 60 "$log"
    done
fi
record tap $rc

lg_say "packaging metadata: META.json, debian/changelog, leakguard.control"
rc=0; perl test/check-meta.pl || rc=$?
record meta $rc

lg_say "the shape of src/: header sizes, worker.c, cycles of includes and calls"
rc=0; perl test/check-structure.pl || rc=$?
record structure $rc

if [ -n "${LG_SANITIZE:-}" ]; then
    lg_say "valgrind and UBSan reports on leakguard's code"
    rc=0
    perl test/valgrind-report.pl "$work/sanitizer" || rc=$?
    record sanitizer $rc
fi

echo
if [ "$failed" = 0 ]; then
    rm -rf "$work"
else
    echo "failed suites:$failures (outputs kept in $work)"
fi
echo "${LG_SUMMARY_LABEL:+$LG_SUMMARY_LABEL: }$passed passed, $failed failed"
[ "$failed" = 0 ]
