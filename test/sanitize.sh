#!/usr/bin/env bash
# make sanitize: run the pg_regress and TAP suites with every server under
# valgrind memcheck and leakguard built with UBSan; fail on any report whose
# stack passes through leakguard's code; then reinstall the normal build.
#
# AddressSanitizer is not used: its runtime must be preloaded into a server
# that was not built with it, and with Debian's binaries a library
# constructor then deadlocks in bindtextdomain() before main().
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

lg_ensure_packages $LG_SANITIZE_PACKAGES
rc=0
LG_SANITIZE=1 LG_FUZZ_SECONDS=1 LG_RACES_SECONDS=90 ./test/run-tests.sh || rc=$?
lg_setup_paths
unset LG_EXTRA_COPT
lg_build_install
exit $rc
