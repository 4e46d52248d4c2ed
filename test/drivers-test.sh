#!/usr/bin/env bash
# make test-drivers: what real client drivers and PgBouncer report when
# leakguard ends a session idle in transaction (25P03), ends an idle session
# (57P05) or refuses a connection beyond a quota (53300), and what their
# pools do with a connection leakguard ended.
#
# Installs what is missing (as root: Debian's psycopg2, psycopg 3 and
# psycopg_pool, asyncpg, SQLAlchemy, pgjdbc with a JDK, PgBouncer; pg 8.x
# from the npm registry into LG_DRIVERS_NPM_DIR), builds and installs
# leakguard, starts a throwaway server (scratch directory, a free port on
# 127.0.0.1, run as an unprivileged user) with short limits from
# test/drivers/server.conf, and runs one script per client from
# test/drivers/. Each script prints "ok - ..." or "not ok - ..." per check
# of the observed behaviour; a script that dies counts as one failure. The
# last line is "N passed, M failed"; the exit status is non-zero on any
# failure. Everything is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

LG_DRIVER_PACKAGES="python3-psycopg2 python3-psycopg python3-psycopg-pool python3-asyncpg
    python3-sqlalchemy libpostgresql-jdbc-java default-jdk-headless pgbouncer"
npm_dir=${LG_DRIVERS_NPM_DIR:-/var/tmp/leakguard-drivers-npm}

lg_ensure_packages $LG_DRIVER_PACKAGES
command -v npm >/dev/null || lg_install_packages nodejs npm
lg_setup_paths
lg_setup_user
lg_build_install

if [ ! -f "$npm_dir/node_modules/pg/package.json" ]; then
    lg_say "installing node-postgres (pg 8.x) from the npm registry into $npm_dir"
    mkdir -p "$npm_dir"
    (cd "$npm_dir" && npm install --silent --no-audit --no-fund --no-save pg@8 >/dev/null)
fi

work=$(lg_workdir drivers)
data="$work/data"
cleanup() {
    lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
lg_say "starting a throwaway server on 127.0.0.1:$port ($work)"
lg_as_user initdb -D "$data" -A trust >/dev/null
cat test/drivers/server.conf >> "$data/postgresql.conf"
cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
CONF
lg_as_user pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
lg_as_user psql -X -q -h "$work" -p "$port" -d postgres -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION leakguard;
CREATE ROLE drv LOGIN;
CREATE ROLE lg_bq LOGIN;
SQL
mkdir "$work/pgbouncer"
[ "$(id -u)" = 0 ] && chown "$LG_USER" "$work/pgbouncer"

passed=0
failed=0
# run NAME COMMAND...: run one client's script as LG_USER (at most 120 s),
# show its output and count its checks.
run() {
    local name=$1 status=0 out="$work/$1.out"
    shift
    lg_say "$name"
    lg_as_user env LG_HOST=127.0.0.1 LG_PORT="$port" PYTHONPATH="$PWD/test/drivers" \
        NODE_PATH="$npm_dir/node_modules" LG_PGBOUNCER_DIR="$work/pgbouncer" \
        LG_SERVER_LOG="$work/server.log" timeout 120 "$@" >"$out" 2>&1 || status=$?
    sed 's/^/  /' "$out"
    passed=$((passed + $(grep -c '^ok - ' "$out" || true)))
    failed=$((failed + $(grep -c '^not ok - ' "$out" || true)))
    if [ "$status" != 0 ]; then
        echo "  not ok - $name: the script exited with status $status"
        failed=$((failed + 1))
    fi
}

run psycopg2 /usr/bin/python3 test/drivers/psycopg2_client.py
run "psycopg 3 and psycopg_pool" /usr/bin/python3 test/drivers/psycopg3_client.py
run asyncpg /usr/bin/python3 test/drivers/asyncpg_client.py
run "SQLAlchemy on psycopg2" /usr/bin/python3 test/drivers/sqlalchemy_client.py
run pgjdbc java -cp /usr/share/java/postgresql.jar test/drivers/PgjdbcClient.java
run node-postgres node test/drivers/node_client.js
run PgBouncer /usr/bin/python3 test/drivers/pgbouncer_client.py

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
