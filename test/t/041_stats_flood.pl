# No client can fill the statistics for others (issue 29, item 3).
#
# An unprivileged role renames its session 1100 times in a loop, each name
# ending a transaction: 1100 new applications against max_applications =
# 1000.  The table fills, and from then on the least recently seen entry
# not in use makes room, its counts added to the row "(other
# applications)": a role holding its share (max_applications / 10) makes
# room from its own entries, so the flood recycles its own and an
# application another role ran before it keeps its row.  A real billing-api
# session that leaks afterwards gets its own row, its termination counted
# there; status().stats_evicted counts what made room; the totals over
# every row, the overflow row included, are exactly what happened; and all
# of it survives a clean restart, the roles and ages of the entries with
# it, so that after the restart the flood still recycles its own entries.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('stats_flood', conf => q{
leakguard.application_timeouts = 'billing-api=1s'
});
$node->safe_psql('postgres', 'CREATE ROLE flooder LOGIN');

sub row
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# A session of a new name, seen by a scan while connected, then gone.
sub visit
{
	my ($app, $user) = @_;
	my $s = lg_session($node, app => $app, user => $user, leak => 0);
	$s->query('SELECT 1');
	row('SELECT leakguard.check()');
	$s->close;
	row('SELECT leakguard.check()');
	return;
}

# transactions observed per statistics row
my $flood_transactions = q{
	SELECT sum(episodes) FROM leakguard.suggest_limits()
	 WHERE kind = 'transaction'
	   AND (application_name LIKE 'junk%' OR application_name = '(other applications)')};

# an application of another role, seen before the flood and gone since
visit('nightly', 'reader');
is(row(q{SELECT count(*) FROM leakguard.stats WHERE application_name = 'nightly'}),
	'1', 'nightly has its row');

# a flood: names, two transactions each (the SET, and BEGIN; COMMIT)
sub flood
{
	my ($prefix, $n) = @_;
	my $sql = join('', map { "SET application_name = '$prefix$_'; BEGIN; COMMIT;\n" } 1 .. $n);
	$node->safe_psql('postgres', $sql,
		connstr => $node->connstr('postgres') . ' user=flooder');
	row('SELECT leakguard.check()');
	row('SELECT leakguard.check()');
	return;
}
flood('junk', 1100);

$node->wait_for_log(qr/LOG:  leakguard statistics are full: 1000 applications have their own row/);
ok(row('SELECT stats_evicted FROM leakguard.status()') > 0,
	'status().stats_evicted counts the entries that made room');
is(row(q{SELECT count(*) FROM leakguard.stats WHERE application_name = 'nightly'}),
	'1', 'the flood recycled its own entries: nightly keeps its row');
is(row(q{SELECT count(*) FROM leakguard.stats WHERE application_name = 'junk1100'}),
	'1', 'the newest name of the flood has its row');
# The oldest names made room.  An entry the worker's latest count of
# connections found in use keeps its row until the next count (shmem.c):
# on a slow server (valgrind) one or two names of the flood that a scan saw
# the session under may still have theirs, no more.
ok(row(q{SELECT count(*) FROM leakguard.stats
          WHERE application_name IN (SELECT 'junk' || i FROM generate_series(1, 50) i)}) <= 2,
	'the oldest made room');
is(row($flood_transactions), '2200',
	'no count vanished: the flood rows and the overflow row hold its 2200 transactions');

# a real application that leaks, after the flood
my $billing = lg_session($node, app => 'billing-api');
ok(lg_wait_gone($node, $billing->pid), 'the billing-api leak is terminated');
row('SELECT leakguard.check()');
is(row(q{SELECT connections, terminated FROM leakguard.stats WHERE application_name = 'billing-api'}),
	'0|1', 'billing-api has its own row, its termination counted there');
is(row(q{SELECT count(*) > 0 FROM leakguard.suggest_limits() WHERE application_name = 'billing-api'}),
	't', 'and its own suggestions');
is(row('SELECT sum(terminated) FROM leakguard.stats'), '1',
	'terminations over all rows: the one that happened');
is(row(q{SELECT count(*) FROM leakguard.stats WHERE application_name = 'nightly'}),
	'1', 'billing-api took the place of a flood entry, not of nightly');
is(row($flood_transactions), '2200', 'the flood\'s transactions are all still counted');
is(row(q{SELECT count(*) BETWEEN 990 AND 1000 FROM leakguard.stats WHERE application_name <> '(other applications)'}),
	't', 'the table holds max_applications rows, less what the last entries to make room left free');
is(row(q{SELECT count(*) FROM leakguard.stats WHERE application_name = '(other applications)'}),
	'1', 'and the overflow row');

# a clean restart keeps the rows, their counts, and what decides which
# entry makes room (the role that made it, when it was last seen)
$node->restart;
$node->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM leakguard.status()')
  or die 'the worker did not start';
is(row(q{SELECT terminated FROM leakguard.stats WHERE application_name = 'billing-api'}),
	'1', 'after a clean restart billing-api keeps its row and termination');
is(row(q{SELECT count(*) FROM leakguard.stats WHERE application_name = 'nightly'}),
	'1', 'and nightly its row');
is(row($flood_transactions), '2200', 'and the totals are the same');
is(row('SELECT stats_evicted FROM leakguard.status()'), '0',
	'stats_evicted counts since the server started');

# the flood again: its role was kept with its entries, so it recycles them
# (were the loaded entries nobody's, nightly, the least recently seen,
# would make room first)
flood('junk-again', 50);
ok(row('SELECT stats_evicted FROM leakguard.status()') > 0, 'entries made room again');
is(row(q{SELECT count(*) FROM leakguard.stats WHERE application_name IN ('nightly', 'billing-api', 'junk-again50')}),
	'3', 'after the restart too, the flood makes room from its own entries');
visit('after-restart', 'app');
is(row(q{SELECT count(*) FROM leakguard.stats WHERE application_name = 'after-restart'}),
	'1', 'a new application of another role gets its row');
is(row($flood_transactions), '2300', 'and every transaction of both floods is counted');

$node->stop;
done_testing();
