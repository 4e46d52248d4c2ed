# 1.2: a transaction open longer than its application's transaction limit
# is ended, active or idle, however busy the client keeps it: the deadline
# is xact_start + limit, which no statement moves.  The client is told
# 25P04, PostgreSQL 17's transaction_timeout code, with its message and a
# detail naming leakguard, the age and the rule.  Short transactions one
# after the other are never ended; exempt roles and rules of 0 are honoured;
# dry_run only reports.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use LeakguardTest;

my $node = lg_node('transaction', conf => q{
leakguard.idle_in_transaction_timeout = 1h
leakguard.application_transaction_timeouts = 'busy=2s, keep=0'
leakguard.exempt_roles = 'exempt_role'
});

sub row
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

is(row(q{SELECT transaction_rule, transaction_timeout, rule, timeout FROM leakguard.limit_for('busy')}),
	'busy=2s|00:00:02||01:00:00', 'limit_for() reports the transaction rule next to the idle-in-transaction limit');
is(row(q{SELECT transaction_rule IS NULL, transaction_timeout FROM leakguard.limit_for('other')}),
	't|00:00:00', 'and no transaction limit where no rule matches and the default is 0');

# Run statements of 200 ms each in the session until the server ends it;
# returns the seconds that took.
sub keep_busy
{
	my ($s) = @_;
	my $start = time;
	while (eval { $s->query('SELECT pg_sleep(0.2)'); 1 })
	{
		die 'the busy session was never ended'
		  if time - $start > $PostgreSQL::Test::Utils::timeout_default;
	}
	return time - $start;
}

# sessions that must survive: an exempt role's, and one whose rule is 0,
# both in one transaction for longer than 2 s
my $exempt = lg_session($node, app => 'busy', user => 'exempt_role');
my $keep = lg_session($node, app => 'keep');

# a transaction kept busy with a statement every 200 ms: its idle periods
# are all short, but the transaction is 2 s old at some point
my $busy = lg_session($node, app => 'busy');
my $pid = $busy->pid;
my $lasted = keep_busy($busy);
ok($lasted < 10, "the busy transaction is ended (after ${\ sprintf('%.1f', $lasted)} s of statements)");
ok(lg_wait_gone($node, $pid), 'its backend is gone');
like($busy->client_error,
	qr/FATAL:  25P04: terminating connection due to transaction timeout\nDETAIL:  leakguard terminated this session of application "busy" after \d+\.\d{3} s in one transaction; its limit is 2 s \(rule "busy=2s"\)\./,
	'the client gets 25P04 with the leakguard detail: age and rule');
is( row(qq{SELECT kind, action, idle_time >= timeout, timeout, rule, xact_start IS NOT NULL,
                  state_change IS NULL, terminated_at >= xact_start + timeout
             FROM leakguard.terminations WHERE pid = $pid}),
	'transaction|terminated|t|00:00:02|busy=2s|t|t|t',
	'the history row: kind transaction, never before xact_start + limit');
ok($node->log_contains(qr/LOG:  leakguard terminated process $pid of application "busy" \(user "app", database "postgres"\) in one transaction for \d+\.\d{3} s; limit 2 s from rule "busy=2s"/),
	'the log line names the transaction age and the rule');
is(row(q{SELECT transaction_terminated, terminated, idle_terminated FROM leakguard.stats WHERE application_name = 'busy'}),
	'1|0|0', 'stats count it as a transaction termination, not an idle one');

# short transactions one after the other, for longer than the limit in all
my $short = lg_session($node, app => 'busy', leak => 0);
my $start = time;
while (time - $start < 3)
{
	$short->query('BEGIN');
	$short->query('SELECT pg_sleep(0.2)');
	$short->query('COMMIT');
}
ok(lg_alive($node, $short->pid), 'short transactions in a row are never ended');

# the survivors, now in transactions older than 2 s
ok( $node->poll_query_until('postgres', qq{
		SELECT bool_and(now() - xact_start > interval '2.5 s')
		  FROM pg_stat_activity WHERE pid IN (${\ $exempt->pid}, ${\ $keep->pid})}),
	'the other transactions are past 2 s');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $exempt->pid), 'an exempt role\'s transaction is not ended');
ok(lg_alive($node, $keep->pid), 'nor one whose rule is 0');

# dry_run reports once and ends nothing; enforce then ends it
lg_set_conf($node, "leakguard.mode = dry_run\n");
$node->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()})
  or die 'dry_run not in force';
my $dry = lg_session($node, app => 'busy');
ok( $node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM leakguard.terminations
		    WHERE action = 'dry_run' AND kind = 'transaction' AND pid = ${\ $dry->pid}}),
	'dry_run reports a transaction past its limit');
ok(lg_alive($node, $dry->pid), 'and leaves it alone');
is(row(q{SELECT transaction_dry_run FROM leakguard.stats WHERE application_name = 'busy'}), '1',
	'stats count it as a transaction dry run');
$dry->query('SELECT 1');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
is(row('SELECT count(*) FROM leakguard.terminations WHERE pid = ' . $dry->pid), '1',
	'once: a statement in the same transaction does not report it again');
lg_set_conf($node, "leakguard.mode = enforce\n");
ok(lg_wait_gone($node, $dry->pid), 'back in enforce, it is ended');

# a reload changes the transaction limits; the default applies to unnamed
# applications
lg_set_conf($node, "leakguard.transaction_timeout = 1s\n");
ok( $node->poll_query_until('postgres',
		q{SELECT transaction_timeout = interval '1 s' FROM leakguard.limit_for('someone')}),
	'limit_for() reports the new default');
my $default = lg_session($node, app => 'someone');
ok(lg_wait_gone($node, $default->pid), 'the default transaction_timeout applies to unnamed applications');
like($default->client_error, qr/its limit is 1 s \(leakguard\.transaction_timeout\)/,
	'and the client is told it was the default');

$exempt->close;
$keep->close;
$short->close;
$node->stop;
done_testing();
