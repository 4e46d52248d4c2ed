# Per-session rows show a reader exactly what pg_stat_activity shows it.
#
# For a session of a role the reader is neither a member of nor allowed to
# read through pg_read_all_stats, pg_stat_activity shows pid, database, user
# and application name, and hides state, timestamps, client address and the
# statement.  leakguard.sessions and leakguard.terminations must hide the
# same, and what they add about time (idle_in_transaction, terminates_at,
# idle_time) too.  Aggregates (stats, connections) stay visible to all.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('privacy', conf => q{
leakguard.application_timeouts = 'victim=3s'
});
$node->safe_psql('postgres', q{
	CREATE ROLE stranger LOGIN;
	CREATE ROLE monitor LOGIN IN ROLE pg_read_all_stats;
	CREATE ROLE app_member LOGIN IN ROLE app;
});

sub as
{
	my ($user, $sql) = @_;
	return $node->safe_psql('postgres', $sql,
		connstr => $node->connstr('postgres') . " user=$user");
}

# the columns pg_stat_activity hides, and what leakguard derives from them
my $hidden_sessions = q{
	SELECT format('%s %s %s %s %s %s %s %s',
	              client_addr IS NULL, backend_start IS NULL, xact_start IS NULL,
	              state IS NULL, state_change IS NULL, idle_in_transaction IS NULL,
	              terminates_at IS NULL, usename)
	  FROM leakguard.sessions WHERE pid = };
my $activity = q{
	SELECT format('%s %s %s %s', state IS NULL, backend_start IS NULL,
	              xact_start IS NULL, state_change IS NULL)
	  FROM pg_stat_activity WHERE pid = };

my $s = lg_session($node, app => 'victim', tcp => 1);
my $pid = $s->pid;
$node->poll_query_until('postgres',
	"SELECT state = 'idle in transaction' FROM pg_stat_activity WHERE pid = $pid")
  or die 'the session did not go idle';

is(as('stranger', "$activity$pid"), 't t t t',
	'pg_stat_activity hides state and timestamps from another role');
is(as('stranger', "$hidden_sessions$pid"), 't t t t t t t app',
	'leakguard.sessions hides the same, and the idle time and deadline');
is(as('stranger', "SELECT application_name, rule, timeout FROM leakguard.sessions WHERE pid = $pid"),
	'victim|victim=3s|00:00:03', 'the application, its rule and timeout stay visible, as application_name is');
is(as('monitor', "$hidden_sessions$pid"), 'f f f f f f f app',
	'pg_read_all_stats sees everything');
is(as('app_member', "$hidden_sessions$pid"), 'f f f f f f f app',
	'a member of the session\'s role sees everything');
is(as('app', "$hidden_sessions$pid"), 'f f f f f f f app',
	'the role itself sees everything');

# aggregates: visible to all
is(as('stranger', q{SELECT connections, idle_in_transaction FROM leakguard.stats WHERE application_name = 'victim'}),
	'1|1', 'stats counts every session for everybody');
is(as('stranger', q{SELECT sum(count) FROM leakguard.connections WHERE application_name = 'victim'}),
	'1', 'connections counts every session for everybody');

# history rows, after the termination
ok(lg_wait_gone($node, $pid), 'the session is terminated');
my $hidden_history = q{
	SELECT format('%s %s %s %s %s %s %s', client_addr IS NULL, backend_start IS NULL,
	              xact_start IS NULL, state_change IS NULL, idle_time IS NULL,
	              query, usename)
	  FROM leakguard.terminations WHERE pid = };
is(as('stranger', "$hidden_history$pid"), 't t t t t <insufficient privilege> app',
	'leakguard.terminations hides the same from another role');
is(as('stranger', "SELECT action, rule, timeout, terminated_at IS NOT NULL FROM leakguard.terminations WHERE pid = $pid"),
	'terminated|victim=3s|00:00:03|t', 'what was done, and under which rule, stays visible');
is(as('monitor', "$hidden_history$pid"), 'f f f f f SELECT 1; app',
	'pg_read_all_stats sees the whole row');
is(as('app_member', "$hidden_history$pid"), 'f f f f f SELECT 1; app',
	'a member of the role sees the whole row');

$node->stop;
done_testing();
