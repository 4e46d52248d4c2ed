# The worker's life: it comes back after SIGTERM with its statistics intact,
# the SQL functions say clearly when the library is not preloaded or when
# the worker could not be registered, and nothing sends the server through
# crash recovery.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('worker', conf => q{
leakguard.application_timeouts = 'leaky=1s'
});

# a termination before the worker is killed
my $s = lg_session($node, app => 'leaky');
ok(lg_wait_gone($node, $s->pid), 'the worker terminates a leak');

my $old = $node->safe_psql('postgres', 'SELECT pid FROM leakguard.status()');
kill 'TERM', $old;
ok( $node->poll_query_until('postgres',
		"SELECT pid IS NOT NULL AND pid <> $old FROM leakguard.status()"),
	'the worker comes back after SIGTERM');
is( $node->safe_psql('postgres', q{
		SELECT terminated, episodes FROM leakguard.stats WHERE application_name = 'leaky'}),
	'1|1', 'its statistics are intact');
is($node->safe_psql('postgres', 'SELECT terminated FROM leakguard.status()'),
	'1', 'and so is its termination count');

$s = lg_session($node, app => 'leaky');
ok(lg_wait_gone($node, $s->pid), 'the new worker terminates leaks too');
ok($node->log_contains(qr/LOG:  leakguard worker stopped by SIGTERM from process \d+; it restarts in 1 s/),
	'the log says who stopped the worker and that it comes back');

# A restart must not report the same idle period twice: what was recorded
# for it lives in shared memory.
lg_set_conf($node, "leakguard.mode = dry_run\nleakguard.application_timeouts = 'reported=1s'\n");
$node->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()})
  or die 'dry_run not in force';
my $reported = lg_session($node, app => 'reported');
my $rows = 'SELECT count(*) FROM leakguard.terminations WHERE pid = ' . $reported->pid;
ok($node->poll_query_until('postgres', "SELECT ($rows) = 1"), 'a dry run reports the session once');
$old = $node->safe_psql('postgres', 'SELECT pid FROM leakguard.status()');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old)");
ok( $node->poll_query_until('postgres',
		"SELECT pid IS NOT NULL AND pid <> $old AND scans > 2 FROM leakguard.status()"),
	'the worker restarts and scans again');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
is($node->safe_psql('postgres', $rows), '1', 'the restarted worker does not report it again');
is($node->safe_psql('postgres', q{SELECT dry_run FROM leakguard.stats WHERE application_name = 'reported'}),
	'1', 'nor count it again');
ok(lg_alive($node, $reported->pid), 'and the session lives on, as dry_run wants');

# The same for a termination: a worker killed right after it signalled
# must not signal or count the session again.
lg_set_conf($node, "leakguard.mode = enforce\n");
ok(lg_wait_gone($node, $reported->pid), 'back in enforce, the reported session is terminated');
is( $node->safe_psql('postgres',
		q{SELECT terminated, dry_run FROM leakguard.stats WHERE application_name = 'reported'}),
	'1|1', 'one dry run and one termination, each counted once');

ok(!$node->log_contains(qr/terminating any other active server processes|server process .* was terminated by signal/),
	'the server never went through crash recovery');

# A clean shutdown is quiet: the worker leaves its loop and exits with 0.
my $before_stop = -s $node->logfile;
$node->stop;
# Lines of client backends (their application_name follows the pid) are
# left out: a backend whose psql has just gone may still be exiting when the
# shutdown comes, and is then told so.
my $stop_log = join '', grep { !/^\S+ \S+ \S+ \[\d+\] \S/ }
  split /^/, substr(slurp_file($node->logfile), $before_stop);
unlike($stop_log, qr/FATAL|ERROR|terminating background worker "leakguard|"leakguard" \(PID \d+\) exited/,
	'a clean shutdown logs nothing alarming from the worker');

# Without shared_preload_libraries: CREATE EXTENSION works, every function
# says what is missing.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION leakguard');
for my $sql ('SELECT leakguard.status()', 'SELECT leakguard.check()',
	'SELECT leakguard.reset()', q{SELECT leakguard.limit_for('x')},
	'SELECT * FROM leakguard.sessions', 'SELECT * FROM leakguard.stats',
	'SELECT * FROM leakguard.terminations', 'SELECT * FROM leakguard.connections')
{
	my ($ret, $out, $err) = $plain->psql('postgres', $sql);
	like($err, qr/ERROR:  leakguard must be loaded via shared_preload_libraries/,
		"without preload: $sql says so");
}
$plain->stop;

# max_worker_processes exhausted: the log and status() say it, check()
# fails at once instead of waiting.
my $starved = lg_node('starved', conf => "max_worker_processes = 0\n", no_extension => 1);
$starved->safe_psql('postgres', 'CREATE EXTENSION leakguard');
ok($starved->log_contains(qr/leakguard worker could not be registered; no session will be terminated/),
	'the log says the worker could not be registered');
is( $starved->safe_psql('postgres', 'SELECT pid IS NULL, config_error FROM leakguard.status()'),
	't|the leakguard worker could not be registered: max_worker_processes is exhausted; no session is terminated, and connection quotas apply the settings the server started with',
	'status() says no worker runs and why');
my ($ret, $out, $err) = $starved->psql('postgres', 'SELECT leakguard.check()');
like($err, qr/ERROR:  the leakguard worker is not running.*DETAIL:  It could not be registered because max_worker_processes is exhausted/s,
	'check() says clearly that no worker runs');
$starved->stop;

done_testing();
