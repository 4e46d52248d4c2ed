# 1.3: what holds when no leakguard worker runs (max_worker_processes too
# small for it; issue 29, item 9).
#
# Connection quotas are admission control in the backends and need no
# worker, so they stay enforced; but only a worker judges a reload, so the
# policy they apply is the one the server started with (the postmaster's
# values, validated at start), whatever a reload brings, until the server
# is restarted with room for the worker.  The startup WARNING and
# status() say exactly that.  Bad values at start: the quotas only report.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('noworker', no_extension => 1, conf => q{
max_worker_processes = 0
log_error_verbosity = verbose
leakguard.application_connection_limits = 'q=1'
});
$node->safe_psql('postgres', q{
	CREATE EXTENSION leakguard;
	CREATE ROLE app LOGIN;
});

sub row { return $node->safe_psql('postgres', $_[0]); }

# status().policy (new in 1.3); '' if it cannot be read
sub policy
{
	my ($ret, $out) = $node->psql('postgres', 'SELECT policy FROM leakguard.status()');
	return $out // '';
}

ok( $node->log_contains(
		qr/WARNING:  53400: leakguard worker could not be registered; no session will be terminated, but connection quotas are enforced\n.*DETAIL:  Without the worker, no reload is judged: until the server is restarted, connection quotas apply the leakguard settings it started with, as status\(\)\.policy shows them\./),
	'the startup WARNING says that quotas still hold, with the settings the server started with');
is( row('SELECT pid IS NULL, config_error FROM leakguard.status()'),
	't|the leakguard worker could not be registered: max_worker_processes is exhausted; no session is terminated, and connection quotas apply the settings the server started with',
	'status() says no worker runs, and what holds');
like(policy(),
	qr/^leakguard\.application_connection_limits = 'q=1'$/m,
	'status().policy shows the quota the server started with');

# quotas are enforced without a worker
my $held = lg_session($node, startup_app => 'q', leak => 0);
like(lg_connect_error($node, 'q'), qr/at most 1 connections \(rule "q=1"\), and it holds 1\./,
	'without a worker, a connection beyond its quota is refused');
ok($node->log_contains(qr/FATAL:  53300: too many connections for application "q"/),
	'with SQLSTATE 53300');

# a reload: PostgreSQL applies it (SHOW), leakguard's policy stays
lg_set_conf($node, "leakguard.application_connection_limits = 'q=3'\n");
ok( $node->poll_query_until('postgres',
		q{SELECT current_setting('leakguard.application_connection_limits') = 'q=3'}),
	'after a reload, SHOW gives the new value');
is(row(q{SELECT connection_rule, connection_limit FROM leakguard.limit_for('q')}),
	'q=1|1', 'limit_for() still gives the quota the server started with');
like(lg_connect_error($node, 'q'), qr/at most 1 connections \(rule "q=1"\), and it holds 1\./,
	'and admission applies it');
like(policy(),
	qr/^leakguard\.application_connection_limits = 'q=1'$/m,
	'as status().policy says');
$held->close;

# A bad value at start: the policy is the validated values (the bad one's
# default), and quotas only report, as the WARNING says.
$node->append_conf('postgresql.conf', "leakguard.application_timeouts = 'x=5q'\n");
$node->restart;
ok( $node->log_contains(
		qr/WARNING:  53400: leakguard worker could not be registered; no session will be terminated, and connection quotas only report\n.*DETAIL:  Without the worker, no reload is judged: until the server is restarted, connection quotas apply the leakguard settings it started with, which are invalid \(leakguard\.application_timeouts: Rule 1 \("x=5q"\)/),
	'with a bad value at start, the WARNING says quotas only report');
like(row('SELECT config_error FROM leakguard.status()'),
	qr/connection quotas apply the settings the server started with: leakguard\.application_timeouts: Rule 1 \("x=5q"\) at character \d+: unknown unit "q"/,
	'status().config_error says why');
like(policy(),
	qr/^leakguard\.application_connection_limits = 'q=3'\nleakguard\.transaction_timeout/m,
	'status().policy: the values the server started with ...');
like(policy(),
	qr/^leakguard\.application_timeouts = ''$/m, '... the bad one replaced by its default');
my @q = map { lg_session($node, startup_app => 'q', leak => 0) } 1 .. 4;
is(scalar(@q), 4, 'four q connections are admitted over a quota of 3');
ok($node->log_contains(qr/leakguard \(dry run\) would have refused a connection of application "q"/),
	'the fourth is only reported');
$_->close for @q;

done_testing();
