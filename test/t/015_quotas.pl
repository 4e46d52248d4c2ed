# 1.1: connection quotas per application.
#
# A connection whose startup application_name already holds its quota is
# refused at authentication with SQLSTATE 53300; one leaving makes room.
# The count is exact under a storm of concurrent connection attempts.
# Percentages follow max_connections; superusers and exempt roles are never
# refused; dry_run refuses nothing and counts; a reload changes quotas.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('quotas', conf => q{
max_connections = 100
log_error_verbosity = verbose
leakguard.application_connection_limits = 'route_builder=3, pct=5%, storm=10'
leakguard.exempt_roles = 'exempt_role'
});
my $superuser = $node->safe_psql('postgres', 'SELECT current_user');

sub row { return $node->safe_psql('postgres', $_[0]); }

# the quota admits 3, refuses the 4th, and admits again when one leaves
my @held = map { lg_session($node, startup_app => 'route_builder', leak => 0, tcp => 1) } 1 .. 3;
my $err = lg_connect_error($node, 'route_builder');
like($err, qr/FATAL:  too many connections for application "route_builder"/,
	'the 4th connection is refused');
ok($node->log_contains(qr/FATAL:  53300: too many connections for application "route_builder"/),
	'with SQLSTATE 53300');
like($err, qr/DETAIL:  leakguard allows application "route_builder" at most 3 connections \(rule "route_builder=3"\), and it holds 3\./,
	'the detail names the quota and the rule');
is(lg_connect_error($node, 'other_app'), '', 'another application connects');
is(lg_connect_error($node, 'route_builder', user => $superuser), '', 'a superuser is never refused');
is(lg_connect_error($node, 'route_builder', user => 'exempt_role'), '', 'nor an exempt role');
my $exempt = lg_session($node, startup_app => 'route_builder', user => 'exempt_role', leak => 0);
like(lg_connect_error($node, 'route_builder'), qr/and it holds 3\./,
	'and an exempt session does not count against the quota');

my $gone = (shift @held)->pid;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($gone)");
lg_wait_gone($node, $gone);
is(lg_connect_error($node, 'route_builder'), '', 'when one leaves, the next is admitted');

is(row(q{SELECT refused, refused_dry_run FROM leakguard.stats WHERE application_name = 'route_builder'}),
	'2|0', 'stats count both refusals');
is( row(q{SELECT count(*), min(kind), min(action), min(usename), min(datname), min(rule),
                 bool_and(idle_time IS NULL AND timeout IS NULL AND query IS NULL)
            FROM leakguard.terminations WHERE kind = 'connections'}),
	'2|connections|refused|app|postgres|route_builder=3|t', 'the history has both refusals');

# percentages follow max_connections: 5% of 100 is 5
is(row(q{SELECT connection_limit FROM leakguard.limit_for('pct')}), '5', 'limit_for() resolves 5% to 5');
my @pct = map { lg_session($node, startup_app => 'pct', leak => 0) } 1 .. 5;
like(lg_connect_error($node, 'pct'), qr/at most 5 connections \(rule "pct=5%"\)/,
	'the 6th connection of a 5% quota is refused');
$_->close for @pct;

# a storm: 60 concurrent attempts against a quota of 10.  Each admitted
# session waits until all attempts have been made, records how many
# sessions of its application it sees, and leaves.
row(q{CREATE TABLE storm_seen (n int); GRANT INSERT ON storm_seen TO app});
my @storm;
for my $i (1 .. 60)
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-v', 'ON_ERROR_STOP=1', '-d',
		  $node->connstr('postgres') . " user=app application_name=storm",
		  '-c', 'SELECT pg_sleep(2)',
		  '-c', q{INSERT INTO storm_seen SELECT count(*) FROM pg_stat_activity WHERE application_name = 'storm'},
		  '-c', 'SELECT pg_sleep(1)' ],
		'>', \$out, '2>', \$err);
	push @storm, [ $h, \$err ];
}
my ($admitted, $refused, $other) = (0, 0, 0);
for my $c (@storm)
{
	my $ok = $c->[0]->finish;
	if ($ok) { $admitted++; }
	elsif (${ $c->[1] } =~ /FATAL:  too many connections for application "storm"/) { $refused++; }
	else { $other++; diag(${ $c->[1] }); }
}
is($other, 0, 'every attempt was admitted or refused by the quota');
is($admitted + $refused, 60, '60 attempts');
ok($admitted >= 10, "at least the quota was admitted ($admitted)");
is(row('SELECT max(n) <= 10 AND count(*) = ' . $admitted . ' FROM storm_seen'), 't',
	'no admitted session ever saw more than 10 of its application');
is(row(q{SELECT refused FROM leakguard.stats WHERE application_name = 'storm'}), $refused,
	"the refused count equals the attempts that failed ($refused)");
is(row(q{SELECT count(*) FROM leakguard.terminations WHERE application_name = 'storm' AND action = 'refused'}),
	$refused, 'and so do the history rows');

# dry_run admits and counts
push @held, lg_session($node, startup_app => 'route_builder', leak => 0);
lg_set_conf($node, "leakguard.mode = dry_run\n");
$node->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()})
  or die 'dry_run not in force';
my $offset = -s $node->logfile;
is(lg_connect_error($node, 'route_builder'), '', 'dry_run admits a connection beyond the quota');
$node->wait_for_log(qr/LOG:  (?:00000: )?leakguard \(dry run\) would have refused a connection of application "route_builder" \(user "app", database "postgres"\): it holds 3 connections, its quota is 3 \(rule "route_builder=3"\)/,
	$offset);
is(row(q{SELECT refused, refused_dry_run FROM leakguard.stats WHERE application_name = 'route_builder'}),
	'2|1', 'and counts it as a dry run');

# a reload changes the quota without a restart
lg_set_conf($node, "leakguard.mode = enforce\nleakguard.application_connection_limits = 'route_builder=4'\n");
$node->poll_query_until('postgres',
	q{SELECT connection_limit = 4 FROM leakguard.limit_for('route_builder')})
  or die 'the new quota did not load';
my $fourth = lg_session($node, startup_app => 'route_builder', leak => 0);
like(lg_connect_error($node, 'route_builder'), qr/at most 4 connections/,
	'after a reload the quota is 4: the 4th is admitted, the 5th refused');

# a session that changes its application_name is charged to the name it
# uses from its next statement on (test/t/021_identity.pl tests renames)
$fourth->query("SET application_name = 'renamed'");
is(lg_connect_error($node, 'route_builder'), '',
	'a session renamed with SET frees its place under the name it connected with');
is(row(q{SELECT connections FROM leakguard.stats WHERE application_name = 'renamed'}), '1',
	'and its statistics follow the new name');

$_->close for @held, $fourth, $exempt;
$node->stop;
done_testing();
