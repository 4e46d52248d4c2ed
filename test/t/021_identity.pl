# 1.2: rules that know who is asking.
#
# Rules qualified by role ("user ROLE") and database ("database DB") apply
# only to sessions that match every part, for transaction, idle and
# connection rules.  A qualified quota holds per application and role (or
# database): another role naming itself the same is judged by the next rule,
# and does not use up the qualified quota, also under a storm.  Quotas judge
# the name a session really uses: a session that logs in without a name and
# sets it with SET (as pgjdbc does) is counted under the name it set, and a
# rename into a full quota ends the session with 53300.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('identity', conf => q{
max_connections = 120
log_error_verbosity = verbose
leakguard.application_connection_limits = 'billing-api user billing_rw = 2, billing-api = 1, jdbc-app = 2, storm user storm_rw = 10'
leakguard.application_timeouts = 'pg_dump user backup = 0, * database analytics = 1s, renm user keeper = 0, renm = 2s, * = 1h'
leakguard.application_idle_timeouts = 'idler database analytics = 1s'
});
$node->safe_psql('postgres', q{
	CREATE ROLE backup LOGIN;
	CREATE ROLE billing_rw LOGIN;
	CREATE ROLE lg_intruder LOGIN;
	CREATE ROLE storm_rw LOGIN;
	CREATE ROLE keeper LOGIN;
	CREATE DATABASE analytics;
});

sub row { return $node->safe_psql('postgres', $_[0]); }

sub session_in
{
	my ($db, %p) = @_;
	return lg_session($node, %p, db => $db, leak => 0);
}

# --- the rules as limit_for() and the sessions view see them
is(row(q{SELECT rule, timeout FROM leakguard.limit_for('pg_dump', 'backup', 'postgres')}),
	'pg_dump user backup = 0|00:00:00', 'limit_for(): the backup role\'s pg_dump is exempt');
is(row(q{SELECT rule, timeout FROM leakguard.limit_for('pg_dump', 'app', 'analytics')}),
	'* database analytics = 1s|00:00:01', 'another role\'s pg_dump is not');
is(row(q{SELECT rule, timeout FROM leakguard.limit_for('pg_dump')}),
	'* = 1h|01:00:00', 'without a role or database no qualified rule applies');
is(row(q{SELECT connection_rule, connection_limit FROM leakguard.limit_for('billing-api', 'billing_rw')}),
	'billing-api user billing_rw = 2|2', 'the qualified quota');
is(row(q{SELECT connection_rule, connection_limit FROM leakguard.limit_for('billing-api', 'lg_intruder')}),
	'billing-api = 1|1', 'another role gets the next rule that matches');

# --- transaction rules qualified by role and database
my $backup = session_in('analytics', user => 'backup', app => 'pg_dump');
my $other = session_in('analytics', user => 'app', app => 'pg_dump');
my $elsewhere = session_in('postgres', user => 'app', app => 'pg_dump');
$_->query('BEGIN'), $_->query('SELECT 1') for $backup, $other, $elsewhere;
is(row("SELECT rule, exempt FROM leakguard.sessions WHERE pid = " . $backup->pid),
	'pg_dump user backup = 0|rule', 'sessions: the backup session is exempt by its qualified rule');
ok(lg_wait_gone($node, $other->pid), 'another role\'s pg_dump in analytics is terminated at 1 s');
like($other->client_error, qr/FATAL:  25P03: .*\n.*rule "\* database analytics = 1s"/,
	'its detail names the database-qualified rule');
$node->poll_query_until('postgres',
	"SELECT idle_in_transaction > interval '3 s' FROM leakguard.sessions WHERE pid = " . $backup->pid)
  or die 'the backup session did not stay idle';
ok(lg_alive($node, $backup->pid), 'the backup role\'s pg_dump survives 3 s idle in transaction');
ok(lg_alive($node, $elsewhere->pid), 'and so does pg_dump in another database (limit 1 h)');
is(row(q{SELECT rule FROM leakguard.terminations WHERE application_name = 'pg_dump' AND action = 'terminated'}),
	'* database analytics = 1s', 'the history keeps the rule as matched');

# --- the worker sees a role renamed: its qualified rule stops applying
my $keeper = session_in('postgres', user => 'keeper', app => 'renm');
$keeper->query('BEGIN');
$keeper->query('SELECT 1');
$node->poll_query_until('postgres',
	"SELECT idle_in_transaction > interval '3 s' FROM leakguard.sessions WHERE pid = " . $keeper->pid)
  or die 'the keeper session did not stay idle';
ok(lg_alive($node, $keeper->pid), 'a session exempt by "renm user keeper = 0" survives its application\'s 2 s');
$node->safe_psql('postgres', 'ALTER ROLE keeper RENAME TO loser');
ok(lg_wait_gone($node, $keeper->pid),
	'when its role is renamed, the rule no longer applies and "renm = 2s" ends it');
is(row(q{SELECT rule FROM leakguard.terminations WHERE application_name = 'renm'}), 'renm = 2s',
	'under the unqualified rule');

# --- idle rules qualified by database
my $idler = session_in('analytics', user => 'app', app => 'idler');
my $idler_pg = session_in('postgres', user => 'app', app => 'idler');
ok(lg_wait_gone($node, $idler->pid), 'an idle session of idler in analytics is ended at 1 s');
$node->poll_query_until('postgres',
	"SELECT idle > interval '3 s' FROM leakguard.sessions WHERE pid = " . $idler_pg->pid)
  or die 'the idler session in postgres did not stay idle';
ok(lg_alive($node, $idler_pg->pid), 'idler in another database is not');
$_->close for $backup, $elsewhere, $idler_pg;

# --- a qualified quota is not used up by another role naming itself alike
is(lg_connect_error($node, 'billing-api', user => 'lg_intruder'), '', 'the intruder connects once');
my $intruder = lg_session($node, startup_app => 'billing-api', user => 'lg_intruder', leak => 0);
like(lg_connect_error($node, 'billing-api', user => 'lg_intruder'),
	qr/FATAL:  too many connections for application "billing-api"\n.*DETAIL:  leakguard allows application "billing-api" at most 1 connections \(rule "billing-api = 1"\), and it holds 1\./,
	'a second intruder connection is refused by the unqualified rule');
my @rw = map { lg_session($node, startup_app => 'billing-api', user => 'billing_rw', leak => 0) } 1 .. 2;
pass('billing_rw still gets both places of its qualified quota');
like(lg_connect_error($node, 'billing-api', user => 'billing_rw'),
	qr/DETAIL:  leakguard allows application "billing-api" of role "billing_rw" at most 2 connections \(rule "billing-api user billing_rw = 2"\), and it holds 2\./,
	'its third is refused, the detail naming the role');
$_->close for @rw, $intruder;

# --- SET application_name, as pgjdbc does: it logs in with no name and
# sets it right after; the session is counted under the name it set
my @jdbc = map { lg_session($node, startup_app => '', leak => 0) } 1 .. 2;
$_->query("SET application_name = 'jdbc-app'") for @jdbc;
my $third = lg_session($node, startup_app => '', leak => 0);
$third->{in} .= "SET application_name = 'jdbc-app';\n";
my $err = $third->client_error;
like($err, qr/FATAL:  53300: too many connections for application "jdbc-app"/,
	'the third session that names itself jdbc-app with SET is ended with 53300');
like($err, qr/DETAIL:  This session changed its application_name from ""; leakguard allows application "jdbc-app" at most 2 connections \(rule "jdbc-app = 2"\), and it holds 2\./,
	'the detail says it renamed itself');
like(lg_connect_error($node, 'jdbc-app'), qr/too many connections for application "jdbc-app"/,
	'a connection naming itself jdbc-app at login is refused too');
is(row(q{SELECT refused FROM leakguard.stats WHERE application_name = 'jdbc-app'}), '2',
	'both refusals are counted');

# a name set inside a query (set_config) is judged when the query ends
my $setconf = lg_session($node, startup_app => '', leak => 0);
my $spid = $setconf->pid;
$setconf->{in} .= "SELECT set_config('application_name', 'jdbc-app', false);\n";
$setconf->{h}->pump_nb for 1 .. 5;
ok(lg_wait_gone($node, $spid),
	'set_config() into a full quota ends the session when its query ends, before any other statement');
eval { $setconf->{h}->finish; };	# psql has left with its connection
like($setconf->{err}, qr/FATAL:  53300: too many connections for application "jdbc-app"/,
	'with 53300');

# renaming away frees the place, at the next statement
$jdbc[0]->query("SET application_name = 'elsewhere'");
is(lg_connect_error($node, 'jdbc-app'), '', 'a session that renamed itself away frees its place');
$jdbc[0]->query("RESET application_name");
my $back = lg_session($node, startup_app => '', leak => 0);
$back->query("SET application_name = 'jdbc-app'");
pass('a place freed by RESET is taken again');
$jdbc[0]->{in} .= "SET application_name = 'jdbc-app';\n";
like($jdbc[0]->client_error, qr/too many connections for application "jdbc-app"/,
	'renaming back into the now full quota is refused');
$_->close for $jdbc[1], $back;

# --- a storm: 30 connections of storm_rw and 30 of lg_intruder, all named
# storm, against 'storm user storm_rw = 10'.  Each admitted session waits,
# records how many storm sessions of its role it sees, and leaves.
row(q{CREATE TABLE storm_seen (role name, n int); GRANT INSERT ON storm_seen TO PUBLIC});
my @storm;
for my $i (1 .. 60)
{
	my $user = $i % 2 ? 'storm_rw' : 'lg_intruder';
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-v', 'ON_ERROR_STOP=1', '-d',
		  $node->connstr('postgres') . " user=$user application_name=storm",
		  '-c', 'SELECT pg_sleep(2)',
		  '-c', q{INSERT INTO storm_seen SELECT current_user, count(*) FROM pg_stat_activity WHERE application_name = 'storm' AND usename = current_user},
		  '-c', 'SELECT pg_sleep(1)' ],
		'>', \$out, '2>', \$err);
	push @storm, [ $user, $h, \$err ];
}
my %admitted = (storm_rw => 0, lg_intruder => 0);
my ($refused, $other_failures) = (0, 0);
for my $c (@storm)
{
	if ($c->[1]->finish) { $admitted{ $c->[0] }++; }
	elsif (${ $c->[2] } =~ /FATAL:  too many connections for application "storm"/ && $c->[0] eq 'storm_rw') { $refused++; }
	else { $other_failures++; diag(${ $c->[2] }); }
}
is($other_failures, 0, 'every storm attempt was admitted, or refused by the storm_rw quota');
is($admitted{lg_intruder}, 30, 'all 30 intruder connections were admitted (no rule limits them)');
ok($admitted{storm_rw} >= 10, "at least the quota of storm_rw was admitted ($admitted{storm_rw})");
is(row(q{SELECT coalesce(max(n), 0) <= 10 FROM storm_seen WHERE role = 'storm_rw'}), 't',
	'no admitted storm_rw session ever saw more than 10 of its role');
is(row(q{SELECT refused FROM leakguard.stats WHERE application_name = 'storm'}), $refused,
	"the refused count equals the storm_rw attempts that failed ($refused)");

$node->stop;
done_testing();
