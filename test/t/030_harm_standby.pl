# 1.2 on a hot standby: the transaction-age limit ends a standby session in
# one transaction too long, and the xmin limit ends a standby session whose
# snapshot falls behind what the standby has replayed (the session that
# holds the primary's horizon back through hot_standby_feedback); the
# primary's horizon then moves on.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $conf = q{
leakguard.idle_in_transaction_timeout = 1h
leakguard.application_transaction_timeouts = 'busy=2s'
leakguard.application_xmin_age_limits = 'snap=1000'
hot_standby_feedback = on
};
my $primary = lg_node('primary', init => { allows_streaming => 1 }, conf => $conf);
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
ok($standby->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM leakguard.status()'),
	'the worker runs on the standby');

# a transaction too old on the standby
my $busy = lg_session($standby, app => 'busy');
ok(lg_wait_gone($standby, $busy->pid), 'a standby transaction past its age limit is ended');
like($busy->client_error,
	qr/FATAL:  25P04: terminating connection due to transaction timeout\nDETAIL:  leakguard terminated this session of application "busy" after \d+\.\d{3} s in one transaction; its limit is 2 s/,
	'with 25P04');

# a snapshot on the standby, and transaction IDs consumed on the primary
my $snap = lg_session($standby, app => 'snap', leak => 0);
$snap->query('BEGIN ISOLATION LEVEL REPEATABLE READ');
$snap->query('SELECT 1');
is($standby->safe_psql('postgres', 'SELECT backend_xmin IS NOT NULL FROM pg_stat_activity WHERE pid = ' . $snap->pid),
	't', 'the standby session holds a snapshot');
ok( $primary->poll_query_until('postgres',
		'SELECT backend_xmin IS NOT NULL FROM pg_stat_replication'),
	'which the primary sees through hot_standby_feedback');
$standby->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($standby, $snap->pid), 'it is not ended while the standby has replayed little');

$primary->safe_psql('postgres', q{
	DO $$
	BEGIN
		FOR i IN 1..1100 LOOP
			PERFORM pg_catalog.pg_current_xact_id();
			COMMIT;
		END LOOP;
	END
	$$});
$primary->wait_for_catchup($standby);
ok(lg_wait_gone($standby, $snap->pid), 'once the standby has replayed 1100 transactions, it is ended');
like($snap->client_error,
	qr/DETAIL:  leakguard terminated this session of application "snap" after \d+\.\d{3} s idle in transaction: its snapshot or transaction ID was \d+ transactions old; its limit is 1000 transactions/,
	'with the age in the detail');
ok( $primary->poll_query_until('postgres', q{
		SELECT backend_xmin IS NULL
		    OR pg_catalog.age(backend_xmin) < 1000
		  FROM pg_stat_replication}),
	'the primary\'s horizon moves on');

$standby->stop;
$primary->stop;
done_testing();
