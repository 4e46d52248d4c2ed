#!/usr/bin/env bash
# test/citus-build.sh [--print-pg-config] [--rebuild]
#
# Builds Citus from its upstream source tarball against the PostgreSQL that
# PG_CONFIG names (one that test/pg-build.sh 18 made: Citus 14 supports
# PostgreSQL 16-18) and installs it into that installation, for the Citus
# tests (make test-citus).  Nothing of Citus goes into leakguard.
#
# The tarball: $LG_CITUS_TARBALL, by default ../shared/citus/citus-14.0.1.tar.gz
# from the project's root (the clone sits beside ../shared in CI).  It is
# never built unless its SHA-256 is the one recorded below (from the README
# beside it).  Missing build dependencies are installed through apt when run
# as root, saying so.
#
# The cache: the installation is reused when its stamp file
# (SHAREDIR/extension/.leakguard-citus-build) records the same tarball
# SHA-256 and PostgreSQL version and citus.so and citus.control are in
# place; a second run then only checks and returns.
#   --rebuild   build even if the stamp says the installation is complete
#   --print-pg-config   progress on stderr; only the pg_config path on stdout
#
# Exit status: 0 built or cached; 3 the tarball is not there (callers skip
# the Citus tests and say so); 1 anything else.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
umask 022

citus_version=14.0.1
citus_sha256=acfa9a77cd84a8e1edab26cca4a71355f39c910c01586da89560e0240d4b05ba
tarball=${LG_CITUS_TARBALL:-../shared/citus/citus-$citus_version.tar.gz}
build_packages="build-essential liblz4-dev libzstd-dev libkrb5-dev libssl-dev libcurl4-openssl-dev"

print_only=0 rebuild=0
for arg in "$@"; do
    case "$arg" in
        --print-pg-config) print_only=1 ;;
        --rebuild) rebuild=1 ;;
        *) echo "usage: $0 [--print-pg-config] [--rebuild]" >&2; exit 2 ;;
    esac
done
exec 3>&1
[ $print_only = 1 ] && exec 1>&2

[ -n "${PG_CONFIG:-}" ] || { echo "PG_CONFIG is not set: point it at the pg_config of test/pg-build.sh 18" >&2; exit 1; }
lg_setup_paths
if [ ! -f "$tarball" ]; then
    echo "Citus source not found at $tarball (set LG_CITUS_TARBALL)" >&2
    exit 3
fi
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")

sharedir=$("$PG_CONFIG" --sharedir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
stamp=$sharedir/extension/.leakguard-citus-build
mkdir -p "$sharedir/extension"

# One build per installation at a time.
exec 9>"$sharedir/extension/.leakguard-citus-build.lock"
flock 9

stamp_value() { sed -n "s/^$1=//p" "$stamp" 2>/dev/null; }
finish() {
    echo "Citus $(stamp_value version) in $pkglibdir (PostgreSQL $LG_PG_VERSION); pg_config:"
    echo "$PG_CONFIG" >&3
    exit 0
}
cache_complete() {
    [ -f "$stamp" ] && [ -f "$pkglibdir/citus.so" ] && [ -f "$sharedir/extension/citus.control" ] &&
        [ "$(stamp_value sha256)" = "$citus_sha256" ] &&
        [ "$(stamp_value pg_version)" = "$LG_PG_VERSION" ]
}

if [ $rebuild = 0 ] && cache_complete; then
    lg_say "using the installed build of Citus $(stamp_value version) ($(stamp_value built))"
    finish
fi

echo "$citus_sha256  $tarball" | sha256sum -c --quiet || {
    echo "REFUSED: $tarball does not have the SHA-256 $citus_sha256; nothing was built" >&2
    exit 1
}
lg_say "Citus $citus_version: $tarball, SHA-256 $citus_sha256 verified"
lg_install_packages $build_packages

build=$(mktemp -d "${TMPDIR:-/tmp}/leakguard-citus-build.XXXXXX")
log=$build.log
trap 'rm -rf "$build"' EXIT
jobs=${LG_PG_JOBS:-$(nproc)}
start=$(date +%s)
step() {	# step WHAT COMMAND...: run, logging; on failure show the log's end
    local t0=$SECONDS
    printf '  %s' "$1"
    if ! "${@:2}" >>"$log" 2>&1; then
        echo
        tail -n 60 "$log"
        echo "Citus $citus_version: $1 failed; the whole log is $log" >&2
        exit 1
    fi
    echo " ($((SECONDS - t0)) s)"
}
# Run from make, this script inherits MAKEFLAGS (and a jobserver) that are
# not Citus's.
unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES
: >"$log"
lg_say "building Citus $citus_version against PostgreSQL $LG_PG_VERSION in $build (log in $log)"
step "unpacking" tar -xzf "$tarball" -C "$build" --strip-components=1
cd "$build"
step "configure" ./configure PG_CONFIG="$PG_CONFIG"
step "make -j$jobs" make -j"$jobs"
step "make install" make install
cd - >/dev/null
cat > "$stamp" <<EOS
version=$citus_version
sha256=$citus_sha256
pg_version=$LG_PG_VERSION
built=$(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - start )) s
EOS
cache_complete || { echo "the Citus installation in $pkglibdir is incomplete" >&2; exit 1; }
rm -f "$log"
lg_say "Citus $citus_version built and installed in $(( $(date +%s) - start )) s"
finish
