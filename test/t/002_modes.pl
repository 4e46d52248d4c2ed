# Dry run logs and counts but terminates nothing; exempt roles are left
# alone; superusers are only reported unless terminate_superusers is on;
# off does not scan.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('modes', conf => q{
leakguard.mode = dry_run
leakguard.application_timeouts = 'leaky=1s'
leakguard.exempt_roles = 'exempt_role'
});
my $superuser = $node->safe_psql('postgres', 'SELECT current_user');

# dry run: the deadline passes, the session stays, the log and stats say
my $dry = lg_session($node, app => 'leaky');
my $pid = $dry->pid;
$node->wait_for_log(
	qr/leakguard \(dry run\) would have terminated process $pid of application "leaky" \(user "app", database "postgres"\) idle in transaction for 1\.\d{3} s; limit 1 s from rule "leaky=1s"/);
ok(lg_alive($node, $pid), 'dry run: the session is still connected');
is( $node->safe_psql('postgres',
		"SELECT action, idle_time >= timeout FROM leakguard.terminations WHERE pid = $pid"),
	'dry_run|t', 'dry run: the history says dry_run');
is( $node->safe_psql('postgres',
		"SELECT dry_run, terminated FROM leakguard.stats WHERE application_name = 'leaky'"),
	'1|0', 'dry run: counted as dry run, not as terminated');
is($node->safe_psql('postgres', 'SELECT mode FROM leakguard.status()'),
	'dry_run', 'status() shows the mode');
# logged once per episode, not at every scan
$node->safe_psql('postgres', 'SELECT leakguard.check()');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM leakguard.terminations WHERE pid = $pid"),
	'1', 'dry run: one event per idle period');

# exempt role and superuser, leaking under the same rule
my $exempt = lg_session($node, app => 'leaky', user => 'exempt_role');
my $super = lg_session($node, app => 'leaky', user => $superuser);
is( $node->safe_psql('postgres', q{
		SELECT string_agg(usename || '=' || coalesce(exempt, '-'), ',' ORDER BY usename)
		  FROM leakguard.sessions WHERE application_name = 'leaky'}),
	"app=-,exempt_role=role,$superuser=superuser",
	'sessions says who is exempt and why');

# the superuser is reported during the dry run already
my $spid = $super->pid;
$node->wait_for_log(
	qr/leakguard did not terminate superuser process $spid of application "leaky"/);

# switching to enforce applies to the sessions already idle, and re-examines
# the superuser without reporting it twice
lg_set_conf($node, "leakguard.mode = enforce\n");
ok(lg_wait_gone($node, $pid), 'enforce after dry run: the leaked session is terminated');
$pid = $spid;
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $super->pid), 'a superuser session is only reported');
is( $node->safe_psql('postgres',
		"SELECT action FROM leakguard.terminations WHERE pid = $pid"),
	'superuser', 'and the history says once why it was not terminated');
ok(lg_alive($node, $exempt->pid), 'an exempt role is left alone');
ok( $node->safe_psql('postgres', 'SELECT idle_in_transaction > interval \'1 s\' '
		  . 'FROM leakguard.sessions WHERE pid = ' . $exempt->pid) eq 't',
	'although it is past the limit');
is( $node->safe_psql('postgres',
		'SELECT count(*) FROM leakguard.terminations WHERE pid = ' . $exempt->pid),
	'0', 'and it leaves no trace in the history');

# terminate_superusers = on
lg_set_conf($node, "leakguard.terminate_superusers = on\n");
ok(lg_wait_gone($node, $super->pid), 'with terminate_superusers, the superuser is terminated');
ok(lg_alive($node, $exempt->pid), 'exempt_roles still protects its role');

# off: no scan, no termination, check() says so
lg_set_conf($node, "leakguard.mode = off\n");
$node->poll_query_until('postgres', q{SELECT mode = 'off' FROM leakguard.status()})
  or die 'mode off not applied';
my $off = lg_session($node, app => 'leaky');
$node->poll_query_until('postgres', 'SELECT idle_in_transaction > interval \'1.5 s\' '
	  . 'FROM leakguard.sessions WHERE pid = ' . $off->pid)
  or die 'session did not stay idle';
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'SELECT leakguard.check()');
like($stderr, qr/leakguard\.mode is off: the worker did not scan/, 'check() in off mode says so');
ok(lg_alive($node, $off->pid), 'off: a session past its limit is left alone');
my $scans = $node->safe_psql('postgres', 'SELECT scans FROM leakguard.status()');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
is($node->safe_psql('postgres', 'SELECT scans FROM leakguard.status()'),
	$scans, 'off: the worker does not scan');

$_->close for ($exempt, $off);
$node->stop;
done_testing();
