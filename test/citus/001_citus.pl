# leakguard on a Citus cluster: a coordinator and two workers on loopback,
# each with shared_preload_libraries = 'citus,leakguard', the application
# running as a non-superuser role.  The scenarios of issue 18, with the
# fixed outcome:
#
#  1. limits on the workers (a default idle-in-transaction limit and an
#     idle limit of 2 s, terminate_superusers on) leave a distributed
#     transaction alone while its coordinator session runs a 5 s statement,
#     and leave Citus's cached connections alone while they are idle;
#  2. a "*=3" quota on the workers does not refuse the internal connections
#     of one query that opens four per worker (it still caps an
#     application);
#  3. 1000 short coordinator sessions leave on a worker a handful of
#     statistics rows for Citus (one per kind and origin node), and a real
#     application still gets its own row;
#  4. a leak on the coordinator is ended there, and the workers' backends
#     of that session go with it, freeing their row locks.
#
# Run by make test-citus (test/citus-test.sh), not by the normal suite.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $sessions = $ENV{LG_CITUS_SESSIONS} || 1000;

sub citus_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus,leakguard'
listen_addresses = '127.0.0.1'
log_line_prefix = '%m [%p] %a '
max_connections = 100
max_prepared_transactions = 100
citus.node_conninfo = 'sslmode=disable'
} . $conf);
	$node->start;
	$node->safe_psql('postgres', q{
		CREATE EXTENSION citus;
		CREATE EXTENSION leakguard;
	});
	$node->poll_query_until('postgres',
		'SELECT pid IS NOT NULL FROM leakguard.status()')
	  or die "the leakguard worker of $name did not start";
	return $node;
}

# The workers: every limit as short as the issue's, quotas on every name.
my $worker_conf = q{
leakguard.idle_in_transaction_timeout = 2s
leakguard.idle_session_timeout = 2s
leakguard.application_connection_limits = '*=3'
leakguard.terminate_superusers = on
};
my $coord = citus_node('coordinator', q{
leakguard.application_timeouts = 'leaky=3s, billing=60s'
});
my @workers = (citus_node('worker1', $worker_conf), citus_node('worker2', $worker_conf));

$coord->safe_psql('postgres',
	"SELECT citus_set_coordinator_host('127.0.0.1', " . $coord->port . ')');
$coord->safe_psql('postgres',
	"SELECT citus_add_node('127.0.0.1', " . $_->port . ')')
  for @workers;
$coord->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	SET citus.shard_count = 8;
	CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL);
	SELECT create_distributed_table('t', 'id');
	INSERT INTO t SELECT i, 0 FROM generate_series(1, 100) i;
	GRANT ALL ON t TO app;
});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 't'::regclass}),
	'8', 'a table distributed over 8 shards, 4 per worker');
is($workers[0]->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'app'}),
	'f', 'the application role exists on the workers, not a superuser');

# Citus rows of a worker's history (there must be none).
sub citus_history
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT count(*) FROM leakguard.terminations
		 WHERE application_name LIKE 'citus%'});
}

# What a worker's rules give Citus's connections, and a plain application.
is( $workers[0]->safe_psql('postgres', q{
		SELECT string_agg(concat_ws('|', name, l.timeout, l.idle_timeout, l.connection_limit), ',' ORDER BY name)
		  FROM (VALUES ('citus_internal gpid=10000012345'),
		               ('citus_rebalancer gpid=10000012345'),
		               ('citus_run_command gpid=10000012345'),
		               ('plain')) AS t(name),
		       leakguard.limit_for(name) AS l}),
	'citus_internal gpid=10000012345|00:00:00|00:00:00|0,'
	  . 'citus_rebalancer gpid=10000012345|00:00:00|00:00:00|0,'
	  . 'citus_run_command gpid=10000012345|00:00:00|00:00:00|0,'
	  . 'plain|00:00:02|00:00:02|3',
	'limit_for(): the defaults and "*" rules do not apply to Citus\'s connections');
$workers[0]->safe_psql('postgres', q{
	ALTER SYSTEM SET leakguard.application_timeouts = 'citus_internal* user app = 1h, *=5s';
	SELECT pg_reload_conf();
});
$workers[0]->poll_query_until('postgres', q{
	SELECT timeout = '5 s' FROM leakguard.limit_for('plain')})
  or die 'the rules were not reloaded';
is( $workers[0]->safe_psql('postgres', q{
		SELECT string_agg(concat_ws('|', coalesce(l.rule, '-'), l.timeout), ',' ORDER BY u)
		  FROM (VALUES ('app'), ('other')) AS t(u),
		       leakguard.limit_for('citus_internal gpid=10000012345', u::name) AS l}),
	'citus_internal* user app = 1h|01:00:00,-|00:00:00',
	'a rule that names them applies, with its qualifiers');
$workers[0]->safe_psql('postgres', q{
	ALTER SYSTEM RESET leakguard.application_timeouts;
	SELECT pg_reload_conf();
});
$workers[0]->poll_query_until('postgres', q{
	SELECT timeout = '2 s' FROM leakguard.limit_for('plain')})
  or die 'the rules were not reloaded';

# The workers' limits are in force: a plain session there is ended.
my $plain = lg_session($workers[0], app => 'plain', tcp => 1);
ok(lg_wait_gone($workers[0], $plain->pid), 'a worker ends a plain session idle in transaction past 2 s');

#
# 1. A distributed transaction whose coordinator session is busy
#
my $billing = lg_session($coord, app => 'billing', leak => 0, tcp => 1);
my $gpid = $billing->query('SELECT citus_backend_gpid()');
my $internal = "citus_internal gpid=$gpid";
$billing->query('BEGIN');
$billing->query('UPDATE t SET v = v + 1');
is( $workers[0]->safe_psql('postgres', qq{
		SELECT count(*) > 0 FROM leakguard.sessions
		 WHERE application_name = '$internal' AND state = 'idle in transaction'}),
	't', 'the worker sees the session\'s internal connections idle in transaction, by their full name');
# the workers' connections sit idle in transaction for 5 s while it runs
is( $billing->query(q{
		WITH u AS (UPDATE t SET v = v + 1 WHERE id = 1 RETURNING v)
		SELECT count(*) FROM u, pg_sleep(5)}),
	'1', 'a 5 s statement on the coordinator completes');
$billing->query('UPDATE t SET v = v + 1');
$billing->query('COMMIT');
is($billing->query('SELECT sum(v) FROM t'), '201',
	'the distributed transaction committed whole');

# Citus's cached connections, idle past the workers' idle limit, stay
ok( $_->poll_query_until('postgres', qq{
			SELECT count(*) > 0 FROM pg_stat_activity
			 WHERE application_name = '$internal' AND state = 'idle'
			   AND state_change < now() - interval '3 s'}),
	$_->name . ': a cached connection stays idle past 3 s')
  for @workers;
is($billing->query('SELECT count(*) FROM t'), '100',
	'the session uses its cached connections after 3 s idle on the workers');
is(citus_history($_), '0', $_->name . ': no Citus connection was terminated')
  for @workers;

#
# 2. Quotas on the workers and a query's parallel connections
#
is( $billing->query(q{
		SET citus.force_max_query_parallelization = on;
		SELECT count(*) FROM t}),
	'100', 'a query that opens a connection per shard, four per worker, is not refused by "*=3"');
is( $workers[0]->safe_psql('postgres', q{
		SELECT coalesce(sum(refused + refused_dry_run), 0) FROM leakguard.stats}),
	'0', 'nothing was refused');
# the quota still holds for applications
my @held = map { lg_session($workers[0], startup_app => 'capped', leak => 0) } 1 .. 3;
like(lg_connect_error($workers[0], 'capped'), qr/too many connections for application "capped"/,
	'"*=3" still caps an application on the worker');
$_->close for @held;
$billing->close;

#
# 3. Many short coordinator sessions
#
my $script = PostgreSQL::Test::Utils::tempdir() . '/count.sql';
PostgreSQL::Test::Utils::append_to_file($script, "SELECT count(*) FROM t;\n");
my $t0 = time;
my ($out, $err) = ('', '');
IPC::Run::run(
	[ 'pgbench', '-n', '-C', '-c', 4, '-t', int($sessions / 4), '-f', $script,
	  '-h', '127.0.0.1', '-p', $coord->port, '-U', 'app', 'postgres' ],
	'>', \$out, '2>', \$err)
  or die "pgbench failed: $err";
my $total = 4 * int($sessions / 4);
like($out, qr/number of transactions actually processed: $total\//,
	"$sessions coordinator sessions, each in its own connection, ran a distributed query");
note('pgbench: ' . (time - $t0) . ' s');
for my $w (@workers)
{
	my $name = $w->name;
	$w->safe_psql('postgres', 'SELECT leakguard.check()');
	my $real = lg_session($w, app => 'realapp', leak => 0);
	$w->safe_psql('postgres', 'SELECT leakguard.check()');
	my $rows = $w->safe_psql('postgres', q{
		SELECT string_agg(application_name, ',' ORDER BY application_name)
		  FROM leakguard.stats WHERE application_name LIKE 'citus%'});
	note("$name: Citus statistics rows: $rows");
	like($rows, qr/^citus_internal node=\d+(,citus_\w+ node=\d+)*$/,
		"$name: Citus connections are counted by kind and origin node");
	ok(scalar(split /,/, $rows) <= 4, "$name: a handful of Citus rows after $sessions sessions");
	is( $w->safe_psql('postgres', q{
			SELECT count(*) FROM leakguard.stats WHERE application_name = 'realapp'}),
		'1', "$name: a real application still gets its own row");
	is( $w->safe_psql('postgres', qq{
			SELECT count(*) FROM leakguard.stats WHERE application_name = '(other applications)'}),
		'0', "$name: nothing was counted in the overflow row");
	is( $w->safe_psql('postgres', q{
			SELECT count(*) FROM leakguard.suggest_limits()
			 WHERE application_name LIKE 'citus%'}),
		'0', "$name: suggest_limits() leaves Citus's rows out");
	$real->close;
}

#
# 4. A leak on the coordinator
#
my $leaky = lg_session($coord, app => 'leaky', leak => 0, tcp => 1);
$gpid = $leaky->query('SELECT citus_backend_gpid()');
$internal = "citus_internal gpid=$gpid";
$leaky->query('BEGIN');
$leaky->query('UPDATE t SET v = v + 1 WHERE id = 1');
my @remote = grep {
	$_->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = '$internal'") > 0
} @workers;
is(scalar(@remote), 1, 'the leaked transaction holds a row lock on one worker');
ok(lg_wait_gone($coord, $leaky->pid), 'the coordinator ends the leaked session at 3 s');
like($leaky->client_error, qr/leakguard/, 'and its client is told why');
ok( $remote[0]->poll_query_until('postgres', qq{
		SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = '$internal'}),
	'its backends on the worker are gone');
is( $coord->safe_psql('postgres', q{
		SET lock_timeout = '10s';
		UPDATE t SET v = v + 1 WHERE id = 1 RETURNING v}, connstr => $coord->connstr('postgres') . ' user=app'),
	'4', 'its row lock is free and its update rolled back');

is(citus_history($_), '0', $_->name . ': no Citus connection was ever terminated or reported')
  for @workers;

$_->stop for ($coord, @workers);
done_testing();
