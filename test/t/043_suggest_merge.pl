# Suggestions applied as the README's onboarding says keep every limit the
# DBA set that they do not list as a change (issue 28).
#
# The three cases the review of 1.2 reproduced, each with its statistics
# gathered in dry_run and the suggestions applied with the documented
# \gexec line and a reload:
#  - 'web=3s, *=0' (only web limited): web is ended at its suggested limit,
#    listed by suggested_changes(), and every other application stays
#    exempt (1.2 wrote '*=0, "web"=..., *=...': web unlimited);
#  - 'billing-api=30s, * user app_rw=10min': billing-api sessions of app_rw
#    keep 30 s (1.2 moved the qualified rule first: 10 min);
#  - the anti-spoofing quota 'web2 user app2 = 20, web2 = 1': every other
#    role's web2 keeps 1 place (1.2 replaced 'web2 = 1' by a quota computed
#    from app2's own connections).
# suggested_changes() lists exactly what changed.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('suggest_merge', conf => q{
leakguard.mode = dry_run
leakguard.application_timeouts = 'web=3s, *=0'
leakguard.application_idle_timeouts = 'web=1h, *=0'
leakguard.application_transaction_timeouts = 'web=1h, *=0'
leakguard.application_connection_limits = 'web2 user app2 = 20, web2 = 1'
});
$node->safe_psql('postgres', q{
	CREATE ROLE app2 LOGIN;
	CREATE ROLE app_rw LOGIN;
});

sub row { return $node->safe_psql('postgres', $_[0]); }

# A query whose error is a failed check, not the end of the test (1.2 has
# no suggested_changes(); the cases after it must still be judged there).
sub row_or_error
{
	my ($ret, $out, $err) = $node->psql('postgres', $_[0]);
	return $ret == 0 ? $out : "ERROR: $err";
}

# Short transactions of an application, one client: each one idle in
# transaction for well under a millisecond.
sub workload
{
	my ($app, $n, %p) = @_;
	my $user = $p{user} // 'app';
	my $script = "BEGIN;\nSELECT 1;\nCOMMIT;\n" x $n;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d',
		  $node->connstr('postgres') . " user=$user application_name=$app", '-f', '-' ],
		'<', \$script, '>', \$out, '2>', \$err)
	  or die "workload of $app failed: $err";
	return;
}

# Apply the suggestions exactly as the README's onboarding says.
sub apply_suggestions
{
	my $offset = -s $node->logfile;
	(my $want = row(q{SELECT setting FROM leakguard.suggested_settings()
		WHERE name = 'leakguard.application_timeouts'})) =~ s/'/''/g;
	$node->safe_psql('postgres', q{
SELECT format('ALTER SYSTEM SET %s = %L', name, setting)
  FROM leakguard.suggested_settings() \gexec
SELECT pg_reload_conf();
});
	$node->poll_query_until('postgres', qq{
		SELECT config_error IS NULL AND rules = '$want' FROM leakguard.status()})
	  or die 'the worker did not take the suggested settings: '
	  . row('SELECT config_error FROM leakguard.status()');
	ok(!$node->log_contains('invalid value', $offset), 'a reload accepts every suggested setting');
	return;
}

# ---- the statistics of onboarding, in dry_run ----
workload('web', 150);
workload('billing-api', 3, user => 'app_rw');
# app2's own web2 connections: 3 at a time
my @app2 = map { lg_session($node, startup_app => 'web2', user => 'app2', leak => 0) } 1 .. 3;
ok( $node->poll_query_until('postgres', q{
		SELECT episodes >= 150 FROM leakguard.suggest_limits()
		 WHERE application_name = 'web' AND kind = 'idle in transaction'}),
	'web has 150 episodes');
ok( $node->poll_query_until('postgres', q{
		SELECT peak_connections >= 3 FROM leakguard.suggest_limits()
		 WHERE application_name = 'web2' AND kind = 'connections'}),
	'web2 peaked at 3 connections');
$_->close for @app2;

# ---- the preview ----
my $suggested = row(q{SELECT suggested_limit FROM leakguard.suggest_limits()
	WHERE application_name = 'web' AND kind = 'idle in transaction'});
is($suggested, '1s', 'web: sub-millisecond episodes suggest the floor, 1s');
is( row(q{SELECT setting FROM leakguard.suggested_settings()
		   WHERE name = 'leakguard.application_timeouts'}),
	'"web"=1s, *=0',
	'web gets its rule where web=3s was; *=0 stays last and exempts the rest');
is( row_or_error(q{SELECT application_name, usename, datname, limit_now, limit_after, rule_now, rule_after
		    FROM leakguard.suggested_changes()
		   WHERE setting = 'leakguard.application_timeouts'}),
	'web|||3s|1s|web=3s|"web"=1s',
	'suggested_changes() lists the one change of application_timeouts');
is( row_or_error(q{SELECT count(*) FROM leakguard.suggested_changes()
		   WHERE setting = 'leakguard.application_connection_limits'}),
	'0', 'no quota change: web2 = 1 is the rule for every other role');
is( row_or_error(q{SELECT count(*) FROM leakguard.suggested_changes() c
		   WHERE c.setting NOT IN (SELECT name FROM leakguard.suggested_settings())
		      OR c.limit_now = c.limit_after}),
	'0', 'every change listed is a change of a setting returned');

# ---- apply, enforce ----
apply_suggestions();
row(q{ALTER SYSTEM SET leakguard.mode = 'enforce'; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{SELECT mode = 'enforce' FROM leakguard.status()})
  or die 'no enforce';

is(row(q{SELECT rule, timeout FROM leakguard.limit_for('web')}), '"web"=1s|00:00:01',
	'limit_for(web): the suggested limit');
is(row(q{SELECT rule, timeout FROM leakguard.limit_for('other')}), '*=0|00:00:00',
	'limit_for(other): still exempt by *=0');

my $web = lg_session($node, startup_app => 'web');
my $other = lg_session($node, startup_app => 'other');
ok(lg_wait_gone($node, $web->pid), 'a web leak is ended');
is( row(qq{SELECT rule, timeout FROM leakguard.terminations
			WHERE pid = @{[ $web->pid ]} AND action = 'terminated'}),
	'"web"=1s|00:00:01', 'at its suggested limit, by its rule (idle in transaction or transaction: both 1s)');
is( row(qq{SELECT exempt, rule FROM leakguard.sessions WHERE pid = @{[ $other->pid ]}}),
	'rule|*=0', 'another application\'s leak stays exempt');
$other->close;

# ---- billing-api of app_rw keeps 30 s ----
# A second round: the same rules with the qualified one, reloaded.
row(q{ALTER SYSTEM SET leakguard.application_timeouts =
	  'billing-api=30s, * user app_rw=10min';
	  ALTER SYSTEM SET leakguard.mode = 'dry_run';
	  SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{
	SELECT rules LIKE '%billing-api=30s%' AND mode = 'dry_run' FROM leakguard.status()})
  or die 'the worker did not take the rules';
my $setting = row(q{SELECT setting FROM leakguard.suggested_settings()
	WHERE name = 'leakguard.application_timeouts'});
like($setting, qr/^billing-api=30s, \* user app_rw=10min, "web"=1s/,
	"the qualified rule keeps its place after billing-api=30s: $setting");
is( row_or_error(q{SELECT count(*) FROM leakguard.suggested_changes()
		   WHERE setting = 'leakguard.application_timeouts'
		     AND application_name = 'billing-api'}),
	'0', 'no change is listed for billing-api');
apply_suggestions();
is( row(q{SELECT rule, timeout FROM leakguard.limit_for('billing-api', 'app_rw')}),
	'billing-api=30s|00:00:30', 'billing-api of app_rw keeps 30 s');
is( row(q{SELECT rule, timeout FROM leakguard.limit_for('web', 'app_rw')}),
	'* user app_rw=10min|00:10:00', 'web of app_rw keeps its 10 min');
my $billing = lg_session($node, startup_app => 'billing-api', user => 'app_rw');
is( row(qq{SELECT rule, timeout FROM leakguard.sessions WHERE pid = @{[ $billing->pid ]}}),
	'billing-api=30s|00:00:30', 'a billing-api session of app_rw is judged by the 30 s rule');
$billing->close;

# ---- the anti-spoofing quota ----
row(q{ALTER SYSTEM SET leakguard.mode = 'enforce'; SELECT pg_reload_conf()});
$node->poll_query_until('postgres', q{SELECT mode = 'enforce' FROM leakguard.status()})
  or die 'no enforce';
is(row(q{SELECT current_setting('leakguard.application_connection_limits')}),
	'web2 user app2 = 20, web2 = 1', 'the quota setting is as the DBA wrote it');
my $first = lg_session($node, startup_app => 'web2', leak => 0);
like(lg_connect_error($node, 'web2'), qr/too many connections for application "web2"/,
	'another role\'s second web2 connection is refused: web2 = 1 holds');
is(lg_connect_error($node, 'web2', user => 'app2'), '', 'app2 still gets its own places');
$first->close;

done_testing();
