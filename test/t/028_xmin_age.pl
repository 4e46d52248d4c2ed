# 1.2: a session idle in transaction whose snapshot (backend_xmin) or
# transaction ID (backend_xid) has fallen more than its application's limit
# of transactions behind the next transaction ID is ended, whatever its idle
# limit: 25P03 with the age in the detail.  A read-only leak that holds no
# snapshot (READ COMMITTED between statements) holds nothing back and is
# never ended by this limit; exempt roles, rules of 0 and dry_run as for
# every limit.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('xmin', conf => q{
leakguard.idle_in_transaction_timeout = 1h
leakguard.application_xmin_age_limits = 'snap=1000, keep=0'
leakguard.exempt_roles = 'exempt_role'
});

sub row
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# A session idle in transaction holding a snapshot (REPEATABLE READ).
sub snapshot_leak
{
	my (%p) = @_;
	my $s = lg_session($node, %p, leak => 0);
	$s->query('BEGIN ISOLATION LEVEL REPEATABLE READ');
	$s->query('SELECT 1');
	return $s;
}

is(row(q{SELECT xmin_rule, xmin_age_limit, timeout FROM leakguard.limit_for('snap')}),
	'snap=1000|1000|01:00:00', 'limit_for() reports the xmin rule, in transactions');

my $snap = snapshot_leak(app => 'snap');
my $xid = lg_session($node, app => 'snap', leak => 0);
$xid->query('BEGIN');
$xid->query('SELECT pg_catalog.pg_current_xact_id()');
my $ro = lg_session($node, app => 'snap');
my $exempt = snapshot_leak(app => 'snap', user => 'exempt_role');
my $keep = snapshot_leak(app => 'keep');

is( row(qq{SELECT string_agg((backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)::text, ',' ORDER BY pid = ${\ $ro->pid}, pid)
             FROM pg_stat_activity
            WHERE pid IN (${\ $snap->pid}, ${\ $xid->pid}, ${\ $ro->pid})}),
	'true,true,false', 'the snapshot and xid leaks hold the horizon; the read-only leak does not');

is( row(qq{SELECT string_agg((xmin_age IS NOT NULL)::text, ',' ORDER BY pid = ${\ $ro->pid}, pid)
             FROM leakguard.sessions
            WHERE pid IN (${\ $snap->pid}, ${\ $xid->pid}, ${\ $ro->pid})}),
	'true,true,false', 'leakguard.sessions shows their xmin_age, NULL for the read-only leak');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $snap->pid) && lg_alive($node, $xid->pid),
	'nothing is ended while the horizon is within the limit');

lg_burn_xids($node, 1100);
ok(lg_wait_gone($node, $snap->pid), 'the leaked snapshot 1100 transactions behind is ended');
ok(lg_wait_gone($node, $xid->pid), 'so is the leaked transaction ID');
like($snap->client_error,
	qr/FATAL:  25P03: terminating connection due to idle-in-transaction timeout\nDETAIL:  leakguard terminated this session of application "snap" after \d+\.\d{3} s idle in transaction: its snapshot or transaction ID was \d+ transactions old; its limit is 1000 transactions \(rule "snap=1000"\)\./,
	'the client gets 25P03 with the age and the rule');
is( row(qq{SELECT kind, action, timeout IS NULL, rule, xmin_age > 1000, blocked_pids IS NULL
             FROM leakguard.terminations WHERE pid = ${\ $snap->pid}}),
	'xmin|terminated|t|snap=1000|t|t', 'the history row: kind xmin, with the age');
is(row(q{SELECT xmin_terminated, terminated FROM leakguard.stats WHERE application_name = 'snap'}),
	'2|0', 'stats count them as xmin terminations');
ok($node->log_contains(qr/LOG:  leakguard terminated process ${\ $snap->pid} of application "snap" .* idle in transaction for \d+\.\d{3} s; limit 1000 transactions \(its snapshot or transaction ID is \d+ old\) from rule "snap=1000"/),
	'the log line names the age and the limit');

$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $ro->pid), 'a read-only leak with no snapshot is not ended');
ok(lg_alive($node, $exempt->pid), 'an exempt role\'s leak is not');
ok(lg_alive($node, $keep->pid), 'nor one whose rule is 0');

# dry_run reports once and ends nothing; enforce then ends it
lg_set_conf($node, "leakguard.mode = dry_run\n");
$node->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()})
  or die 'dry_run not in force';
my $dry = snapshot_leak(app => 'snap');
lg_burn_xids($node, 1100);
ok( $node->poll_query_until('postgres',
		qq{SELECT count(*) = 1 FROM leakguard.terminations
		    WHERE action = 'dry_run' AND kind = 'xmin' AND pid = ${\ $dry->pid}}),
	'dry_run reports a snapshot past its limit');
ok(lg_alive($node, $dry->pid), 'and leaves it alone');
is(row(q{SELECT xmin_dry_run FROM leakguard.stats WHERE application_name = 'snap'}), '1',
	'stats count it as an xmin dry run');
lg_set_conf($node, "leakguard.mode = enforce\n");
ok(lg_wait_gone($node, $dry->pid), 'back in enforce, it is ended');

# the default applies to applications no rule names
lg_set_conf($node, "leakguard.xmin_age_limit = 500\n");
ok( $node->poll_query_until('postgres',
		q{SELECT xmin_age_limit = 500 AND xmin_rule IS NULL FROM leakguard.limit_for('someone')}),
	'limit_for() reports the default');
my $default = snapshot_leak(app => 'someone');
lg_burn_xids($node, 600);
ok(lg_wait_gone($node, $default->pid), 'the default xmin_age_limit applies to unnamed applications');
like($default->client_error, qr/its limit is 500 transactions \(leakguard\.xmin_age_limit\)/,
	'and the client is told it was the default');

$ro->close;
$exempt->close;
$keep->close;
$node->stop;
done_testing();
