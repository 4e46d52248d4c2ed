# On a hot standby: leakguard runs there, terminates a read-only session
# idle in transaction at its limit, and never touches the primary's
# walsender or the standby's walreceiver, even under a rule that matches
# every application.  Its views work there and its statistics survive a
# clean restart of the standby.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $everything = q{
leakguard.application_timeouts = '*=1s'
leakguard.naptime = 100ms
hot_standby_feedback = on
};
my $primary = lg_node('primary', init => { allows_streaming => 1 }, conf => $everything);
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

ok($standby->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM leakguard.status()'),
	'the worker runs on the standby');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'it is a standby');

my $walsender = $primary->safe_psql('postgres', 'SELECT pid FROM pg_stat_replication');
my $walreceiver = $standby->safe_psql('postgres', 'SELECT pid FROM pg_stat_wal_receiver');
ok($walsender =~ /^\d+$/ && $walreceiver =~ /^\d+$/, 'streaming replication runs');

# a read-only leak on the standby (its rule is read in the history: under
# valgrind a read of leakguard.sessions can come after the 1 s limit)
my $s = lg_session($standby, app => 'reporting');
ok(lg_wait_gone($standby, $s->pid), 'the standby session is terminated');
is( $standby->safe_psql('postgres',
		'SELECT action, rule, timeout, idle_time >= timeout FROM leakguard.terminations WHERE pid = ' . $s->pid),
	'terminated|*=1s|00:00:01|t', 'under its rule, at its limit');
is( $standby->safe_psql('postgres',
		'SELECT rule, timeout FROM leakguard.sessions WHERE pid = pg_backend_pid()'),
	'*=1s|00:00:01', 'leakguard.sessions shows a standby session with its rule');
like($s->client_error, qr/25P03: terminating connection due to idle-in-transaction timeout/,
	'the standby client is told why');

# a leak on the primary too, so both workers have acted meanwhile
my $p = lg_session($primary, app => 'writer');
ok(lg_wait_gone($primary, $p->pid), 'the primary session is terminated');

# many scans later, replication is untouched
$standby->safe_psql('postgres', 'SELECT leakguard.check()') for 1 .. 5;
$primary->safe_psql('postgres', 'SELECT leakguard.check()') for 1 .. 5;
is($primary->safe_psql('postgres', 'SELECT pid FROM pg_stat_replication'),
	$walsender, 'the walsender was never touched');
is($standby->safe_psql('postgres', 'SELECT pid FROM pg_stat_wal_receiver'),
	$walreceiver, 'the walreceiver was never touched');
is( $primary->safe_psql('postgres', q{SELECT count(*) FROM leakguard.terminations
		WHERE application_name NOT IN ('writer')}),
	'0', 'nothing but the leak was acted on, on the primary');

# the views work on the standby
is( $standby->safe_psql('postgres', q{
		SELECT (SELECT terminated FROM leakguard.stats WHERE application_name = 'reporting'),
		       (SELECT count(*) > 0 FROM leakguard.connections),
		       (SELECT mode FROM leakguard.status())}),
	'1|t|enforce', 'stats, connections and status() work on the standby');

# statistics survive a clean restart of the standby
$standby->restart;
$standby->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM leakguard.status()');
is( $standby->safe_psql('postgres',
		q{SELECT terminated FROM leakguard.stats WHERE application_name = 'reporting'}),
	'1', 'standby statistics survive a clean restart');
$primary->safe_psql('postgres', 'CREATE TABLE after_restart AS SELECT 42 AS x');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT x FROM after_restart'),
	'42', 'replication resumed after the standby restart');

$standby->stop;
$primary->stop;
done_testing();
