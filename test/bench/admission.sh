#!/usr/bin/env bash
# test/bench/admission.sh: what a connection costs the server with leakguard,
# in instructions, at max_connections 100, 1000 and 5000 (make bench runs it
# as its "admission" part; it also runs alone).
#
# Wall-clock figures of connection setup on this shared 2-core machine
# spread by 25-40% from run to run, more than the effect.  Instruction
# counts do not: the server runs under valgrind's callgrind, which counts
# every instruction of every backend (a forked backend writes its own
# profile), and the figures are read from those profiles:
#
#   per connection   all instructions of one backend, from the start of
#                    the forked child (InitPostmasterChild) to its exit, for
#                    a connection of an ordinary role that runs "SELECT 1"
#                    and leaves (median over the connections of an arm);
#   admission        inclusive instructions of leakguard's authentication
#                    hook (counting and charging the connection) and of its
#                    exit callback (releasing it).
#
# Arms, each at every max_connections:
#   off        leakguard not loaded
#   1.1        leakguard 1.1 (git 5a2a285, built in a scratch directory),
#              20 quota rules, the last matching (a quota never reached)
#   quota      this build, the same 20 rules
#   qualified  this build, 20 rules qualified by role, the last matching
# The quota arms hold LG_BENCH_ADMISSION_HELD idle connections of other
# applications while they count, so that a cost that grows with the
# connections in place (1.1 walks every backend slot) shows.
#
# Environment: LG_BENCH_ADMISSION_MAXCONN [100 1000 5000],
# LG_BENCH_ADMISSION_CONNECTIONS [20] connections measured per arm,
# LG_BENCH_ADMISSION_HELD [20] idle connections held, LG_BENCH_KEEP.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

MAXCONN=${LG_BENCH_ADMISSION_MAXCONN:-100 1000 5000}
NCONN=${LG_BENCH_ADMISSION_CONNECTIONS:-20}
HELD=${LG_BENCH_ADMISSION_HELD:-20}
BASE_REV=5a2a285
PORT=5432

lg_ensure_packages valgrind git
lg_setup_paths
lg_setup_user

work=$(lg_workdir admission)
cleanup() {
    local rc=$?
    set +e
    [ -f "$work/data/postmaster.pid" ] &&
        lg_as_user pg_ctl -D "$work/data" -m immediate stop >/dev/null 2>&1
    pkill -u "$LG_USER" -f "lgb_admission_hold" >/dev/null 2>&1
    if [ "${LG_BENCH_KEEP:-0}" = 1 ]; then echo "kept: $work" >&2; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT

# The two builds, each loaded by absolute path (nothing is installed).
build() {	# build DIR: leakguard built in DIR
    make -s -C "$1" clean PG_CONFIG="$PG_CONFIG" >/dev/null
    make -s -C "$1" PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
}
lg_say "building this leakguard and 1.1 ($BASE_REV) in $work"
mkdir -p "$work/new"
cp -r Makefile leakguard.control ./*.sql src "$work/new/"
build "$work/new"
git archive "$BASE_REV" Makefile leakguard.control src '*.sql' | tar -x -C "$(mkdir -p "$work/old" && echo "$work/old")"
build "$work/old"
[ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work"

rules() {	# rules QUALIFIER: 19 rules that do not match, then the benchmark's
    local i out=""
    for i in $(seq 1 19); do out="$out${out:+, }lgb_other$i$1 = 1000"; done
    echo "$out, lgb_admission$1 = 1000"
}
plain_rules=$(rules "")
qualified_rules=$(rules " user lgb_admission")

psql_a() { psql -X -q -At -h "$work" -p "$PORT" -U "$LG_USER" -d postgres "$@"; }

# run_arm NAME MAXCONN PRELOAD RULES: one server under callgrind; prints
# "NAME MAXCONN per-connection-median admission-median release-median"
run_arm() {
    local name=$1 maxconn=$2 preload=$3 rules=$4 out=$work/cg-$1-$2 i
    rm -rf "$work/data" "$out"
    mkdir -p "$out"
    [ "$(id -u)" = 0 ] && chown "$LG_USER" "$out"
    lg_as_user initdb -D "$work/data" -A trust --locale=C >/dev/null
    cat >>"$work/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $PORT
max_connections = $maxconn
shared_buffers = 16MB
fsync = off
autovacuum = off
shared_preload_libraries = '$preload'
leakguard.application_connection_limits = '$rules'
CONF
    # The postmaster and everything it forks under callgrind; a backend's
    # profile is written when it exits.
    lg_as_user env PATH="$PATH" valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
        --dump-instr=no --compress-strings=no --zero-before=InitPostmasterChild \
        "$PG_BINDIR/postgres" -D "$work/data" >"$work/server-$name-$maxconn.log" 2>&1 &
    for i in $(seq 1 600); do
        psql_a -c "SELECT 1" >/dev/null 2>&1 && break
        sleep 0.5
    done
    psql_a -c "SELECT 1" >/dev/null
    psql_a -c "CREATE ROLE lgb_admission LOGIN" >/dev/null
    # connections held by another application while the arm counts
    for i in $(seq 1 "$HELD"); do
        PGAPPNAME=lgb_admission_hold psql_a -U lgb_admission -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
    done
    for i in $(seq 1 600); do
        [ "$(psql_a -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lgb_admission_hold'")" -ge "$HELD" ] && break
        sleep 0.5
    done
    # the measured connections, one after the other
    for i in $(seq 1 "$NCONN"); do
        PGAPPNAME=lgb_admission psql_a -U lgb_admission -c "SELECT 1" >/dev/null
    done
    pkill -u "$LG_USER" -f "lgb_admission_hold" >/dev/null 2>&1 || true
    lg_as_user pg_ctl -D "$work/data" -m fast -w -t 600 stop >/dev/null
    wait 2>/dev/null || true
    # The backends' profiles: those of processes that ran PostgresMain,
    # less the held ones (pg_sleep) and the superuser's (the checks above).
    local f tot adm rel
    : >"$out/rows"
    for f in "$out"/cg.*; do
        callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$f" >"$f.txt" 2>/dev/null || continue
        grep -q "PostgresMain" "$f.txt" || continue
        grep -q "pg_sleep" "$f.txt" && continue
        grep -qE "CreateRole|ProcessUtility" "$f.txt" && continue
        tot=$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$f" | head -n 1)
        adm=$(awk '/lg_client_auth_hook/ { gsub(",", "", $1); print $1; exit }' "$f.txt")
        rel=$(awk '/lg_quota_release/ { gsub(",", "", $1); print $1; exit }' "$f.txt")
        echo "$tot ${adm:-0} ${rel:-0}" >>"$out/rows"
    done
    # the median: the first backends after start do more (caches cold)
    perl -e '
        my ($name, $maxconn, $file) = @ARGV;
        open my $fh, "<", $file or die;
        my @r = map { [split] } <$fh>;
        die "no backend profiles for $name at $maxconn\n" unless @r;
        sub med { my @v = sort { $a <=> $b } @_; return $v[$#v / 2] }
        printf "%s %d %d %.0f %.0f %.0f\n", $name, $maxconn, scalar(@r),
            med(map { $_->[0] } @r), med(map { $_->[1] } @r), med(map { $_->[2] } @r);
    ' "$name" "$maxconn" "$out/rows"
}

results=$work/results
: >"$results"
for m in $MAXCONN; do
    lg_say "max_connections = $m: arms off, 1.1, quota, qualified ($NCONN connections each, $HELD held, under callgrind)"
    run_arm off "$m" "" "" >>"$results"
    run_arm 1.1 "$m" "$work/old/leakguard" "$plain_rules" >>"$results"
    run_arm quota "$m" "$work/new/leakguard" "$plain_rules" >>"$results"
    run_arm qualified "$m" "$work/new/leakguard" "$qualified_rules" >>"$results"
done

echo
echo "### Connection admission, in instructions (callgrind; $(date -u '+%Y-%m-%d %H:%M UTC'), git $(git rev-parse --short HEAD), PostgreSQL $LG_PG_VERSION)"
echo
echo "Median over the backends of $NCONN connections that each run \`SELECT 1\`, with $HELD other connections held."
echo "\"per connection\": every instruction of the backend; \"admit\" and \"release\": leakguard's authentication hook and exit callback, inclusive."
echo
echo "| max_connections | arm | backends | per connection | vs off | admit | release |"
echo "|---:|---|---:|---:|---:|---:|---:|"
awk '
    { name[NR] = $1; m[NR] = $2; n[NR] = $3; tot[NR] = $4; adm[NR] = $5; rel[NR] = $6
      if ($1 == "off") off[$2] = $4 }
    END { for (i = 1; i <= NR; i++)
            printf "| %d | %s | %d | %d | %s | %d | %d |\n", m[i], name[i], n[i], tot[i],
                (name[i] == "off") ? "" : sprintf("%+.2f%%", (tot[i] - off[m[i]]) * 100.0 / off[m[i]]),
                adm[i], rel[i] }' "$results"
