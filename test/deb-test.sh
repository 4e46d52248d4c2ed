#!/usr/bin/env bash
# make test-deb: the Debian package, installed, on Debian's PostgreSQL 15.
#
#   1. builds postgresql-15-leakguard and leakguard-monitoring
#      (test/deb-build.sh, make deb);
#   2. saves the leakguard files make install put in Debian's PostgreSQL
#      15, installs both packages with dpkg -i over them, and checks with
#      dpkg --verify that the installed files are the packages', and that
#      monitoring/ is in /usr/share/leakguard/monitoring/;
#   3. runs the package's autopkgtest, debian/tests/installcheck (the
#      pg_regress suite on a temporary instance of the installed server);
#   4. starts a throwaway cluster (initdb in a scratch directory, run as
#      "postgres", private Unix socket directory and no TCP listener, so no
#      port can clash) with shared_preload_libraries = 'leakguard' and
#      leakguard.application_timeouts = 'leak=1s', runs CREATE EXTENSION,
#      opens a session with application_name "leak" that runs BEGIN and
#      SELECT 1 and then waits (as an ordinary role: superusers are only
#      reported), and polls pg_stat_activity until leakguard has terminated
#      it (seen in leakguard.terminations and by the client);
#   5. whatever happened: stops the cluster, removes the package
#      and leakguard-monitoring (dpkg -r) and puts back the from-source install: the leakguard files
#      that were installed before (saved in step 2), or, if there were
#      none, make install from the working tree.
#
# Root only (dpkg); refuses to run if the package is already installed.
# Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

if [ "$(id -u)" != 0 ]; then
    echo "make test-deb installs a package with dpkg: run it as root" >&2
    exit 1
fi

# Debian's PostgreSQL 15, whatever PG_CONFIG says
unset PG_CONFIG
LG_PG_MAJOR=15
lg_ensure_packages
lg_setup_paths
lg_setup_user
pkg=postgresql-$LG_PG_MAJOR-leakguard
monpkg=leakguard-monitoring
timeout=${LG_DEB_TEST_TIMEOUT:-60}
for p in "$pkg" "$monpkg"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        echo "$p is installed; make test-deb would replace it: remove it first (dpkg -r $p)" >&2
        exit 1
    fi
done

out=${LG_DEB_DIR:-$PWD/build/deb}
LG_DEB_DIR=$out ./test/deb-build.sh
version=$(dpkg-parsechangelog -S Version)
deb=$out/${pkg}_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || { echo "$deb was not built" >&2; exit 1; }
mondeb=$out/${monpkg}_${version}_all.deb
[ -f "$mondeb" ] || { echo "$mondeb was not built" >&2; exit 1; }

work=$(lg_workdir deb-test)
data=$work/data
psql_t() { lg_as_user psql -X -q -At -h "$work" -p 5432 -d postgres "$@"; }
client=""
# The from-source install the package replaces, put back at the end.
{
    find "$("$PG_CONFIG" --pkglibdir)" -maxdepth 1 -name 'leakguard*' || true
    find "$("$PG_CONFIG" --pkglibdir)/bitcode" -maxdepth 1 -name 'leakguard*' 2>/dev/null || true
    find "$("$PG_CONFIG" --sharedir)/extension" -maxdepth 1 -name 'leakguard*' || true
} >"$work/before.list"
tar -cPf "$work/before.tar" -T "$work/before.list"

restore() {
    local rc=$?
    set +e
    [ -z "$client" ] || kill "$client" 2>/dev/null
    [ ! -f "$data/postmaster.pid" ] || lg_as_user pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1
    dpkg -r "$pkg" "$monpkg" >/dev/null
    if [ -s "$work/before.list" ]; then
        lg_say "restoring the from-source install: dpkg -r $pkg, and the $(wc -l <"$work/before.list") leakguard files installed before"
        tar -xPf "$work/before.tar"
    else
        lg_say "restoring the from-source install: dpkg -r $pkg, make install"
        lg_build_install
    fi
    if [ "$rc" = 0 ]; then rm -rf "$work"; else echo "outputs kept in $work"; fi
    exit "$rc"
}
trap restore EXIT

lg_say "installing $deb and $mondeb"
dpkg -i "$deb" "$mondeb"
verify=$(dpkg --verify "$pkg" "$monpkg")
[ -z "$verify" ] || { echo "dpkg --verify $pkg $monpkg: $verify" >&2; exit 1; }
echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg") installed; its files:"
dpkg -L "$pkg" | grep -E '\.(so|control|sql)$'
for f in queries.yaml leakguard-alerts.yml leakguard-alerts.test.yml leakguard-dashboard.json; do
    cmp "/usr/share/leakguard/monitoring/$f" "monitoring/$f" ||
        { echo "$monpkg: /usr/share/leakguard/monitoring/$f is not monitoring/$f" >&2; exit 1; }
done
echo "$monpkg installed monitoring/ in /usr/share/leakguard/monitoring/"

lg_say "the package's autopkgtest: debian/tests/installcheck"
debian/tests/installcheck

lg_say "a throwaway cluster in $work with leakguard preloaded, leakguard.application_timeouts = 'leak=1s'"
lg_as_user initdb -D "$data" -A trust >"$work/initdb.log"
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = 5432
shared_preload_libraries = 'leakguard'
leakguard.application_timeouts = 'leak=1s'
CONF
lg_as_user pg_ctl -D "$data" -l "$work/server.log" -w start >/dev/null
psql_t -c "CREATE EXTENSION leakguard" -c "CREATE ROLE leak_app LOGIN"
echo "extension: $(psql_t -c "SELECT extname || ' ' || extversion FROM pg_extension WHERE extname = 'leakguard'")," \
     "library: $(psql_t -c "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'")"

# wait_for WHAT SQL: poll until SQL returns t, at most $timeout s
wait_for() {
    local deadline=$((SECONDS + timeout))
    until [ "$(psql_t -c "$2")" = t ]; do
        if [ $SECONDS -ge $deadline ]; then
            echo "timed out after $timeout s waiting for $1" >&2
            psql_t -c "SELECT pid, application_name, state, now() - state_change AS idle FROM pg_stat_activity WHERE backend_type = 'client backend'" >&2
            tail -n 30 "$work/server.log" >&2
            return 1
        fi
        sleep 0.2
    done
}

lg_say "a session with application_name 'leak' runs BEGIN; SELECT 1; and waits"
# The client reads its statements from a FIFO that stays open, so it waits
# for more input inside its transaction until the server ends the session.
mkfifo "$work/client.in"
chown "$LG_USER" "$work/client.in"
lg_as_user env PGAPPNAME=leak psql -X -h "$work" -p 5432 -d postgres -U leak_app \
    <"$work/client.in" >"$work/client.out" 2>"$work/client.err" &
client=$!
exec 4>"$work/client.in"
printf 'BEGIN;\nSELECT 1;\n' >&4
wait_for "the session to be idle in transaction" \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'leak' AND state = 'idle in transaction'"
t0=$SECONDS
echo "the session is idle in transaction"
wait_for "leakguard to terminate the session" \
    "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'leak'"
echo "the session is gone after about $((SECONDS - t0)) s"
psql_t -c "SELECT 'leakguard.terminations: ' || application_name || ', idle ' || idle_time || ', limit ' || timeout || ', ' || action FROM leakguard.terminations WHERE application_name = 'leak'"
[ "$(psql_t -c "SELECT count(*) FROM leakguard.terminations WHERE application_name = 'leak' AND action = 'terminated'")" -ge 1 ] || {
    echo "leakguard.terminations has no 'terminated' row for the session" >&2
    exit 1
}
# the client learns of it at its next statement
trap '' PIPE
printf 'SELECT 2;\n' >&4 2>/dev/null || true
exec 4>&-
wait "$client" || true
client=""
echo "the client was told: $(tr '\n' ' ' <"$work/client.err")"
grep -qi "terminat" "$work/client.err" || {
    echo "the client was not told its session was terminated" >&2
    exit 1
}
lg_as_user pg_ctl -D "$data" -w stop >/dev/null
lg_say "the package works: installed, preloaded, and it terminated the leaked session"
