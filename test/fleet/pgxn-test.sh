#!/usr/bin/env bash
# test/fleet/pgxn-test.sh: the PGXN release bundle.
#
# Installs, as root and when missing, Debian's pgxnclient and unzip.  Runs
# make dist (the committed tree at HEAD), checks the zip's name and that
# META.json sits at the root of its distribution directory and names the
# same version, removes leakguard from the PostgreSQL of PG_CONFIG
# (Debian's 15 by default), installs it again with pgxnclient from the
# local file (no network), then starts a throwaway server with it preloaded
# and runs CREATE EXTENSION.  Run as root: it writes into the PostgreSQL
# installation.  Exits non-zero if a check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
. test/fleet/lib.sh

if [ "$(id -u)" != 0 ]; then
    echo "pgxn test: run as root (it installs into $(${PG_CONFIG:-pg_config} --pkglibdir))" >&2
    exit 1
fi
lg_install_packages pgxnclient unzip
lg_ensure_packages
lg_setup_paths
lg_setup_user

work=$(lg_workdir pgxn)
data="$work/data"
cleanup() {
    lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true
    if [ "$fleet_failed" = 0 ]; then
        rm -rf "$work"
    else
        echo "pgxn test: files kept in $work"
    fi
}
trap cleanup EXIT

version=$(perl -MJSON::PP -0777 -ne 'print decode_json($_)->{version}' META.json)
zip="leakguard-$version.zip"

lg_say "make dist"
rm -f "$zip"
make -s dist
mv "$zip" "$work/"
fleet_check "make dist built $zip" test -s "$work/$zip"
fleet_check "META.json is at the root of leakguard-$version/" \
    sh -c "unzip -Z1 '$work/$zip' | grep -qx 'leakguard-$version/META.json'"
fleet_check "every file is under leakguard-$version/" \
    sh -c "! unzip -Z1 '$work/$zip' | grep -v '^leakguard-$version/'"
fleet_check "the bundle's META.json names version $version" \
    sh -c "unzip -p '$work/$zip' 'leakguard-$version/META.json' | perl -MJSON::PP -0777 -ne 'exit(decode_json(\$_)->{version} ne \"$version\")'"

lg_say "pgxn install ./$zip into $PG_CONFIG"
pkglibdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension
rm -f "$pkglibdir/leakguard.so" "$extdir"/leakguard.control "$extdir"/leakguard--*.sql
rm -rf "$pkglibdir/bitcode/leakguard" "$pkglibdir/bitcode/leakguard.index.bc"
rc=0
(cd "$work" && pgxn install --yes --pg_config "$PG_CONFIG" --make make "./$zip") >"$work/pgxn.log" 2>&1 || rc=$?
[ $rc = 0 ] || tail -n 30 "$work/pgxn.log"
fleet_check "pgxn install ./$zip" test $rc = 0
fleet_check "pgxn installed leakguard.so" test -f "$pkglibdir/leakguard.so"
fleet_check "pgxn installed leakguard.control" test -f "$extdir/leakguard.control"

lg_say "CREATE EXTENSION on a throwaway server"
lg_as_user initdb -D "$data" -A trust >/dev/null
cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = 5432
shared_preload_libraries = 'leakguard'
CONF
lg_as_user pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
psql_w() { lg_as_user psql -X -q -h "$work" -p 5432 -d postgres -v ON_ERROR_STOP=1 "$@"; }
fleet_check "CREATE EXTENSION leakguard" psql_w -c "CREATE EXTENSION leakguard"
fleet_check "the extension is version $(sed -n "s/^default_version = '\(.*\)'/\1/p" leakguard.control)" \
    test "$(psql_w -Atc "SELECT extversion FROM pg_extension WHERE extname = 'leakguard'")" = \
         "$(sed -n "s/^default_version = '\(.*\)'/\1/p" leakguard.control)"
worker_runs() { [ "$(psql_w -Atc "SELECT pid IS NOT NULL FROM leakguard.status()")" = t ]; }
fleet_wait 30 "the worker runs" worker_runs

fleet_done "pgxn test"
