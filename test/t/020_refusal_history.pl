# Refused connections cannot flood the history.
#
# Any role that can log in can be refused by a quota as often as it likes.
# Refusals are kept in a ring of their own (history_size rows, shown in
# leakguard.terminations with the terminations, oldest first): they push
# out only older refusals, never a termination, while leakguard.stats
# counts every one of them.  Both rings survive a clean restart, and a
# smaller history_size keeps the newest events of each.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $history_size = 5;
my $node = lg_node('refusal_history', conf => qq{
leakguard.history_size = $history_size
leakguard.application_timeouts = 'leaky=1s'
leakguard.application_connection_limits = 'billing-api=1'
});

sub row { return $node->safe_psql('postgres', $_[0]); }

# a leak, terminated: the first row of the history
my $leak = lg_session($node, app => 'leaky');
ok(lg_wait_gone($node, $leak->pid), 'the leak is terminated');
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM leakguard.terminations WHERE action = 'terminated'})
  or die 'the termination was not recorded';

# an unprivileged role holds the quota and is refused again and again
my $flood = 3 * $history_size;
my $held = lg_session($node, startup_app => 'billing-api', leak => 0);
my $refused = 0;
for (1 .. $flood)
{
	$refused++
	  if lg_connect_error($node, 'billing-api') =~ /too many connections for application "billing-api"/;
}
is($refused, $flood, "all $flood attempts are refused");

sub check_history
{
	my ($when) = @_;
	is( row(q{SELECT count(*), min(pid), min(application_name), min(kind)
	            FROM leakguard.terminations WHERE action = 'terminated'}),
		"1|" . $leak->pid . "|leaky|idle in transaction",
		"$when: the termination is still in the history");
	is( row(q{SELECT refused FROM leakguard.stats WHERE application_name = 'billing-api'}),
		$flood, "$when: leakguard.stats counts every refusal");
	is( row(q{SELECT count(*), min(action), min(usename) FROM leakguard.terminations
	           WHERE kind = 'connections'}),
		"$history_size|refused|app", "$when: history_size refusals are kept");
	is( row(q{SELECT count(*), bool_and(terminated_at >= prev) FROM
	           (SELECT terminated_at, lag(terminated_at, 1, '-infinity') OVER () AS prev
	              FROM leakguard.terminations()) t}),
		($history_size + 1) . '|t', "$when: both rings are shown as one, oldest first");
	return;
}
check_history('after the flood');

# the newest refusals are kept: the last one recorded is the newest row
is( row(q{SELECT kind FROM leakguard.terminations ORDER BY terminated_at DESC LIMIT 1}),
	'connections', 'the newest row is the last refusal');

$held->close;
$node->restart;
check_history('after a clean restart');

# a smaller history_size keeps the newest events of each ring
my $newest = row(q{SELECT max(terminated_at) FROM leakguard.terminations WHERE kind = 'connections'});
$node->append_conf('postgresql.conf', "leakguard.history_size = 3\n");
$node->restart;
is( row(q{SELECT count(*) FILTER (WHERE kind = 'connections'),
                 max(terminated_at) FILTER (WHERE kind = 'connections'),
                 count(*) FILTER (WHERE action = 'terminated')
            FROM leakguard.terminations}),
	"3|$newest|1", 'with a smaller history_size, each ring keeps its newest events');

$node->safe_psql('postgres', 'SELECT leakguard.reset()');
is(row('SELECT count(*) FROM leakguard.terminations'), '0', 'reset() empties both rings');

$node->stop;
done_testing();
