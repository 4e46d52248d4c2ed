# leakguard.leak_sources: which code path leaks.
#
# A small Python application (psycopg2) leaks from two code paths: one
# leaves its session idle in transaction after "UPDATE orders ..." (five
# times, with other constants each time), the other after "SELECT ... FROM
# routes ..." (twice).  leak_sources lists exactly two sources for it,
# ranked 5 and 2, keyed by the query id pg_stat_statements shows for each
# statement; with compute_query_id off, by the fingerprint of the text,
# grouped the same way.  An unprivileged reader sees the counts, not
# another role's statement.  The sources survive a clean restart, reset()
# clears them, and dry_run counts without ending a session.
use strict;
use warnings;

use File::Temp ();
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $python = '/usr/bin/python3';
plan skip_all => 'python3-psycopg2 is not installed'
  unless system($python, '-c', 'import psycopg2') == 0;

# pg_stat_statements where the installation has it (Debian's contrib);
# otherwise the server computes query ids by itself.
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my $pgss = -f "$sharedir/extension/pg_stat_statements.control";
note($pgss ? 'with pg_stat_statements' : 'without pg_stat_statements: compute_query_id = on');

my $node = lg_node('sources', conf => q{
max_connections = 30
leakguard.application_timeouts = 'shop*=500ms'
} . ($pgss ? "shared_preload_libraries = 'leakguard, pg_stat_statements'\n"
	: "compute_query_id = on\n"));
$node->safe_psql('postgres', q{
	CREATE TABLE orders (id integer PRIMARY KEY, state text);
	INSERT INTO orders SELECT i, 'new' FROM generate_series(1, 10) i;
	CREATE TABLE routes (id integer PRIMARY KEY, name text);
	INSERT INTO routes SELECT i, 'route ' || i FROM generate_series(1, 10) i;
	GRANT SELECT, UPDATE ON orders, routes TO app;
});
$node->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements') if $pgss;

# The application: each code path opens a connection, runs its statement
# in the transaction psycopg2 opens, and never commits nor closes it.
my $dir = File::Temp::tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $script = "$dir/shop.py";
open my $fh, '>', $script or die "$script: $!";
print $fh <<'PY';
import sys
import psycopg2

dsn, app, orders, routes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
held = []


def pay(order_id):
    conn = psycopg2.connect(dsn, application_name=app)
    conn.cursor().execute("UPDATE orders SET state = %s WHERE id = %s",
                          ("paid-%d" % order_id, order_id))
    held.append(conn)           # the leak: never committed, never closed


def route(route_id):
    conn = psycopg2.connect(dsn, application_name=app)
    cur = conn.cursor()
    cur.execute("SELECT name FROM routes WHERE id = %s", (route_id,))
    cur.fetchall()
    held.append(conn)           # the leak


for i in range(1, orders + 1):
    pay(i)
for i in range(1, routes + 1):
    route(i)
print("leaked", flush=True)
sys.stdin.readline()
PY
close $fh;
chmod 0644, $script;

my $dsn = 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres user=app';

# Start the application; returns once its connections are leaked.
sub run_shop
{
	my ($app, $orders, $routes) = @_;
	my %p = (in => '', out => '', err => '');
	$p{h} = IPC::Run::start([ $python, $script, $dsn, $app, $orders, $routes ],
		'<', \$p{in}, '>', \$p{out}, '2>', \$p{err},
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	$p{h}->pump until $p{out} =~ /leaked/ || !$p{h}->pumpable;
	die "the application failed: $p{err}" unless $p{out} =~ /leaked/;
	return \%p;
}

sub stop_shop
{
	my ($p) = @_;
	$p->{in} .= "stop\n";
	$p->{h}->finish;
	return;
}

my $ranked = q{
	SELECT leaks, kind, dry_run, query ~ '^UPDATE orders|^SELECT name FROM routes'
	  FROM leakguard.leak_sources WHERE application_name = 'shop'
	 ORDER BY leaks DESC};

# The statement's query id as the server computes it, read from a session
# that runs it and stays idle in transaction (an application without a
# limit).
sub server_query_id
{
	my ($sql) = @_;
	my $s = lg_session($node, app => 'probe', leak => 0);
	$s->query('BEGIN');
	$s->query($sql);
	my $id = $node->safe_psql('postgres',
		'SELECT query_id FROM pg_stat_activity WHERE pid = ' . $s->pid);
	$s->query('ROLLBACK');
	$s->close;
	return $id;
}

# --- query ids ---------------------------------------------------------
my $shop = run_shop('shop', 5, 2);
ok( $node->poll_query_until('postgres', qq{
		SELECT coalesce(sum(leaks), 0) = 7 FROM leakguard.leak_sources
		 WHERE application_name = 'shop'}),
	'the seven leaks are recorded');
stop_shop($shop);

is($node->safe_psql('postgres', $ranked), "5|idle in transaction|0|t\n2|idle in transaction|0|t",
	'exactly two sources, ranked 5 (UPDATE orders) and 2 (SELECT ... FROM routes)');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM leakguard.leak_sources
		 WHERE application_name = 'shop' AND usename = 'app' AND datname = 'postgres'
		   AND client_addr = '127.0.0.1' AND queryid IS NOT NULL
		   AND max_held >= interval '500ms' AND total_held >= leaks * interval '500ms'
		   AND first_seen <= last_seen}),
	'2', 'each names the role, database, client address and how long the sessions held');
like( $node->safe_psql('postgres', q{
		SELECT query FROM leakguard.leak_sources
		 WHERE application_name = 'shop' AND leaks = 5}),
	qr/^UPDATE orders SET state = 'paid-\d' WHERE id = \d$/,
	'the statement is shown as the last leaking session ran it');

my $update_id = server_query_id(q{UPDATE orders SET state = 'x' WHERE id = 9});
my $select_id = server_query_id(q{SELECT name FROM routes WHERE id = 9});
is( $node->safe_psql('postgres', q{
		SELECT string_agg(queryid::text, ' ' ORDER BY leaks DESC)
		  FROM leakguard.leak_sources WHERE application_name = 'shop'}),
	"$update_id $select_id",
	'keyed by the query id the server computes for each statement');
SKIP:
{
	skip 'pg_stat_statements is not installed', 1 unless $pgss;
	is( $node->safe_psql('postgres', q{
			SELECT s.leaks, p.calls >= s.leaks, p.query
			  FROM leakguard.leak_sources s
			  JOIN pg_stat_statements p
			    ON p.queryid = s.queryid
			   AND p.userid = 'app'::regrole AND p.dbid = (SELECT oid FROM pg_database WHERE datname = s.datname)
			 WHERE s.application_name = 'shop'
			 ORDER BY s.leaks DESC}),
		"5|t|UPDATE orders SET state = \$1 WHERE id = \$2\n2|t|SELECT name FROM routes WHERE id = \$1",
		'which is pg_stat_statements\' queryid of each statement');
}

# --- privacy -----------------------------------------------------------
is( $node->safe_psql('postgres', q{
		SELECT leaks, query, queryid IS NULL, client_addr IS NULL
		  FROM leakguard.leak_sources WHERE application_name = 'shop'
		 ORDER BY leaks DESC}, connstr => $node->connstr('postgres') . ' user=reader'),
	"5|<insufficient privilege>|t|t\n2|<insufficient privilege>|t|t",
	'an unprivileged reader sees the counts, not the statement of another role');
like( $node->safe_psql('postgres', q{
		SELECT string_agg(query, ' / ' ORDER BY leaks DESC) FROM leakguard.leak_sources
		 WHERE application_name = 'shop' AND queryid IS NOT NULL AND client_addr IS NOT NULL},
		connstr => $node->connstr('postgres') . ' user=app'),
	qr{^UPDATE orders .* / SELECT name FROM routes }, 'the role itself sees its statements');

# --- persistence and reset() --------------------------------------------
my $before = $node->safe_psql('postgres', q{
	SELECT string_agg(format('%s %s %s %s %s', queryid, leaks, max_held, first_seen, last_seen), E'\n' ORDER BY leaks)
	  FROM leakguard.leak_sources});
$node->restart;
$node->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM leakguard.status()')
  or die 'the worker did not start again';
is( $node->safe_psql('postgres', q{
		SELECT string_agg(format('%s %s %s %s %s', queryid, leaks, max_held, first_seen, last_seen), E'\n' ORDER BY leaks)
		  FROM leakguard.leak_sources}),
	$before, 'the sources survive a clean restart');
$node->safe_psql('postgres', 'SELECT leakguard.reset()');
is( $node->safe_psql('postgres', q{
		SELECT (SELECT count(*) FROM leakguard.leak_sources), sources_evicted FROM leakguard.status()}),
	'0|0', 'reset() clears them');

# --- no query id: the fingerprint groups the same way ---------------------
$node->safe_psql('postgres', 'ALTER SYSTEM SET compute_query_id = off');
$node->reload;
$shop = run_shop('shop', 5, 2);
ok( $node->poll_query_until('postgres', q{
		SELECT coalesce(sum(leaks), 0) = 7 FROM leakguard.leak_sources
		 WHERE application_name = 'shop'}),
	'with compute_query_id off, the seven leaks are recorded');
stop_shop($shop);
is($node->safe_psql('postgres', $ranked), "5|idle in transaction|0|t\n2|idle in transaction|0|t",
	'two sources, 5 and 2, by the fingerprint of the text without its constants');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM leakguard.leak_sources WHERE queryid IS NULL}),
	'2', 'with no query id to show: a fingerprint is not one');

# --- dry_run counts without ending ---------------------------------------
lg_set_conf($node, "leakguard.mode = 'dry_run'\n");
$node->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()})
  or die 'dry_run was not taken up';
$shop = run_shop('shop-dry', 0, 2);
ok( $node->poll_query_until('postgres', q{
		SELECT leaks = 2 AND dry_run = 2 FROM leakguard.leak_sources
		 WHERE application_name = 'shop-dry'}),
	'in dry_run, the sessions are counted as leaks reported only');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		 WHERE application_name = 'shop-dry' AND state = 'idle in transaction'}),
	'2', 'and they are not ended');
stop_shop($shop);

$node->stop;
done_testing();
