#!/usr/bin/env bash
# make docs: write the generated reference tables of README.md and docs/
# (settings, the columns of every view and function, the kinds of limit)
# from a throwaway server with leakguard preloaded, as test/demo.sh starts
# one: build, install, initdb in a scratch directory, a private Unix
# socket, no TCP port, the server run as an unprivileged user; then
# test/docs-gen.pl.  test/t/045_docs_generated.pl checks that the
# committed pages are what this writes.
#
#   make docs                       write the tables
#   LG_DOCS_CHECK=1 make docs       only compare; exit 1 if a page differs
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

lg_prepare

work=$(lg_workdir docs)
data="$work/data"
cleanup() {
    lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

lg_say "starting a throwaway server in $work"
lg_as_user initdb -D "$data" -A trust -U postgres >/dev/null
cat >> "$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = 5432
shared_preload_libraries = 'leakguard'
CONF
lg_as_user pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
export PGHOST=$work PGPORT=5432 PGUSER=postgres PGDATABASE=postgres
psql -XAtq -v ON_ERROR_STOP=1 -c "CREATE EXTENSION leakguard"

lg_say "generating the reference tables of README.md and docs/"
rc=0
perl test/docs-gen.pl ${LG_DOCS_CHECK:+--check} . || rc=$?
if [ "$rc" = 0 ] && [ -n "${LG_DOCS_CHECK:-}" ]; then
    lg_say "the generated tables are up to date"
elif [ "$rc" = 0 ]; then
    lg_say "the generated tables are written; git diff shows what changed"
fi
exit "$rc"
