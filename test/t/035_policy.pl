# 1.3: one policy in force, in every process.
#
# A reload with one bad leakguard value is rejected whole: the worker keeps
# its previous values, and so does every backend, for connection quotas at
# admission and at a rename, for limit_for() and for the views, in backends
# that were there before the reload as in those started after it.  SHOW
# shows the file's values, as PostgreSQL decides; status().policy shows the
# policy in force.  Once the file is mended and reloaded, the new values
# are in force everywhere.  (Issue 29, item 1.)
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('policy', conf => q{
log_error_verbosity = verbose
leakguard.application_connection_limits = 'billing-api=1'
leakguard.application_timeouts = 'web=1h'
leakguard.idle_in_transaction_timeout = 1h
});

sub row { return $node->safe_psql('postgres', $_[0]); }

# status().policy (new in 1.3); '' if it cannot be read
sub policy
{
	my ($ret, $out) = $node->psql('postgres', 'SELECT policy FROM leakguard.status()');
	return $out // '';
}

# before: billing-api=1 holds
my $held = lg_session($node, startup_app => 'billing-api', leak => 0);
like(lg_connect_error($node, 'billing-api'),
	qr/too many connections for application "billing-api"/,
	'billing-api=1: a second billing-api connection is refused');

# Sessions that exist before the reload: one that will look, one that will
# rename itself into billing-api, one idle in transaction for the views.
my $old = lg_session($node, app => 'watcher', leak => 0);
my $renamer = lg_session($node, app => 'other', leak => 0);
my $idle = lg_session($node, app => 'plain');

# The DBA raises the quota and, in the same reload, makes a typo in
# another setting; the default idle limit changes too.
my $offset = -s $node->logfile;
lg_set_conf($node, q{
leakguard.application_connection_limits = 'billing-api=3'
leakguard.application_timeouts = 'web=1h, typo=5x'
leakguard.idle_in_transaction_timeout = 2h
});
$node->wait_for_log(
	qr/leakguard rejected the new configuration; the previous values stay in force/, $offset);

ok( $node->poll_query_until('postgres', q{
		SELECT config_error LIKE '%leakguard.application_timeouts: Rule 2 ("typo=5x") at character %: unknown unit "x"%'
		  FROM leakguard.status()}),
	'status().config_error names the bad rule');
is(row('SHOW leakguard.application_connection_limits'), 'billing-api=3',
	'SHOW shows the value of the file, as PostgreSQL decides');
like( policy(),
	qr/^leakguard\.application_connection_limits = 'billing-api=1'$/m,
	'status().policy shows the quota in force');
like(policy(),
	qr/^leakguard\.idle_in_transaction_timeout = '3600000'$/m,
	'and the idle limit in force');

# a backend started after the bad reload
is( row(q{SELECT connection_rule, connection_limit, rule, timeout FROM leakguard.limit_for('billing-api')}),
	'billing-api=1|1||01:00:00',
	'limit_for() in a new backend: the quota and the default limit in force');
# a backend that was there before it (it has applied the file's good values)
is($old->query('SHOW leakguard.application_connection_limits'), 'billing-api=3',
	'an older backend SHOWs the file\'s value too');
is( $old->query(q{SELECT connection_rule, connection_limit, timeout FROM leakguard.limit_for('billing-api')}),
	'billing-api=1|1|01:00:00',
	'but its limit_for() gives the policy in force');
is( $old->query('SELECT rule, timeout FROM leakguard.sessions WHERE pid = ' . $idle->pid),
	'|01:00:00', 'and so does leakguard.sessions');
is( row(q{SELECT count(*) FROM leakguard.suggest_limits()
           WHERE application_name = 'billing-api' AND kind = 'connections' AND current_limit = '1'}),
	'1', 'and suggest_limits()');

# admission: the second billing-api connection is still refused
my $err = lg_connect_error($node, 'billing-api');
like($err, qr/too many connections for application "billing-api"/,
	'after the rejected reload, a second billing-api connection is refused');
like($err, qr/at most 1 connections \(rule "billing-api=1"\), and it holds 1\./,
	'by the quota in force');
ok($node->log_contains(qr/FATAL:  53300: too many connections for application "billing-api"/, $offset),
	'with SQLSTATE 53300');

# a rename is judged by the policy in force
$renamer->{in} .= "SET application_name = 'billing-api';\n";
like($renamer->client_error,
	qr/too many connections for application "billing-api".*This session changed its application_name from "other"; leakguard allows application "billing-api" at most 1 connections \(rule "billing-api=1"\), and it holds 1\./s,
	'a session that renames itself into billing-api is ended by the quota in force');

# the DBA mends the typo: billing-api=3 is in force everywhere
lg_set_conf($node, q{
leakguard.application_timeouts = 'web=1h'
});
ok($node->poll_query_until('postgres', 'SELECT config_error IS NULL FROM leakguard.status()'),
	'the mended file is taken');
is( row(q{SELECT connection_rule, connection_limit, timeout FROM leakguard.limit_for('billing-api')}),
	'billing-api=3|3|02:00:00', 'limit_for() gives the new quota and limit');
is( $old->query(q{SELECT connection_rule, connection_limit FROM leakguard.limit_for('billing-api')}),
	'billing-api=3|3', 'in the older backend too');
is( $old->query('SELECT timeout FROM leakguard.sessions WHERE pid = ' . $idle->pid),
	'02:00:00', 'and in leakguard.sessions');
like( policy(),
	qr/^leakguard\.application_connection_limits = 'billing-api=3'$/m,
	'status().policy shows the new quota');
my @more = map { lg_session($node, startup_app => 'billing-api', leak => 0) } 1 .. 2;
is(scalar(@more), 2, 'two more billing-api connections are admitted');
like(lg_connect_error($node, 'billing-api'), qr/at most 3 connections \(rule "billing-api=3"\), and it holds 3\./,
	'the fourth is refused');
my $renamer2 = lg_session($node, app => 'other2', leak => 0);
$renamer2->{in} .= "SET application_name = 'billing-api';\n";
like($renamer2->client_error, qr/at most 3 connections \(rule "billing-api=3"\), and it holds 3\./,
	'and so is a rename into it');

$_->close for ($held, $old, $idle, @more);
done_testing();
