# 1.3: the blocking pass stays cheap when many sessions wait for each
# other's locks.  100 sessions w1..w100 and one session idle in
# transaction hold ROW EXCLUSIVE on tables; session wj holds it on t1 ..
# t(j-1) and waits for SHARE on tj, which the idle session and w(j+1) ..
# w100 hold (no cycle: PostgreSQL would end a deadlock at once): about
# 100 x 100 / 2 lock-conflict edges, and wj waits, directly or not, for
# every later session and the idle one.  leakguard.sessions counts, for
# each session, the waiters it keeps waiting (wk: k - 1; the idle one: all
# 100), quickly; the worker ends the idle one at its blocking limit, naming
# the 100 sessions it kept waiting.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use LeakguardTest;

# LG_BLOCKING_N: another number of waiters (a measure; 100 by default)
my $n = $ENV{LG_BLOCKING_N} // 100;
my $node = lg_node('blocking_graph', conf => qq{
max_connections = ${\ ($n + 30)}
max_locks_per_transaction = ${\ int($n * $n / 2 / ($n + 30) * 2 + 64)}
leakguard.idle_in_transaction_timeout = 1h
leakguard.application_blocking_timeouts = 'holder=1h'
});
$node->safe_psql('postgres', q{
	DO $$BEGIN
	  FOR i IN 1 .. current_setting('max_connections')::int - 30 LOOP
	    EXECUTE format('CREATE TABLE t%s (id int)', i);
	    EXECUTE format('GRANT ALL ON t%s TO PUBLIC', i);
	  END LOOP;
	END$$;
});

my @waiters;
for my $j (1 .. $n)
{
	my $s = lg_session($node, app => 'waiter', leak => 0);
	$s->query('BEGIN');
	$s->query('LOCK TABLE ' . join(', ', map { "t$_" } 1 .. $j - 1)
		  . ' IN ROW EXCLUSIVE MODE')
	  if $j > 1;
	push @waiters, $s;
}
my $holder = lg_session($node, app => 'holder', leak => 0);
$holder->query('BEGIN');
$holder->query('LOCK TABLE ' . join(', ', map { "t$_" } 1 .. $n)
	  . ' IN ROW EXCLUSIVE MODE');
for my $j (1 .. $n)
{
	my $s = $waiters[ $j - 1 ];
	$s->{in} .= "LOCK TABLE t$j IN SHARE MODE;\n";
	$s->{h}->pump_nb;
}
$node->poll_query_until('postgres',
	"SELECT count(*) = $n FROM pg_locks WHERE mode = 'ShareLock' AND NOT granted")
  or die 'the sessions do not all wait';

my $t0 = time;
my $counts = $node->safe_psql('postgres', qq{
	SELECT count(*) FILTER (WHERE pid = ${\ $holder->pid} AND blocking = $n),
	       count(DISTINCT blocking) FILTER (WHERE application_name = 'waiter'),
	       max(blocking) FILTER (WHERE application_name = 'waiter')
	  FROM leakguard.sessions});
my $elapsed = time - $t0;
is($counts, "1|$n|" . ($n - 1),
	'the idle session blocks all waiters, the k-th waiter the k - 1 before it');
diag(sprintf('reading leakguard.sessions with %d waiters: %.3f s', $n, $elapsed));
cmp_ok($elapsed, '<', 5, 'reading leakguard.sessions takes less than 5 s');

# The worker: its blocking pass sees the 100 x 100 / 2 edges at every
# look.  Once every waiter has waited longer than the limit, all are
# counted.
$node->poll_query_until('postgres', q{
	SELECT min(clock_timestamp() - waitstart) > '3 s'
	  FROM pg_locks WHERE mode = 'ShareLock' AND NOT granted})
  or die 'the waits do not last';
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres',
	"ALTER SYSTEM SET leakguard.application_blocking_timeouts = 'holder=2s'");
$node->reload;
ok(lg_wait_gone($node, $holder->pid), 'the idle session is ended at its blocking limit');
ok( $node->log_contains(
		qr/leakguard terminated process ${\ $holder->pid} of application "holder" .* \(it kept $n session\(s\) waiting for its locks/,
		$log_offset),
	'it kept all the waiters waiting');
is( $node->safe_psql('postgres', qq{
	SELECT kind, cardinality(blocked_pids) FROM leakguard.terminations
	 WHERE pid = ${\ $holder->pid}}),
	'blocking|8', 'the first 8 waiters are recorded');

$node->stop('immediate');
done_testing();
