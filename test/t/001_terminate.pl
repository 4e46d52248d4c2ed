# Sessions idle in transaction are terminated at their own application's
# limit, never before; exempt and unmatched ones never are; the client and
# the log are told why, and a termination by a person keeps its message.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('terminate', conf => q{
leakguard.idle_in_transaction_timeout = 0
leakguard.application_timeouts = 'fast=1s, slow=3s, keep=0, "my app*"=1s, job?=1s, ""=1500ms, busy=1s'
});

# One session per case, all leaking at about the same moment.
my %s = (
	fast      => lg_session($node, app => 'fast', tcp => 1),
	slow      => lg_session($node, app => 'slow'),
	keep      => lg_session($node, app => 'keep'),
	unmatched => lg_session($node, app => 'unmatched'),
	quoted    => lg_session($node, app => 'my app 2'),
	glob      => lg_session($node, app => 'job7'),
	globmiss  => lg_session($node, app => 'job77'),
	empty     => lg_session($node, app => ''),
);

# sessions shows each one's rule, timeout and deadline (on a slow machine
# the shortest may already be gone: every row present must be right, and
# those never to be terminated must be there)
my %want = (
	''          => '""=1500ms|00:00:01.5|t|',
	'fast'      => 'fast=1s|00:00:01|t|',
	'job7'      => 'job?=1s|00:00:01|t|',
	'job77'     => '|00:00:00||no limit',
	'keep'      => 'keep=0|00:00:00||rule',
	'my app 2'  => '"my app*"=1s|00:00:01|t|',
	'slow'      => 'slow=3s|00:00:03|t|',
	'unmatched' => '|00:00:00||no limit');
my %seen;
for my $row (split /\n/, $node->safe_psql('postgres', q{
		SELECT format('%s#%s|%s|%s|%s', application_name, rule, timeout,
		              terminates_at = state_change + timeout, exempt)
		  FROM leakguard.sessions WHERE usename = 'app'}))
{
	my ($app, $got) = split /#/, $row, 2;
	$seen{$app} = 1;
	is($got, $want{$app}, "sessions: rule, timeout, terminates_at, exempt of \"$app\"");
}
ok($seen{keep} && $seen{unmatched} && $seen{job77},
	'sessions lists the sessions that are never terminated');

for my $case (qw(fast quoted glob empty slow))
{
	ok(lg_wait_gone($node, $s{$case}->pid), "$case session was terminated");
}

# What was done, from the history: each at its own limit, never early.
my $rows = $node->safe_psql('postgres', q{
	SELECT application_name, rule, timeout, action,
	       idle_time >= timeout AS not_early,
	       idle_time < timeout + interval '2 s' AS in_time,
	       abs(extract(epoch FROM terminated_at - state_change - idle_time)) < 0.001 AS consistent
	  FROM leakguard.terminations ORDER BY application_name COLLATE "C"});
is($rows, join("\n",
	'|""=1500ms|00:00:01.5|terminated|t|t|t',
	'fast|fast=1s|00:00:01|terminated|t|t|t',
	'job7|job?=1s|00:00:01|terminated|t|t|t',
	'my app 2|"my app*"=1s|00:00:01|terminated|t|t|t',
	'slow|slow=3s|00:00:03|terminated|t|t|t'),
	'each application was terminated at its own limit, none early');

# The exempt and unmatched sessions outlived the longest limit.
for my $case (qw(keep unmatched globmiss))
{
	ok(lg_alive($node, $s{$case}->pid), "$case session is still connected");
}
# (polled: on a loaded machine the last of them may have begun its
# transaction a moment after the slowest session was ended)
ok( $node->poll_query_until('postgres', q{
		SELECT bool_and(idle_in_transaction > interval '3 s') AND count(*) = 3
		  FROM leakguard.sessions WHERE application_name IN ('keep', 'unmatched', 'job77')}),
	'and has been idle in transaction longer than any limit');
for my $case (qw(keep unmatched globmiss))
{
	ok(lg_alive($node, $s{$case}->pid), "$case session is still connected after that");
}
is($s{keep}->query('SELECT 42'), '42', 'an exempt session still works');

# What the terminated client was told.
my $err = $s{fast}->client_error;
like($err, qr/FATAL:  25P03: terminating connection due to idle-in-transaction timeout/,
	'client gets FATAL with SQLSTATE 25P03');
like($err,
	qr/DETAIL:  leakguard terminated this session of application "fast" after 1\.\d{3} s idle in transaction; its limit is 1 s \(rule "fast=1s"\)\./,
	'client detail names leakguard, the application, the idle time and the limit');
like($s{empty}->client_error,
	qr/its limit is 1500 ms \(rule """=1500ms"\)/,
	'the empty application name has its rule');

# One log line per termination, with pid, application, user, database,
# idle time, limit and rule.
my $pid = $s{slow}->pid;
ok( $node->log_contains(
		qr/leakguard terminated process $pid of application "slow" \(user "app", database "postgres"\) idle in transaction for 3\.\d{3} s; limit 3 s from rule "slow=3s"/),
	'the log names pid, application, user, database, idle time, limit and rule');

# A termination by a person keeps its usual message.
my $victim = lg_session($node, app => 'unmatched');
$node->safe_psql('postgres', 'SELECT pg_terminate_backend(' . $victim->pid . ')');
$err = $victim->client_error;
like($err, qr/FATAL:  57P01: terminating connection due to administrator command/,
	'pg_terminate_backend() by a person keeps 57P01');
unlike($err, qr/leakguard/, 'and does not mention leakguard');

# A statement that runs longer than the limit is not interrupted, and the
# idle clock starts again when it ends.
my $busy = lg_session($node, app => 'busy', leak => 0);
$busy->query('BEGIN');
is($busy->query('SELECT pg_sleep(2.5), 7'), '|7',
	'a statement longer than the limit runs to its end');
ok(lg_wait_gone($node, $busy->pid), 'the session is terminated once idle');
is( $node->safe_psql('postgres', 'SELECT action, idle_time >= interval \'1 s\', '
		  . "idle_time < interval '2.5 s', state_change - xact_start >= interval '2.5 s' "
		  . 'FROM leakguard.terminations WHERE pid = ' . $busy->pid),
	'terminated|t|t|t',
	'its idle time was counted from the end of the statement');

# With log_min_messages = panic the victim's FATAL is not for the server
# log, and PostgreSQL calls no emit_log_hook: the client is told 57P01, and
# the mark leakguard left for that process stays.  It names that process
# alone (pid and start time), so it never relabels another termination.
$node->safe_psql('postgres', 'ALTER ROLE app SET log_min_messages = panic');
my $quiet = lg_session($node, app => 'fast');
ok(lg_wait_gone($node, $quiet->pid), 'with log_min_messages = panic, a leak is terminated');
like($quiet->client_error, qr/FATAL:  57P01: terminating connection due to administrator command/,
	'its client is told 57P01: PostgreSQL skips the hook that would rewrite it');
is($node->safe_psql('postgres', 'SELECT action FROM leakguard.terminations WHERE pid = ' . $quiet->pid),
	'terminated', 'the termination is recorded all the same');
$node->safe_psql('postgres', 'ALTER ROLE app RESET log_min_messages');
$victim = lg_session($node, app => 'unmatched');
$node->safe_psql('postgres', 'SELECT pg_terminate_backend(' . $victim->pid . ')');
$err = $victim->client_error;
like($err, qr/FATAL:  57P01: terminating connection due to administrator command/,
	'a later termination by a person keeps 57P01');
unlike($err, qr/leakguard/, 'the mark left behind is not taken for it');
$quiet = lg_session($node, app => 'fast');
ok(lg_wait_gone($node, $quiet->pid), 'a later leak is terminated');
like($quiet->client_error, qr/FATAL:  25P03: .*\n.*application "fast"/,
	'and its client is told 25P03, with the detail');

$s{$_}->close for qw(unmatched globmiss);
$node->stop;
done_testing();
