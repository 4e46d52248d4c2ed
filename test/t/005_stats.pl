# Leak statistics: exact counts after a scripted set of leaks, the history
# and its privacy, the overflow row, the bounded ring, the connection
# warning, persistence across clean restarts, loss after a crash, reset().
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('stats', conf => q{
leakguard.naptime = 100ms
leakguard.application_timeouts = 'alpha=1s, beta=2s, gamma=1h'
});

# alpha leaks twice, beta once: all terminated.  Both alpha sessions are
# connected before either opens its transaction (connecting can take longer
# than the limit under valgrind), and each opens it in one message, so that
# each leak is one idle period.
my @alpha = map { lg_session($node, app => 'alpha', tcp => 1, leak => 0) } 1 .. 2;
my $beta = lg_session($node, app => 'beta', leak => 0);
$_->query('BEGIN \\; SELECT 1') for (@alpha, $beta);
ok(lg_wait_gone($node, $_->pid), 'leak terminated') for (@alpha, $beta);

# gamma works with two idle periods of at least half a second, then
# commits.  Its transaction opens in one message, so that no scan can see a
# short idle period between BEGIN and its first statement.
my $gamma = lg_session($node, app => 'gamma', leak => 0);
$gamma->query('BEGIN \\; SELECT 1');
my $gpid = $gamma->pid;
my $idle_half = "SELECT idle_in_transaction > interval '0.5 s' FROM leakguard.sessions WHERE pid = $gpid";
$node->poll_query_until('postgres', $idle_half) or die 'gamma not idle';
$node->safe_psql('postgres', 'SELECT leakguard.check()');
$gamma->query('SELECT 2');
$node->poll_query_until('postgres', $idle_half) or die 'gamma not idle again';
$node->safe_psql('postgres', 'SELECT leakguard.check()');
$gamma->query('COMMIT');
$node->safe_psql('postgres', 'SELECT leakguard.check()');

is( $node->safe_psql('postgres', q{
		SELECT string_agg(format('%s:%s/%s/%s/%s/%s', application_name, connections,
		                         peak_connections, episodes, terminated, dry_run),
		                  ' ' ORDER BY application_name COLLATE "C")
		  FROM leakguard.stats WHERE application_name IN ('alpha', 'beta', 'gamma')}),
	'alpha:0/2/2/2/0 beta:0/1/1/1/0 gamma:1/1/2/0/0',
	'stats: connections, peak, episodes, terminations and dry runs per application');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(format('%s:%s/%s/%s', application_name,
		                         max_idle >= interval '0.5 s',
		                         total_idle >= max_idle,
		                         idle_under_10s + idle_10s_1min + idle_1min_10min + idle_10min_1h + idle_over_1h = episodes),
		                  ' ' ORDER BY application_name COLLATE "C")
		  FROM leakguard.stats WHERE application_name IN ('alpha', 'beta', 'gamma')}),
	'alpha:t/t/t beta:t/t/t gamma:t/t/t',
	'stats: idle times and the histogram agree with the episodes');
is( $node->safe_psql('postgres', q{
		SELECT idle_under_10s, max_idle >= interval '1 s', max_idle < interval '3 s',
		       last_terminated_at IS NOT NULL, first_seen <= last_terminated_at
		  FROM leakguard.stats WHERE application_name = 'alpha'}),
	'2|t|t|t|t',
	'stats: alpha episodes all under 10 s, max idle about its limit');

is( $node->safe_psql('postgres', q{
		SELECT string_agg(format('%s %s %s %s %s', application_name, rule, timeout, action,
		                         idle_time >= timeout),
		                  ', ' ORDER BY application_name COLLATE "C", terminated_at)
		  FROM leakguard.terminations}),
	'alpha alpha=1s 00:00:01 terminated t, alpha alpha=1s 00:00:01 terminated t, beta beta=2s 00:00:02 terminated t',
	'terminations: one row per termination with rule, timeout and action');

# the last statement and the client address: for those allowed only
is( $node->safe_psql('postgres', q{
		SELECT query, host(client_addr) FROM leakguard.terminations
		 WHERE application_name = 'alpha' LIMIT 1}),
	'BEGIN ; SELECT 1;|127.0.0.1', 'a superuser sees the last statement and the client address');
is( $node->safe_psql('postgres', q{
		SELECT query, client_addr IS NULL, usename FROM leakguard.terminations
		 WHERE application_name = 'alpha' LIMIT 1}, connstr => $node->connstr('postgres') . ' user=reader'),
	'<insufficient privilege>|t|app', 'another role sees neither');
$node->safe_psql('postgres', 'GRANT pg_read_all_stats TO reader');
is( $node->safe_psql('postgres', q{
		SELECT query FROM leakguard.terminations WHERE application_name = 'alpha' LIMIT 1},
		connstr => $node->connstr('postgres') . ' user=reader'),
	'BEGIN ; SELECT 1;', 'pg_read_all_stats sees the statement');

# the connections view, now
is( $node->safe_psql('postgres', q{
		SELECT count, percent_of_max = round(100.0 * count / current_setting('max_connections')::int, 1)
		  FROM leakguard.connections WHERE application_name = 'gamma'}),
	'1|t', 'connections counts per application and state, with the share of max_connections');

# survives a clean restart
my $before = $node->safe_psql('postgres', q{
	SELECT (SELECT string_agg(format('%s/%s/%s', application_name, episodes, terminated), ' '
	                          ORDER BY application_name COLLATE "C") FROM leakguard.stats
	         WHERE episodes > 0),
	       (SELECT count(*) FROM leakguard.terminations),
	       (SELECT DISTINCT stats_reset FROM leakguard.stats)});
$gamma->close;
$node->restart(mode => 'fast');
$node->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM leakguard.status()');
is( $node->safe_psql('postgres', q{
	SELECT (SELECT string_agg(format('%s/%s/%s', application_name, episodes, terminated), ' '
	                          ORDER BY application_name COLLATE "C") FROM leakguard.stats
	         WHERE episodes > 0),
	       (SELECT count(*) FROM leakguard.terminations),
	       (SELECT DISTINCT stats_reset FROM leakguard.stats)}),
	$before, 'statistics and history survive pg_ctl restart -m fast');

# lost after a crash, and stats_reset says when
$node->stop('immediate');
$node->start;
$node->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM leakguard.status()');
is( $node->safe_psql('postgres', q{
	SELECT (SELECT coalesce(sum(episodes + terminated), 0) FROM leakguard.stats),
	       (SELECT count(*) FROM leakguard.terminations),
	       (SELECT bool_and(stats_reset > now() - interval '1 min') FROM leakguard.stats)}),
	'0|0|t', 'after an immediate stop the statistics start empty, stats_reset is new');

# reset()
my $s = lg_session($node, app => 'alpha');
ok(lg_wait_gone($node, $s->pid), 'a new leak is terminated');
my $reset_before = $node->safe_psql('postgres', 'SELECT max(stats_reset) FROM leakguard.stats');
$node->safe_psql('postgres', 'SELECT leakguard.reset()');
is( $node->safe_psql('postgres', qq{
	SELECT (SELECT coalesce(sum(episodes + terminated + dry_run), 0) FROM leakguard.stats),
	       (SELECT count(*) FROM leakguard.terminations),
	       (SELECT bool_and(stats_reset > '$reset_before') FROM leakguard.stats)}),
	'0|0|t', 'reset() zeroes statistics and history and sets stats_reset');

# stats copies the applications a chunk at a time: with several chunks'
# worth, every application is there, once
$node->safe_psql('postgres', join('', map {
	"SET application_name = 'chunk-$_'; SELECT leakguard.check();\n" } 1 .. 150));
is( $node->safe_psql('postgres', q{
	SELECT count(*), count(DISTINCT application_name), min(peak_connections)
	  FROM leakguard.stats WHERE application_name LIKE 'chunk-%'}),
	'150|150|1', 'stats shows each of 150 applications once');
$node->stop;

# More applications than max_applications, a history of 3, a warning at
# half of max_connections.
my $small = lg_node('small', conf => q{
leakguard.max_applications = 2
leakguard.history_size = 3
leakguard.application_timeouts = 'x*=1s'
max_connections = 20
leakguard.connection_warning = 50
});
my @pids;
for my $i (1 .. 5)
{
	my $x = lg_session($small, app => "x$i");
	ok(lg_wait_gone($small, $x->pid), "x$i terminated");
	push @pids, $x->pid;
}
is( $small->safe_psql('postgres', 'SELECT sum(terminated), count(*) FROM leakguard.stats'),
	'5|3', 'beyond max_applications, terminations are counted in one more row');
is( $small->safe_psql('postgres',
		q{SELECT terminated > 0 FROM leakguard.stats WHERE application_name = '(other applications)'}),
	't', 'the overflow row says what it is');
is( $small->safe_psql('postgres',
		'SELECT string_agg(pid::text, \',\' ORDER BY terminated_at) FROM leakguard.terminations'),
	join(',', @pids[2 .. 4]), 'the history keeps exactly the history_size newest');

# the connection warning: once per crossing
my @idle = map { lg_session($small, leak => 0) } 1 .. 10;
my $offset = $small->wait_for_log(qr/WARNING:  leakguard: \d+ of 20 client connections are in use/);
$small->safe_psql('postgres', 'SELECT leakguard.check()') for 1 .. 3;
my @warnings = slurp_file($small->logfile) =~ /(WARNING:  leakguard: \d+ of 20)/g;
is(scalar @warnings, 1, 'the warning is logged once while above the threshold');
$_->close for splice(@idle, 0, 6);
$small->poll_query_until('postgres', 'SELECT count(*) < 8 FROM leakguard.sessions')
  or die 'sessions did not close';
$small->safe_psql('postgres', 'SELECT leakguard.check()');
push @idle, map { lg_session($small, leak => 0) } 1 .. 6;
$small->wait_for_log(qr/WARNING:  leakguard: \d+ of 20 client connections are in use/, $offset);
@warnings = slurp_file($small->logfile) =~ /(WARNING:  leakguard: \d+ of 20)/g;
is(scalar @warnings, 2, 'and again after falling below and crossing again');
$_->close for @idle;
$small->stop;

done_testing();
