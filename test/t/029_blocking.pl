# 1.2: a session idle in transaction that keeps another session waiting for
# one of its locks (a row lock here: the waiter waits on its transaction ID)
# is ended at its blocking limit, whatever its idle limit: 25P03 with a
# detail naming how many it blocked.  A leak holding locks nobody waits for
# is not ended, nor is a blocker running a statement (until it goes idle),
# nor an exempt role's; dry_run only reports.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('blocking', conf => q{
leakguard.idle_in_transaction_timeout = 1h
leakguard.application_blocking_timeouts = 'holder=1s, keep=0'
leakguard.exempt_roles = 'exempt_role'
});
$node->safe_psql('postgres', q{
	CREATE TABLE hot (id int PRIMARY KEY, v int);
	INSERT INTO hot SELECT g, 0 FROM generate_series(1, 10) g;
	GRANT ALL ON hot TO PUBLIC;
});

sub row
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# A session idle in transaction holding the row lock of hot.id = $id.
sub holder
{
	my ($id, %p) = @_;
	my $s = lg_session($node, app => 'holder', %p, leak => 0);
	$s->query('BEGIN');
	$s->query("UPDATE hot SET v = v + 1 WHERE id = $id");
	return $s;
}

# A session that starts an UPDATE of hot.id = $id and does not wait for it.
sub waiter
{
	my ($id) = @_;
	my $s = lg_session($node, app => 'waiter', leak => 0);
	$s->{in} .= "UPDATE hot SET v = v + 1 WHERE id = $id;\n";
	$s->{h}->pump_nb;
	$node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = ${\ $s->pid}")
	  or die 'the waiter does not wait';
	return $s;
}

is(row(q{SELECT blocking_rule, blocking_timeout, timeout FROM leakguard.limit_for('holder')}),
	'holder=1s|00:00:01|01:00:00', 'limit_for() reports the blocking rule next to the idle limit');

# locks nobody waits for, and an exempt role's blocker
my $lonely = holder(1);
my $exempt = holder(2, user => 'exempt_role');
my $exempt_waiter = waiter(2);

# a leak holding a row lock another session waits for
my $holder = holder(3);
my $pid = $holder->pid;
my $waiter = waiter(3);
ok(lg_wait_gone($node, $pid), 'the blocker is ended');
like($holder->client_error,
	qr/FATAL:  25P03: terminating connection due to idle-in-transaction timeout\nDETAIL:  leakguard terminated this session of application "holder" after \d+\.\d{3} s idle in transaction: it kept 1 other session\(s\) waiting for its locks for \d+\.\d{3} s; its limit is 1 s \(rule "holder=1s"\)\./,
	'the client gets 25P03 with how many it blocked');
is($waiter->query('SELECT 1'), '1', 'the waiter goes on');
my $wpid = $waiter->pid;
is( row(qq{SELECT kind, action, timeout, rule, idle_time < interval '1 h', blocked_pids = ARRAY[$wpid], xmin_age IS NULL
             FROM leakguard.terminations WHERE pid = $pid}),
	'blocking|terminated|00:00:01|holder=1s|t|t|t', 'the history row: kind blocking, the blocked pid, long before the idle limit');
ok($node->log_contains(qr/LOG:  leakguard terminated process $pid of application "holder" .* limit 1 s of blocking \(it kept 1 session\(s\) waiting for its locks for \d+\.\d{3} s: $wpid\) from rule "holder=1s"/),
	'the log line lists the blocked pid');

# the exempt blocker has kept its waiter past 1 s by now
ok( $node->poll_query_until('postgres', qq{
		SELECT now() - waitstart > interval '1.5 s' FROM pg_locks
		 WHERE pid = ${\ $exempt_waiter->pid} AND NOT granted}),
	'the exempt role\'s waiter has waited past the limit');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
is( row(qq{SELECT string_agg(blocking::text, ',' ORDER BY pid = ${\ $exempt->pid})
             FROM leakguard.sessions WHERE pid IN (${\ $lonely->pid}, ${\ $exempt->pid})}),
	'0,1', 'leakguard.sessions shows how many sessions each keeps waiting');
ok(lg_alive($node, $lonely->pid), 'a leak holding locks nobody waits for is not ended');
ok(lg_alive($node, $exempt->pid), 'an exempt role\'s blocker is not ended');
$exempt->query('ROLLBACK');
is($exempt_waiter->query('SELECT 1'), '1', 'its waiter goes on once it ends its transaction');

# an active blocker is never ended by this limit; once idle, it is
my $active = holder(4);
# (8 s: the waiter's connection and 1.2 s wait, and the check, must fall
# within it, also on a server slowed by valgrind)
$active->{in} .= "SELECT pg_sleep(8);\n";
$active->{h}->pump_nb;
$node->poll_query_until('postgres',
	"SELECT state = 'active' FROM pg_stat_activity WHERE pid = ${\ $active->pid}")
  or die 'not active';
my $active_waiter = waiter(4);
ok( $node->poll_query_until('postgres', qq{
		SELECT now() - waitstart > interval '1.2 s' FROM pg_locks
		 WHERE pid = ${\ $active_waiter->pid} AND NOT granted}),
	'the waiter of an active blocker has waited past the limit');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $active->pid), 'a blocker running a statement is not ended');
ok(lg_wait_gone($node, $active->pid), 'once idle in transaction, it is ended at its limit');
ok( row(qq{SELECT terminated_at >= state_change + timeout FROM leakguard.terminations WHERE pid = ${\ $active->pid}}) eq 't',
	'counted from the moment it went idle, not from the start of the wait');

# dry_run reports once and ends nothing; enforce then ends it
lg_set_conf($node, "leakguard.mode = dry_run\n");
$node->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()})
  or die 'dry_run not in force';
my $dry = holder(5);
my $dry_waiter = waiter(5);
ok( $node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM leakguard.terminations
		    WHERE action = 'dry_run' AND kind = 'blocking' AND pid = ${\ $dry->pid}}),
	'dry_run reports a blocker past its limit');
ok(lg_alive($node, $dry->pid), 'and leaves it alone');
lg_set_conf($node, "leakguard.mode = enforce\n");
ok(lg_wait_gone($node, $dry->pid), 'back in enforce, it is ended');
is($dry_waiter->query('SELECT 1'), '1', 'and its waiter goes on');
is(row(q{SELECT blocking_terminated, blocking_dry_run, terminated FROM leakguard.stats WHERE application_name = 'holder'}),
	'3|1|0', 'stats count blocking terminations and dry runs apart');

$lonely->close;
$waiter->close;
$exempt->close;
$exempt_waiter->close;
$active_waiter->close;
$dry_waiter->close;
$node->stop;
done_testing();
