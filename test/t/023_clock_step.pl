# A step of the system clock does not end sessions early.  An NTP
# correction or a resumed virtual machine can move the wall clock forward
# by an hour at once; a session must still not be terminated before it has
# been idle for its limit as a monotonic clock measures it, and the idle
# time leakguard reports stays the real one.
#
# run-tests.sh builds a copy of leakguard whose worker adds to its system
# clock the milliseconds written in the file leakguard_clock_offset of the
# data directory (-DLG_FAULT_CLOCK_OFFSET_FILE, LG_FAULT_CLOCK_LIBDIR); the
# server loads it through dynamic_library_path.  The extension's SQL
# functions would load the installed copy as well, so the test reads the
# worker's status through a function of the loaded copy, and the rest from
# pg_stat_activity and the server log.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $fault = $ENV{LG_FAULT_CLOCK_LIBDIR};
plan skip_all => 'LG_FAULT_CLOCK_LIBDIR is not set (run through make test)'
  unless $fault && -f "$fault/leakguard.so";

my $node = lg_node('clockstep', no_extension => 1, conf => qq{
dynamic_library_path = '$fault:\$libdir'
leakguard.application_timeouts = 'slow=30s, fast=3s'
});
$node->safe_psql('postgres', qq{
	CREATE ROLE app LOGIN;
	CREATE FUNCTION fault_status(OUT pid integer, OUT started_at timestamptz, OUT mode text,
		OUT scans bigint, OUT terminated bigint, OUT last_scan_at timestamptz,
		OUT next_wakeup_at timestamptz, OUT mean_scan_time float8,
		OUT max_scan_time float8, OUT rules text, OUT config_error text)
	RETURNS record AS '$fault/leakguard', 'lg_status_sql' LANGUAGE C;
});
$node->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM fault_status()')
  or die 'the leakguard worker did not start';

sub row
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# The worker's termination line of a pid: its time (real: the log's clock
# is not offset) as seconds since the epoch, and the idle time it reports.
sub termination_line
{
	my ($pid, $app) = @_;
	my ($stamp, $idle) = slurp_file($node->logfile) =~
	  /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+) \[\d+\] .*LOG:  leakguard terminated process $pid of application "$app" \(user "app", database "postgres"\) idle in transaction for (\d+\.\d{3}) s/m
	  or return;
	return (row("SELECT extract(epoch FROM timestamptz '$stamp')"), $idle);
}

# A session under a 30 s limit, seen by the worker with the true clock.
my $slow = lg_session($node, app => 'slow');
my $slow_pid = $slow->pid;
my $slow_since = row("SELECT extract(epoch FROM state_change) FROM pg_stat_activity WHERE pid = $slow_pid");
my $scans = row('SELECT scans FROM fault_status()');
$node->poll_query_until('postgres', "SELECT scans >= $scans + 2 FROM fault_status()")
  or die 'the worker does not scan';

# Step the worker's clock forward by an hour, and wait for a scan under it.
my $offset_file = $node->data_dir . '/leakguard_clock_offset';
open my $fh, '>', $offset_file or die "could not write $offset_file: $!";
print $fh "3600000\n";
close $fh;
ok( $node->poll_query_until('postgres',
		q{SELECT last_scan_at > now() + interval '50 min' FROM fault_status()}),
	'the worker scans with its clock an hour ahead');

# A control session leaked after the step: the worker still terminates.
my $fast = lg_session($node, app => 'fast');
my $fast_pid = $fast->pid;
ok(lg_wait_gone($node, $fast_pid), 'a session under a 3 s limit is still terminated');
like($fast->client_error,
	qr/FATAL:  25P03: terminating connection due to idle-in-transaction timeout\nDETAIL:  leakguard terminated this session of application "fast" after \d\.\d{3} s idle in transaction; its limit is 3 s/,
	'its client is told an idle time of seconds, not of an hour');
my (undef, $fast_idle) = termination_line($fast_pid, 'fast');
ok(defined $fast_idle && $fast_idle >= 3 && $fast_idle < 10,
	'the log reports its idle time as seconds, not an hour (' . ($fast_idle // 'no line') . ' s)');

# The session idle since before the step is not terminated early: alive
# now if less than 30 s of real time have passed.  (Under valgrind they may
# have; its termination time, checked below from the log, says the rest.)
my $slow_elapsed = row("SELECT extract(epoch FROM clock_timestamp()) - $slow_since");
my $slow_alive = lg_alive($node, $slow_pid);
ok($slow_alive || $slow_elapsed >= 25,
	"the session under a 30 s limit survives the step ($slow_elapsed s of real idle time)");

# It is terminated once 30 s of real time have passed, and not before.
ok(lg_wait_gone($node, $slow_pid), 'it is terminated later');
like($slow->client_error,
	qr/DETAIL:  leakguard terminated this session of application "slow" after 3\d\.\d{3} s idle in transaction; its limit is 30 s/,
	'its client is told the real idle time');
my ($slow_at, $slow_idle) = termination_line($slow_pid, 'slow');
ok(defined $slow_at, 'the log has its termination line');
# (the log's %m has millisecond resolution, cut, not rounded)
my $real = ($slow_at // 0) - $slow_since;
ok($real > 29.999 && $real < 45, "it was terminated after 30 s of real idle time ($real s)");
ok(defined $slow_idle && $slow_idle >= 30 && $slow_idle < 45,
	'the log reports the real idle time (' . ($slow_idle // 'no line') . ' s)');

$node->stop;
done_testing();
