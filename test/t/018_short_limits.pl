# Limits shorter than naptime are met on time: the worker scans at least
# twice within the shortest limit in force, so it knows every deadline
# before it passes and wakes at it.  With the default naptime of 1 s, a
# 300 ms rule must end its session within 150 ms of the deadline (a
# generous bound: the deadline is met within milliseconds), never before.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('short', conf => q{
leakguard.application_timeouts = 'short=300ms'
leakguard.application_idle_timeouts = 'shortidle=250ms'
});
is($node->safe_psql('postgres', q{SELECT setting FROM pg_settings WHERE name = 'leakguard.naptime'}),
	'1000', 'naptime is the default, 1 s');

# Under make sanitize every server runs under valgrind, 20 to 50 times
# slower: "not before" still holds exactly, "how soon after" loosely.
my $slack = $ENV{LG_SANITIZE} ? '2 s' : '150 ms';

for my $round (1 .. 3)
{
	my $s = lg_session($node, app => 'short');
	ok(lg_wait_gone($node, $s->pid), "round $round: the session idle in transaction is terminated");
	is( $node->safe_psql('postgres', qq{
			SELECT idle_time >= timeout, idle_time < timeout + interval '$slack'
			  FROM leakguard.terminations WHERE pid = } . $s->pid),
		't|t', "round $round: within $slack of its 300 ms deadline, not before");

	my $i = lg_session($node, app => 'shortidle', leak => 0);
	ok(lg_wait_gone($node, $i->pid), "round $round: the idle session is terminated");
	is( $node->safe_psql('postgres', qq{
			SELECT idle_time >= timeout, idle_time < timeout + interval '$slack'
			  FROM leakguard.terminations WHERE pid = } . $i->pid),
		't|t', "round $round: within $slack of its 250 ms deadline, not before");
}

# The scan rate this takes: two scans per 250 ms at least, not more than
# one per 10 ms.
my ($scans1, $t1) = split /\|/, $node->safe_psql('postgres',
	q{SELECT scans, extract(epoch FROM clock_timestamp()) FROM leakguard.status()});
$node->poll_query_until('postgres',
	"SELECT extract(epoch FROM clock_timestamp()) - $t1 > 2")
  or die 'the clock did not move';
my ($scans2, $t2) = split /\|/, $node->safe_psql('postgres',
	q{SELECT scans, extract(epoch FROM clock_timestamp()) FROM leakguard.status()});
my $rate = ($scans2 - $scans1) / ($t2 - $t1);
ok($rate >= 6 && $rate <= 100, sprintf('the worker scans %.1f times a second: at least 8 for a 250 ms limit (some slack), at most 100', $rate));

$node->stop;
done_testing();
