# 1.3: the xmin limit ends the session that holds the horizon back, not the
# sessions whose snapshots wait behind another's old transaction.  While
# an old transaction of an application with no xmin limit runs, the
# snapshots of REPEATABLE READ sessions of a limited application have that
# transaction as their xmin: ending them would free nothing, and they are
# not ended, however far the next transaction ID moves on.  A session of
# the limited application whose own transaction ID is old is ended.  Once
# the old transaction ends, the snapshots left holding the horizon by
# themselves are ended.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('xmin_holder', conf => q{
leakguard.idle_in_transaction_timeout = 1h
leakguard.application_xmin_age_limits = 'rr=500'
});

sub row
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# the old transaction, of an application with no xmin limit
my $old = lg_session($node, app => 'old', leak => 0);
$old->query('BEGIN');
my $old_xid = $old->query('SELECT pg_catalog.pg_current_xact_id()');

# snapshots of the limited application taken while it runs
my @snaps;
for (1 .. 3)
{
	my $s = lg_session($node, app => 'rr', leak => 0);
	$s->query('BEGIN ISOLATION LEVEL REPEATABLE READ');
	$s->query('SELECT 1');
	push @snaps, $s;
}
my $snap_pids = join(',', map { $_->pid } @snaps);
is(row(qq{SELECT count(*) FROM pg_stat_activity WHERE pid IN ($snap_pids) AND backend_xmin::text = '$old_xid'}),
	'3', 'the snapshots\' xmin is the old transaction\'s ID');

lg_burn_xids($node, 600);
$node->safe_psql('postgres', 'SELECT leakguard.check()');
is(row(qq{SELECT count(*) FROM pg_stat_activity WHERE pid IN ($snap_pids)}), '3',
	'600 transactions on, the snapshots behind another application\'s transaction are not ended');
is(row(q{SELECT count(*) FROM leakguard.terminations}), '0', 'nothing was ended');

# a session of the limited application with a transaction ID of its own
my $xid = lg_session($node, app => 'rr', leak => 0);
$xid->query('BEGIN');
$xid->query('SELECT pg_catalog.pg_current_xact_id()');
lg_burn_xids($node, 600);
ok(lg_wait_gone($node, $xid->pid), 'a session whose own transaction ID is old is ended');
like($xid->client_error,
	qr/DETAIL:  leakguard terminated this session of application "rr" after \d+\.\d{3} s idle in transaction: its snapshot or transaction ID was \d+ transactions old; its limit is 500 transactions \(rule "rr=500"\)\./,
	'with the age of its transaction ID');
is(row(qq{SELECT count(*) FROM pg_stat_activity WHERE pid IN ($snap_pids)}), '3',
	'the snapshots behind the old transaction are still not ended');
ok(lg_alive($node, $old->pid), 'the old transaction of an application with no xmin limit is not ended');

# the old transaction ends: the snapshots now hold the horizon themselves
$old->query('COMMIT');
ok(lg_wait_gone($node, $_->pid), 'once it is over, a snapshot holding the horizon alone is ended')
  for @snaps;
is( row(qq{SELECT string_agg(kind || ':' || (xmin_age > 500)::text, ',') FROM leakguard.terminations WHERE pid IN ($snap_pids)}),
	'xmin:true,xmin:true,xmin:true', 'as xmin terminations, with their age');

$old->close;
$node->stop;
done_testing();
