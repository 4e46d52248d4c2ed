# A worker that cannot find the backend status array stops, says why, and
# stays stopped: it never scans an array that no backend writes.
#
# ShmemInitStruct() creates a structure it does not find, so a leakguard
# looking under the wrong name would get an empty array and terminate
# nothing, silently.  run-tests.sh builds a copy of leakguard that looks
# under a name no server uses (LG_FAULT_LIBDIR); the server loads it through
# dynamic_library_path.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use LeakguardTest;

my $fault = $ENV{LG_FAULT_LIBDIR};
plan skip_all => 'LG_FAULT_LIBDIR is not set (run through make test)'
  unless $fault && -f "$fault/leakguard.so";

my $node = lg_node('statusarray', no_extension => 1, conf => qq{
dynamic_library_path = '$fault:\$libdir'
leakguard.application_timeouts = 'leak=1s'
});

$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');
$node->wait_for_log(qr/WARNING:  leakguard worker stopped: it could not find the backend status array in shared memory/);
ok(1, 'the worker says it could not find the status array');

# status() of the loaded copy, called directly
$node->safe_psql('postgres', qq{
	CREATE FUNCTION fault_status(OUT pid integer, OUT started_at timestamptz, OUT mode text,
		OUT scans bigint, OUT terminated bigint, OUT last_scan_at timestamptz,
		OUT next_wakeup_at timestamptz, OUT mean_scan_time float8,
		OUT max_scan_time float8, OUT rules text, OUT config_error text)
	RETURNS record AS '$fault/leakguard', 'lg_status_sql' LANGUAGE C;
});
is($node->safe_psql('postgres', 'SELECT pid IS NULL, scans, config_error FROM fault_status()'),
	't|0|the leakguard worker stopped: it could not find the backend status array in shared memory',
	'status() says no worker runs, and why');

# It is not restarted (the restart interval is 1 s): watch for 3 s.
my $deadline = time + 3;
my $seen = 0;
while (time < $deadline)
{
	$seen += $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'leakguard'});
}
is($seen, 0, 'no leakguard worker runs again');
my @stops = (slurp_file($node->logfile) =~ /leakguard worker stopped/g);
is(scalar @stops, 1, 'it stopped once and was not restarted');

my $s = lg_session($node, app => 'leak');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server serves clients as before');
$s->close;
$node->stop;
done_testing();
