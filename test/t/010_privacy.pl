# Per-session rows show a reader exactly what pg_stat_activity shows it.
#
# For a session of a role the reader is neither a member of nor allowed to
# read through pg_read_all_stats, pg_stat_activity shows pid, database, user
# and application name, and hides state, timestamps, client address and the
# statement.  leakguard.sessions and leakguard.terminations must hide the
# same, and what they add about time (idle_in_transaction, terminates_at,
# idle_time) too, and what it derives from a session's transaction and
# locks (xmin_age; blocking and blocked_pids, from the waits
# pg_stat_activity hides).
# Aggregates (stats, connections) stay visible to all,
# except what they say about the state of sessions now: stats counts a
# session idle in transaction only for readers allowed to see its state.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('privacy', conf => q{
leakguard.application_timeouts = 'victim=1h'
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
	'victim|victim=1h|01:00:00', 'the application, its rule and timeout stay visible, as application_name is');
is(as('monitor', "$hidden_sessions$pid"), 'f f f f f f f app',
	'pg_read_all_stats sees everything');
is(as('app_member', "$hidden_sessions$pid"), 'f f f f f f f app',
	'a member of the session\'s role sees everything');
is(as('app', "$hidden_sessions$pid"), 'f f f f f f f app',
	'the role itself sees everything');

# aggregates: visible to all, but not the state of hidden sessions
is(as('stranger', q{SELECT connections, idle_in_transaction, longest_idle IS NULL FROM leakguard.stats WHERE application_name = 'victim'}),
	'1|0|t', 'stats counts the connection for everybody, not its state');
is(as('stranger', q{SELECT sum(count) FROM leakguard.connections WHERE application_name = 'victim'}),
	'1', 'connections counts every session for everybody');

# stats, per reader: two sessions idle in transaction under an application
# no rule limits, one of role app and one of role stranger
my $mine = lg_session($node, app => 'lg-private-app', user => 'stranger');
my $theirs = lg_session($node, app => 'lg-private-app');
$node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM pg_stat_activity
	 WHERE application_name = 'lg-private-app' AND state = 'idle in transaction'})
  or die 'the sessions did not go idle';
my $stats_now = q{
	SELECT format('%s %s %s', connections, idle_in_transaction, longest_idle IS NOT NULL)
	  FROM leakguard.stats WHERE application_name = 'lg-private-app'};
is(as('reader', $stats_now), '2 0 f',
	'stats: a reader with no right to see either session counts them, but none idle');
is(as('stranger', $stats_now), '2 1 t',
	'stats: a reader counts as idle in transaction only the session it may see');
is(as('app', $stats_now), '2 1 t', 'the same for the other role');
is(as('monitor', $stats_now), '2 2 t', 'pg_read_all_stats sees both idle');
is(as('reader', q{
	SELECT string_agg(format('%s:%s', coalesce(state, 'hidden'), count), ' ' ORDER BY state)
	  FROM leakguard.connections WHERE application_name = 'lg-private-app'}),
	'hidden:2', 'as leakguard.connections hides the state of both from that reader');
$mine->close;
$theirs->close;

# what leakguard derives from a session's transaction and its locks: the
# age of its snapshot, the sessions waiting for it.  pg_stat_activity hides
# the state and the waits; it shows backend_xmin to all, but leakguard's
# age goes with the state it belongs to.  A snapshot leak, a blocker and
# its waiter, all of role app.
$node->safe_psql('postgres', q{
	CREATE TABLE hot (id int PRIMARY KEY, v int);
	INSERT INTO hot VALUES (1, 0);
	GRANT ALL ON hot TO PUBLIC;
});
my $snap = lg_session($node, app => 'lg-snap', leak => 0);
$snap->query('BEGIN ISOLATION LEVEL REPEATABLE READ');
$snap->query('SELECT 1');
my $holder = lg_session($node, app => 'lg-holder', leak => 0);
$holder->query('BEGIN');
$holder->query('UPDATE hot SET v = v + 1 WHERE id = 1');
my $waiter = lg_session($node, app => 'lg-waiter', leak => 0);
$waiter->{in} .= "UPDATE hot SET v = v + 1 WHERE id = 1;\n";
$waiter->{h}->pump_nb;
$node->poll_query_until('postgres',
	"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = ${\ $waiter->pid}")
  or die 'the waiter does not wait';
my ($snap_pid, $holder_pid) = ($snap->pid, $holder->pid);
my $derived = qq{
	SELECT string_agg(format('%s %s', xmin_age IS NULL, blocking IS NULL), ',' ORDER BY pid)
	  FROM leakguard.sessions WHERE pid IN ($snap_pid, $holder_pid)};
is(as('stranger', "SELECT wait_event_type IS NULL FROM pg_stat_activity WHERE pid = ${\ $waiter->pid}"),
	't', 'pg_stat_activity hides a wait from another role');
is(as('stranger', $derived), 't t,t t',
	'leakguard.sessions hides xmin_age and blocking from another role');
is(as('monitor', $derived), 'f f,f f', 'pg_read_all_stats sees them');
is(as('monitor', "SELECT blocking FROM leakguard.sessions WHERE pid = $holder_pid"),
	'1', 'the blocker blocks one session');

# history rows, after the termination.  The limits are shortened only now,
# so that the reads above never race the termination (under valgrind a
# read can take seconds).
lg_set_conf($node, q{
leakguard.application_timeouts = 'victim=3s'
leakguard.application_blocking_timeouts = 'lg-holder=1s'
leakguard.application_xmin_age_limits = 'lg-snap=10'
});
$node->safe_psql('postgres', q{
	DO $$
	BEGIN
		FOR i IN 1..20 LOOP
			PERFORM pg_catalog.pg_current_xact_id();
			COMMIT;
		END LOOP;
	END
	$$});
ok(lg_wait_gone($node, $snap_pid), 'the snapshot leak is terminated');
ok(lg_wait_gone($node, $holder_pid), 'the blocker is terminated');
$waiter->close;
$snap->close;
$holder->close;
my $derived_history = qq{
	SELECT string_agg(format('%s %s %s', kind, xmin_age IS NULL, blocked_pids IS NULL), ',' ORDER BY kind)
	  FROM leakguard.terminations WHERE pid IN ($snap_pid, $holder_pid)};
is(as('stranger', $derived_history), 'blocking t t,xmin t t',
	'leakguard.terminations hides xmin_age and blocked_pids from another role');
is(as('monitor', $derived_history), 'blocking t f,xmin f t',
	'pg_read_all_stats sees them');
is(as('app', "SELECT blocked_pids = ARRAY[${\ $waiter->pid}] FROM leakguard.terminations WHERE pid = $holder_pid"),
	't', 'the role itself sees which session it blocked');

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
is(as('monitor', "$hidden_history$pid"), 'f f f f f BEGIN ; SELECT 1; app',
	'pg_read_all_stats sees the whole row');
is(as('app_member', "$hidden_history$pid"), 'f f f f f BEGIN ; SELECT 1; app',
	'a member of the role sees the whole row');

$node->stop;
done_testing();
