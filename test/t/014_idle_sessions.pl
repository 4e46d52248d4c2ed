# 1.1: idle sessions (no transaction open) are ended at their
# application's idle limit, with the same scheduling, final check and
# exemptions as transaction leaks.  The client is told 57P05, as by the
# built-in idle_session_timeout, with a detail naming leakguard.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('idle', conf => q{
leakguard.application_idle_timeouts = 'idler=2s, short=1s, keep=0'
leakguard.exempt_roles = 'exempt_role'
});

sub row
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# an idle session past its limit: terminated, never early, told why
my $idle = lg_session($node, app => 'idler', leak => 0);
my $pid = $idle->pid;
is( row(qq{SELECT state, rule, timeout, terminates_at = state_change + timeout,
                  idle IS NOT NULL, idle_in_transaction IS NULL, exempt IS NULL
             FROM leakguard.sessions WHERE pid = $pid}),
	'idle|idler=2s|00:00:02|t|t|t|t',
	'leakguard.sessions shows the idle limit and deadline of an idle session');

# sessions that must survive the same 2 s: one in a transaction (no
# transaction rule applies), one of an exempt role, one whose rule is 0
my $in_xact = lg_session($node, app => 'idler');
my $exempt = lg_session($node, app => 'idler', user => 'exempt_role', leak => 0);
my $keep = lg_session($node, app => 'keep', leak => 0);

ok(lg_wait_gone($node, $pid), 'the idle session is terminated');
like($idle->client_error,
	qr/FATAL:  57P05: terminating connection due to idle-session timeout\nDETAIL:  leakguard terminated this session of application "idler" after \d+\.\d{3} s idle; its limit is 2 s \(rule "idler=2s"\)\./,
	'the client gets 57P05 with the leakguard detail');
is( row(qq{SELECT kind, action, idle_time >= timeout, xact_start IS NULL, rule
             FROM leakguard.terminations WHERE pid = $pid}),
	'idle|terminated|t|t|idler=2s', 'the history row: kind idle, never early');
ok($node->log_contains(qr/LOG:  leakguard terminated process $pid of application "idler" \(user "app", database "postgres"\) idle for \d+\.\d{3} s; limit 2 s from rule "idler=2s"/),
	'the log line says idle');

# the survivors, now past 2 s
ok( $node->poll_query_until('postgres', qq{
		SELECT bool_and(now() - state_change > interval '2.5 s')
		  FROM leakguard.sessions WHERE pid IN (${\ $in_xact->pid}, ${\ $exempt->pid}, ${\ $keep->pid})}),
	'the other sessions are past 2 s');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $in_xact->pid), 'a session idle in transaction is not judged by the idle rules');
ok(lg_alive($node, $exempt->pid), 'an exempt role\'s idle session is not terminated');
ok(lg_alive($node, $keep->pid), 'an application whose idle rule is 0 is not');
is(row('SELECT exempt FROM leakguard.sessions WHERE pid = ' . $exempt->pid), 'role',
	'and leakguard.sessions says why: role');
is(row('SELECT exempt FROM leakguard.sessions WHERE pid = ' . $keep->pid), 'rule',
	'and: rule');

# a session running a statement longer than its idle limit is never touched
my $busy = lg_session($node, app => 'short', leak => 0);
is($busy->query(q{SELECT pg_sleep(2.5), 'done'}), '|done',
	'a statement longer than the idle limit runs to its end');
ok(lg_wait_gone($node, $busy->pid), 'and once idle, the session is terminated at its limit');

is( row(q{SELECT terminated, idle_terminated, idle_dry_run FROM leakguard.stats WHERE application_name = 'idler'}),
	'0|1|0', 'stats count idle-session terminations apart from transaction ones');

# dry_run reports once and terminates nothing; enforce then terminates
lg_set_conf($node, "leakguard.mode = dry_run\n");
$node->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()})
  or die 'dry_run not in force';
my $dry = lg_session($node, app => 'short', leak => 0);
ok( $node->poll_query_until('postgres',
		'SELECT count(*) = 1 FROM leakguard.terminations WHERE action = \'dry_run\' AND pid = ' . $dry->pid),
	'dry_run reports an idle session past its limit');
ok(lg_alive($node, $dry->pid), 'and leaves it alone');
is(row(q{SELECT idle_dry_run FROM leakguard.stats WHERE application_name = 'short'}), '1',
	'stats count it as an idle dry run');
lg_set_conf($node, "leakguard.mode = enforce\n");
ok(lg_wait_gone($node, $dry->pid), 'back in enforce, it is terminated');

# a reload changes the idle limits without a restart
lg_set_conf($node, "leakguard.application_idle_timeouts = 'idler=1s'\nleakguard.idle_session_timeout = 3s\n");
ok( $node->poll_query_until('postgres',
		q{SELECT idle_rule = 'idler=1s' FROM leakguard.limit_for('idler')}),
	'limit_for() reports the new idle rule');
my $again = lg_session($node, app => 'idler', leak => 0);
ok(lg_wait_gone($node, $again->pid), 'a new idle session is terminated under it');
is(row('SELECT timeout FROM leakguard.terminations WHERE pid = ' . $again->pid), '00:00:01',
	'at the new limit');
my $default = lg_session($node, app => 'someone', leak => 0);
ok(lg_wait_gone($node, $default->pid), 'the default idle_session_timeout applies to unnamed applications');
like($default->client_error, qr/its limit is 3 s \(leakguard\.idle_session_timeout\)/,
	'and the client is told it was the default');

$in_xact->close;
$exempt->close;
$keep->close;
$node->stop;
done_testing();
