# At rest the worker does not poll for limits that only a transaction block
# can reach.  With idle-in-transaction and blocking limits far shorter than
# naptime, and no session in a transaction, it scans at naptime; a session
# that begins a transaction wakes it, so its limit is still met on time;
# and sessions beginning transactions all the time make it scan no more
# often than half the shortest limit, as it did before it slept longer.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

# The blocking limit: under make sanitize (every server under valgrind,
# 20 to 50 times slower) long enough to read the waiter's wait start
# before it is over.
my $block_ms = $ENV{LG_SANITIZE} ? 3000 : 500;
my $node = lg_node('rest', conf => qq{
leakguard.naptime = 5s
leakguard.application_timeouts = 'rest*=300ms'
leakguard.application_blocking_timeouts = 'holder=${block_ms}ms'
});
$node->safe_psql('postgres', q{
	CREATE TABLE hot (id int PRIMARY KEY, v int);
	INSERT INTO hot SELECT g, 0 FROM generate_series(1, 10) g;
	GRANT ALL ON hot TO PUBLIC;
});

# Under make sanitize every server runs under valgrind, 20 to 50 times
# slower: "not before" still holds exactly, "how soon after" loosely.
my $slack = $ENV{LG_SANITIZE} ? '2 s' : '150 ms';

sub row { return $node->safe_psql('postgres', $_[0]); }

# The worker's scans per second over at least $seconds, while $busy runs.
sub scan_rate
{
	my ($seconds, $busy) = @_;
	my ($scans1, $t1) = split /\|/, row(
		q{SELECT scans, extract(epoch FROM clock_timestamp()) FROM leakguard.status()});
	$busy->() if $busy;
	$node->poll_query_until('postgres',
		"SELECT extract(epoch FROM clock_timestamp()) - $t1 > $seconds")
	  or die 'the clock did not move';
	my ($scans2, $t2) = split /\|/, row(
		q{SELECT scans, extract(epoch FROM clock_timestamp()) FROM leakguard.status()});
	return ($scans2 - $scans1) / ($t2 - $t1);
}

# at rest: nobody in a transaction (the test's own queries are active for
# a moment: a scan that sees one polls once more, hence up to 5 scans)
my $rate = scan_rate(5);
ok($rate <= 1,
	sprintf('at rest the worker scans %.2f times a second: at naptime (5 s), not every 150 ms', $rate));
ok( $node->poll_query_until('postgres', q{
		SELECT next_wakeup_at - last_scan_at > interval '1 s' FROM leakguard.status()}),
	'status() shows the next wake-up at naptime');

# a session that begins a transaction and leaves it idle is still ended on
# time: by BEGIN alone, by BEGIN with a statement in one message, by START
# TRANSACTION
my @ways = (
	[ 'BEGIN', 'SELECT 1' ],
	[ 'BEGIN \; SELECT 1' ],
	[ 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ', 'SELECT 1' ],
);
for my $way (@ways)
{
	# wait for the worker to be at rest again: its next wake-up is far
	$node->poll_query_until('postgres', q{
		SELECT next_wakeup_at - last_scan_at > interval '1 s' FROM leakguard.status()})
	  or die 'the worker is not at rest';
	my $s = lg_session($node, app => 'rest', leak => 0);
	$s->query($_) for @$way;
	ok(lg_wait_gone($node, $s->pid), "$way->[0]: the session idle in transaction is ended");
	is( row(qq{SELECT idle_time >= timeout, idle_time < timeout + interval '$slack'
	             FROM leakguard.terminations WHERE pid = } . $s->pid),
		't|t', "$way->[0]: within $slack of its 300 ms deadline, not before");
}

# the same over the extended query protocol (Parse, Bind, Execute, Sync
# for each statement), as drivers send it: pgbench -M extended and
# -M prepared, whose client sleeps idle in transaction after SELECT 1
my $xdir = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$xdir/leak.sql",
	"BEGIN;\nSELECT 1;\n\\sleep 5 s\nCOMMIT;\n");
for my $mode ('extended', 'prepared')
{
	$node->poll_query_until('postgres', q{
		SELECT next_wakeup_at - last_scan_at > interval '1 s' FROM leakguard.status()})
	  or die 'the worker is not at rest';
	my ($xout, $xerr) = ('', '');
	local $ENV{PGAPPNAME} = "rest-$mode";
	IPC::Run::run(
		[ 'pgbench', '-n', '-M', $mode, '-f', "$xdir/leak.sql", '-t', 1,
		  '-h', $node->host, '-p', $node->port, '-U', 'app', 'postgres' ],
		'>', \$xout, '2>', \$xerr);
	like($xerr, qr/idle-in-transaction timeout/, "-M $mode: the client idle in transaction is ended");
	is( row(qq{SELECT idle_time >= timeout, idle_time < timeout + interval '$slack'
	             FROM leakguard.terminations WHERE application_name = 'rest-$mode'}),
		't|t', "-M $mode: within $slack of its 300 ms deadline, not before");
}

# a blocker: its wait is seen though the worker was at rest when the
# blocker began its transaction
$node->poll_query_until('postgres', q{
	SELECT next_wakeup_at - last_scan_at > interval '1 s' FROM leakguard.status()})
  or die 'the worker is not at rest';
my $holder = lg_session($node, app => 'holder', leak => 0);
$holder->query('BEGIN');
$holder->query('UPDATE hot SET v = v + 1 WHERE id = 1');
my $waiter = lg_session($node, app => 'waiter', leak => 0);
$waiter->{in} .= "UPDATE hot SET v = v + 1 WHERE id = 1;\n";
$waiter->{h}->pump_nb;
# (waitstart is NULL for a moment after the wait began)
my $waitstart = lg_wait_start($node, $waiter->pid);
ok(lg_wait_gone($node, $holder->pid), 'the blocker is ended');
is( row(qq{SELECT kind, terminated_at - '$waitstart' >= timeout,
                  terminated_at - '$waitstart' < timeout + interval '$slack'
             FROM leakguard.terminations WHERE pid = } . $holder->pid),
	"blocking|t|t", "its blocking limit of $block_ms ms from the start of the wait is met within $slack, not before");
is($waiter->query('SELECT 1'), '1', 'the waiter goes on');
$waiter->close;

# sessions beginning short transactions all the time, 200 a second, each
# in one message: each is over before a scan could see it, so each finds
# the worker sleeping longer; without the blocking limit, whose looks at
# lock waits would add wake-ups of their own
lg_set_conf($node, "leakguard.application_blocking_timeouts = ''\n");
$node->poll_query_until('postgres',
	q{SELECT blocking_rule IS NULL FROM leakguard.limit_for('holder')})
  or die 'the blocking rule is still in force';
my $dir = PostgreSQL::Test::Utils::tempdir();
my $file = "$dir/churn.sql";
PostgreSQL::Test::Utils::append_to_file($file, "BEGIN \\; SELECT 1 \\; COMMIT;\n");
my ($out, $err) = ('', '');
my $pgbench;
$rate = scan_rate(3, sub {
	local $ENV{PGAPPNAME} = 'rest';
	$pgbench = IPC::Run::start(
		[ 'pgbench', '-n', '-f', $file, '-c', 2, '-j', 2, '-T', 4, '-R', 200,
		  '-h', $node->host, '-p', $node->port, '-U', 'app', 'postgres' ],
		'>', \$out, '2>', \$err);
});
ok($pgbench->finish, 'pgbench finished') or diag($err);
my $least = $ENV{LG_SANITIZE} ? 10 : 100;    # valgrind: 20 to 50 times slower
ok($out =~ /number of transactions actually processed: (\d+)/ && $1 >= $least,
	"it ran $least transactions at least");
ok($rate <= 9,
	sprintf('while sessions begin transactions all the time the worker scans %.1f times a second: not for every BEGIN, but at most every 150 ms, as while one is open (6.7 a second, some slack)', $rate));
ok($rate > 0.7 || $ENV{LG_SANITIZE},
	sprintf('and more often than at rest (%.1f)', $rate));

# the same as fast as they go, while another session runs a statement: the
# worker polls then, and sessions that begin transactions during its scans
# do not make it scan again at once
my $sleeper = lg_session($node, app => 'other', leak => 0);
$sleeper->{in} .= "SELECT pg_sleep(6);\n";
$sleeper->{h}->pump_nb;
$node->poll_query_until('postgres',
	q{SELECT state = 'active' FROM pg_stat_activity WHERE pid = } . $sleeper->pid)
  or die 'the sleeper is not active';
($out, $err) = ('', '');
$rate = scan_rate(3, sub {
	local $ENV{PGAPPNAME} = 'rest';
	$pgbench = IPC::Run::start(
		[ 'pgbench', '-n', '-f', $file, '-c', 2, '-j', 2, '-T', 4,
		  '-h', $node->host, '-p', $node->port, '-U', 'app', 'postgres' ],
		'>', \$out, '2>', \$err);
});
ok($pgbench->finish, 'pgbench finished') or diag($err);
ok($out =~ /number of transactions actually processed: (\d+)/ && $1 >= $least,
	"it ran $least transactions at least");
ok($rate <= 9,
	sprintf('with a session running a statement the worker scans %.1f times a second: every 150 ms (6.7 a second, some slack), however many sessions begin transactions', $rate));
$sleeper->close;

is(row(q{SELECT terminated FROM leakguard.stats WHERE application_name = 'rest'}),
	'3', 'only the three idle sessions were ended');

$node->stop;
done_testing();
