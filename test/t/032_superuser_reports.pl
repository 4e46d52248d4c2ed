# A superuser session past a limit, with terminate_superusers off, is
# reported, not ended: once per session and kind of limit, not at every
# idle period (issue 18: Citus's maintenance daemon, a superuser idle for a
# moment between its statements, filled the history).  Every period is
# still judged: the session stays, and nothing else is recorded.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('superuser_reports', conf => q{
leakguard.application_timeouts = 'su=1s'
leakguard.application_idle_timeouts = 'su=1s'
});
my $superuser = $node->safe_psql('postgres', 'SELECT current_user');

my $su = lg_session($node, app => 'su', user => $superuser, leak => 0);
my $pid = $su->pid;

# Wait until the session's current period is past its 1 s limit by half a
# second, then have the worker scan: it has judged that period.
sub past_limit
{
	$node->poll_query_until('postgres', qq{
		SELECT now() - state_change > interval '1.5 s'
		  FROM pg_stat_activity WHERE pid = $pid})
	  or die 'the session did not stay idle';
	$node->safe_psql('postgres', 'SELECT leakguard.check()');
	return;
}

sub rows
{
	return $node->safe_psql('postgres', qq{
		SELECT kind || ':' || count(*) FROM leakguard.terminations
		 WHERE pid = $pid GROUP BY kind ORDER BY kind});
}

# three idle periods past the idle limit
$node->wait_for_log(
	qr/leakguard did not terminate superuser process $pid of application "su" \(user "\Q$superuser\E", database "postgres"\) idle for \d+\.\d{3} s; limit 1 s from rule "su=1s"/);
for (1 .. 2)
{
	$su->query('SELECT 1');
	past_limit();
}
is(rows(), 'idle:1', 'three idle periods past the limit: one history row');

# three idle-in-transaction periods, each in a new transaction
for (1 .. 3)
{
	$su->query('BEGIN');
	$su->query('SELECT 1');
	past_limit();
	$su->query('COMMIT');
}
is( rows(), "idle:1\nidle in transaction:1",
	'and one row for the other kind of limit');
is( $node->safe_psql('postgres', qq{
		SELECT DISTINCT action FROM leakguard.terminations WHERE pid = $pid}),
	'superuser', 'both say superuser');
my $log = slurp_file($node->logfile);
my $lines = () = $log =~ /leakguard did not terminate superuser process $pid /g;
is($lines, 2, 'one log line per kind');
like($log, qr/leakguard did not terminate superuser process $pid .*\n.*DETAIL:  Later periods of this session past this limit are not reported\./,
	'the log line says that later periods are not reported');
ok(lg_alive($node, $pid), 'the session is still there');

# another superuser session is reported on its own
my $other = lg_session($node, app => 'su', user => $superuser, leak => 0);
my $opid = $other->pid;
$node->wait_for_log(qr/leakguard did not terminate superuser process $opid /);
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM leakguard.terminations WHERE pid = $opid}),
	'1', 'another session gets its own row');

# terminate_superusers = on still ends it
lg_set_conf($node, "leakguard.terminate_superusers = on\n");
ok(lg_wait_gone($node, $pid), 'with terminate_superusers on, the session is ended');

$su->close;
$other->close;
$node->stop;
done_testing();
