# When the statistics table fills (leakguard.max_applications), whatever
# fills it, the process that first finds it full for a new application
# logs it once, with a hint naming the setting (the new application takes
# the row of an old one, whose counts go to the row "(other
# applications)": test/t/041_stats_flood.pl); after reset() it can fill,
# and be logged, again.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('stats_full', conf => q{
leakguard.max_applications = 3
});

my $full = qr/LOG:  leakguard statistics are full: 3 applications have their own row\n.*DETAIL:  A new application takes the row of the least recently seen one with no connection now and no termination in the last hour, whose counts are added to the row "\(other applications\)" of leakguard.stats; when there is none, it is counted in that row\.\n.*HINT:  Raise leakguard.max_applications and restart the server, or clear the statistics with leakguard.reset\(\)\./;

# Sessions of new names, each seen by a scan while it is connected.
sub apps
{
	for my $name (@_)
	{
		my $s = lg_session($node, app => $name, leak => 0);
		$s->query('SELECT 1');
		$node->safe_psql('postgres', 'SELECT leakguard.check()');
		$s->close;
	}
	$node->safe_psql('postgres', 'SELECT leakguard.check()');
	return;
}

sub logged
{
	my $log = slurp_file($node->logfile);
	my $n = () = $log =~ /leakguard statistics are full/g;
	return $n;
}

apps(map { "app$_" } 1 .. 5);
$node->wait_for_log($full);
ok( $node->safe_psql('postgres', q{
		SELECT count(*) > 0 FROM leakguard.stats
		 WHERE application_name = '(other applications)'}) eq 't',
	'what applications beyond the cap displaced is counted in the overflow row');
apps(map { "more$_" } 1 .. 3);
is(logged(), 1, 'logged once, however many more applications come');

my $offset = -s $node->logfile;
$node->safe_psql('postgres', 'SELECT leakguard.reset()');
apps(map { "again$_" } 1 .. 5);
$node->wait_for_log($full, $offset);
is(logged(), 2, 'after reset() it fills again, and is logged again');

# A full count of connections (here the first scan of a restarted worker)
# with the table full: a new application counted first must not take the
# row of one whose sessions come later in the count.  Two sessions; the
# one in the later status slot is "keep", the least recently seen row;
# the one in the earlier slot becomes "fresh" while no worker scans.
lg_set_conf($node, "leakguard.naptime = '1h'\n");
my @two = map { lg_session($node, app => 'init', leak => 0) } 1 .. 2;
my %slot = map { split /\|/ } split /\n/, $node->safe_psql('postgres', q{
	SELECT pg_stat_get_backend_pid(b), b FROM pg_stat_get_backend_idset() b});
my ($low, $high) = sort { $slot{ $a->pid } <=> $slot{ $b->pid } } @two;
$node->safe_psql('postgres', 'SELECT leakguard.reset()');
$high->query(q{SET application_name = 'keep'});
$node->safe_psql('postgres', 'SELECT leakguard.check()');
$low->query(q{SET application_name = 'other'});
$node->safe_psql('postgres', 'SELECT leakguard.check()');
my $keep = $node->safe_psql('postgres', q{
	SELECT first_seen FROM leakguard.stats WHERE application_name = 'keep'});
isnt($keep, '', 'keep has a row');
my $evicted = $node->safe_psql('postgres', 'SELECT stats_evicted FROM leakguard.status()');

$low->query(q{SET application_name = 'fresh'});
my $old = $node->safe_psql('postgres', 'SELECT pid FROM leakguard.status()');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old)");
$node->poll_query_until('postgres',
	"SELECT pid IS NOT NULL AND pid <> $old AND scans > 0 FROM leakguard.status()")
  or die 'the worker did not come back';
is( $node->safe_psql('postgres', q{
		SELECT first_seen FROM leakguard.stats WHERE application_name = 'keep'}),
	$keep, 'the row of an application with a session stays through a full count');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(application_name, ',' ORDER BY application_name) FROM leakguard.stats
		 WHERE application_name IN ('keep', 'fresh', 'other')}),
	'fresh,keep', 'the new application took the row of one with no session');
is($node->safe_psql('postgres', 'SELECT stats_evicted FROM leakguard.status()'),
	$evicted + 1, 'one row made room');
$_->close for @two;

$node->stop;
done_testing();
