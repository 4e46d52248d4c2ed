# The incident leakguard 1.1 exists for, replayed: 25 worker processes of
# one application ("route_builder") each take connections from a pool and
# never return them, against max_connections = 60.  Without a quota they
# would take 50 of its 57 ordinary slots and little room would be left for
# anyone else.  With a quota of 20 for the application, other applications
# connect throughout, and the application's idle limit reclaims its leaked
# connections.  (Not 50 slots: the 50 attempts arrive at once, and those
# leakguard is about to refuse hold a slot until it does, so PostgreSQL
# could refuse one itself first on a slow server.)
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('incident', conf => q{
max_connections = 60
leakguard.application_connection_limits = 'route_builder=20'
});

# 25 processes, 2 leaked connections each: a client that connects, runs a
# statement, and then sits idle with its connection open.
my @leaks;
for my $process (1 .. 25)
{
	for my $conn (1 .. 2)
	{
		my ($in, $out, $err) = ("SELECT 1;\n", '', '');
		my $h = IPC::Run::start(
			[ 'psql', '-XAtq', '-d',
			  $node->connstr('postgres') . " user=app application_name=route_builder" ],
			'<', \$in, '>', \$out, '2>', \$err);
		push @leaks, { h => $h, err => \$err };
	}
}

# Every attempt is either connected or refused.
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) = 20 FROM pg_stat_activity WHERE application_name = 'route_builder'}),
	'the application holds its quota of 20 connections');
ok( $node->poll_query_until('postgres', q{
		SELECT refused = 30 FROM leakguard.stats WHERE application_name = 'route_builder'}),
	'the 30 connections beyond it were refused');

# Others still log in while the leak goes on.
my $others_ok = 1;
for my $i (1 .. 10)
{
	my $err = lg_connect_error($node, "web-$i");
	$others_ok = 0 if $err ne '';
}
ok($others_ok, 'ten other applications connect during the leak');
is($node->safe_psql('postgres',
		q{SELECT count(*) < 40 FROM pg_stat_activity WHERE backend_type = 'client backend'}),
	't', 'and the server keeps free slots');

# The DBA gives the application an idle limit: a reload reclaims the
# leaked connections.  (Set only now, so that however slowly the leak
# builds up, none of it is reclaimed before it is measured.)
lg_set_conf($node, "leakguard.application_idle_timeouts = 'route_builder=3s'\n");
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'route_builder'}),
	'the leaked connections are reclaimed by the idle limit');
is( $node->safe_psql('postgres', q{
		SELECT idle_terminated, refused, peak_connections FROM leakguard.stats
		 WHERE application_name = 'route_builder'}),
	'20|30|20', 'statistics: 20 reclaimed, 30 refused, never more than 20 at once');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(format('%s/%s=%s', kind, action, n), ' ' ORDER BY kind, action)
		  FROM (SELECT kind, action, count(*) AS n FROM leakguard.terminations
		         WHERE application_name = 'route_builder' GROUP BY kind, action) k}),
	'connections/refused=30 idle/terminated=20', 'the history agrees');

# and the application can connect again
is(lg_connect_error($node, 'route_builder'), '', 'once reclaimed, the application connects again');

$_->{h}->kill_kill for @leaks;
$node->stop;
done_testing();
