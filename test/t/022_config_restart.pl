# Nothing half-applied across worker restarts and crash restarts.
#
# A reload with one bad leakguard value leaves the postmaster with what
# PostgreSQL keeps: the good values applied, the bad one as it was.  The
# worker refuses that set and keeps the policy it enforced; a restarted
# worker must take that policy up, not the postmaster's half-applied one.
# After a crash restart shared memory is new: the worker judges the files
# as they are, and report-only always comes with a config_error saying why.
# A reload that comes while no worker runs is judged by the next one.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

# The SIGTERM of pg_terminate_backend() ends the worker; wait for the next.
sub restart_worker
{
	my ($node) = @_;
	my $old = $node->safe_psql('postgres', 'SELECT pid FROM leakguard.status()');
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($old)");
	$node->poll_query_until('postgres',
		"SELECT pid IS NOT NULL AND pid <> $old AND scans > 0 FROM leakguard.status()")
	  or die 'the worker did not come back';
	return;
}

# Reload the files while no worker runs: stop the worker, reload as soon as
# status() says none runs (the next starts 1 s later), wait for the next.
# On a loaded machine the 1 s window can be missed: then try again.
sub reload_without_worker
{
	my ($node) = @_;
	for my $attempt (1 .. 10)
	{
		my $old = $node->safe_psql('postgres', 'SELECT pid FROM leakguard.status()');
		$node->safe_psql('postgres', "SELECT pg_terminate_backend($old)");
		my $seen = '';
		my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
		while ($seen eq '')
		{
			die 'the worker did not stop' if time > $deadline;
			$seen = $node->safe_psql('postgres', qq{
				SELECT CASE WHEN pid IS NULL THEN pg_reload_conf()::text
				            WHEN pid <> $old THEN 'missed' ELSE '' END
				FROM leakguard.status()});
		}
		$node->poll_query_until('postgres',
			"SELECT pid IS NOT NULL AND pid <> $old AND scans > 0 FROM leakguard.status()")
		  or die 'the worker did not come back';
		return if $seen eq 'true';
		note "attempt $attempt missed the time with no worker; trying again";
	}
	die 'could not reload while no worker ran';
}

# SIGKILL of a client backend: the postmaster reinitialises shared memory.
sub crash_restart
{
	my ($node) = @_;
	my $offset = -s $node->logfile;
	my $victim = lg_session($node, app => 'victim', leak => 0);
	kill 'KILL', $victim->pid;
	$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
	# poll_query_until() dies when psql cannot even connect (IPC::Run: broken
	# pipe), as during recovery: wait until connections are accepted again.
	$node->wait_for_log(qr/database system is ready to accept connections/, $offset);
	$node->poll_query_until('postgres',
		'SELECT pid IS NOT NULL AND scans > 0 FROM leakguard.status()')
	  or die 'the worker did not come back after the crash restart';
	eval { $victim->close };
	return;
}

# 1. A worker restart after a reload with a bad value.
my $node = lg_node('restart', conf => q{
leakguard.application_timeouts = '*=1h'
});
$node->safe_psql('postgres', 'CREATE ROLE lg_etl LOGIN');
my $etl = lg_session($node, user => 'lg_etl', app => 'etl');
my $other = lg_session($node, app => 'other');
my $pids = join(', ', $etl->pid, $other->pid);

# The DBA lowers the limit and exempts lg_etl in one edit; the exemption
# has a typo.
lg_set_conf($node, "leakguard.application_timeouts = '*=5s'\nleakguard.exempt_roles = 'lg_etl, \"oops'\n");
ok( $node->poll_query_until('postgres',
		q{SELECT config_error LIKE '%leakguard.exempt_roles%' FROM leakguard.status()}),
	'the bad exemption is reported');
is($node->safe_psql('postgres', 'SELECT mode, rules FROM leakguard.status()'),
	'enforce|*=1h', 'the worker keeps enforcing the previous limit');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM leakguard.sessions WHERE pid IN ($pids) AND idle_in_transaction > interval '6 s'"),
	'both sessions are idle in transaction past the new 5 s limit');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $etl->pid) && lg_alive($node, $other->pid), 'and neither is terminated');

my $offset = -s $node->logfile;
restart_worker($node);
is( $node->safe_psql('postgres',
		q{SELECT mode, rules, config_error LIKE '%leakguard.exempt_roles%' FROM leakguard.status()}),
	'enforce|*=1h|t',
	'the restarted worker enforces the policy in force, and still names the bad value');
ok( $node->log_contains(
		qr/LOG:  leakguard worker keeps the values that were in force before its restart/, $offset),
	'the log says the restarted worker keeps the values in force');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $etl->pid), 'the lg_etl session is not terminated under the half-applied 5 s');
ok(lg_alive($node, $other->pid), 'nor is the other session: the limit in force is 1 h');
is($node->safe_psql('postgres', "SELECT count(*) FROM leakguard.terminations WHERE pid IN ($pids)"),
	'0', 'nothing is recorded against them');

# The typo is fixed, and the reload comes while no worker runs: the next
# worker judges the files and enforces the whole new policy.
$node->append_conf('postgresql.conf', "leakguard.exempt_roles = 'lg_etl'\n");
reload_without_worker($node);
is( $node->safe_psql('postgres',
		'SELECT mode, rules, config_error IS NULL FROM leakguard.status()'),
	'enforce|*=5s|t', 'a reload no worker saw is judged by the next worker');
ok(lg_wait_gone($node, $other->pid), 'the other session is terminated under the new 5 s limit');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $etl->pid), 'the lg_etl session is exempt');
$etl->close;
$node->stop;

# 2. A crash restart after a bad start and a clean reload.
$node = lg_node('crash', conf => q{
restart_after_crash = on
leakguard.application_timeouts = 'leak=2s'
leakguard.exempt_roles = 'lg_etl, "oops'
});
is( $node->safe_psql('postgres',
		q{SELECT mode, config_error LIKE '%leakguard.exempt_roles%' FROM leakguard.status()}),
	'dry_run|t', 'a bad value at start: the worker only reports, and says why');

# Mended but not reloaded: the postmaster's values (every backend's) are
# still the defaults PostgreSQL put in place of the bad one.  Neither a
# worker restart nor a crash restart ends report-only.
$node->append_conf('postgresql.conf', "leakguard.exempt_roles = 'lg_etl'\n");
restart_worker($node);
is( $node->safe_psql('postgres',
		q{SELECT mode, config_error LIKE '%leakguard.exempt_roles%' FROM leakguard.status()}),
	'dry_run|t', 'mended but not reloaded: a restarted worker still only reports');
crash_restart($node);
is( $node->safe_psql('postgres',
		q{SELECT mode, config_error LIKE '%leakguard.exempt_roles%' FROM leakguard.status()}),
	'dry_run|t', 'and so does the worker after a crash restart');

$node->reload;
ok( $node->poll_query_until('postgres',
		q{SELECT mode = 'enforce' AND config_error IS NULL FROM leakguard.status()}),
	'a clean reload ends report-only');

crash_restart($node);
is($node->safe_psql('postgres', 'SELECT mode, config_error IS NULL FROM leakguard.status()'),
	'enforce|t', 'after a crash restart the worker enforces the valid files');
my $leak = lg_session($node, app => 'leak');
ok(lg_wait_gone($node, $leak->pid), 'and a leak is terminated, not only reported');
is( $node->safe_psql('postgres',
		'SELECT action FROM leakguard.terminations WHERE pid = ' . $leak->pid),
	'terminated', 'the history says terminated');

# A bad value written but not reloaded, then a crash restart: the worker
# judges the files as they are, and says why it only reports.
$node->append_conf('postgresql.conf', "leakguard.exempt_roles = 'lg_etl, \"oops'\n");
crash_restart($node);
is( $node->safe_psql('postgres',
		q{SELECT mode, config_error LIKE '%leakguard.exempt_roles%' FROM leakguard.status()}),
	'dry_run|t', 'after a crash restart with a bad file the worker only reports, and says why');
$leak = lg_session($node, app => 'leak');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM leakguard.terminations WHERE action = 'dry_run' AND pid = } . $leak->pid),
	'a leak is reported');
ok(lg_alive($node, $leak->pid), 'and not terminated');

# Fixed and reloaded while no worker runs: the next worker enforces.
$node->append_conf('postgresql.conf', "leakguard.exempt_roles = 'lg_etl'\n");
reload_without_worker($node);
is($node->safe_psql('postgres', 'SELECT mode, config_error IS NULL FROM leakguard.status()'),
	'enforce|t', 'a clean reload that came while no worker ran ends report-only');
ok(lg_wait_gone($node, $leak->pid), 'and the leak is terminated');

# status() never says dry_run without saying why.
is( $node->safe_psql('postgres',
		q{SELECT count(*) FROM leakguard.status() WHERE mode = 'dry_run' AND config_error IS NULL}),
	'0', 'no unexplained dry_run');
$node->stop;

# 3. An edit that lands during a reload, between PostgreSQL's reading of
# the files and the worker's own: the worker enforces exactly what it
# judged.  run-tests.sh builds a copy of leakguard that pauses there while
# a file says so (LG_FAULT_RELOAD_LIBDIR); the server loads it through
# dynamic_library_path, and the test calls its functions directly.
SKIP:
{
	my $fault = $ENV{LG_FAULT_RELOAD_LIBDIR};
	skip 'LG_FAULT_RELOAD_LIBDIR is not set (run through make test)', 3
	  unless $fault && -f "$fault/leakguard.so";

	$node = lg_node('window', no_extension => 1, conf => qq{
dynamic_library_path = '$fault:\$libdir'
leakguard.application_timeouts = '*=1h'
});
	$node->safe_psql('postgres', qq{
		CREATE ROLE app LOGIN;
		CREATE FUNCTION fault_status(OUT pid integer, OUT started_at timestamptz, OUT mode text,
			OUT scans bigint, OUT terminated bigint, OUT last_scan_at timestamptz,
			OUT next_wakeup_at timestamptz, OUT mean_scan_time float8,
			OUT max_scan_time float8, OUT rules text, OUT config_error text)
		RETURNS record AS '$fault/leakguard', 'lg_status_sql' LANGUAGE C;
		CREATE FUNCTION fault_check() RETURNS bigint
		AS '$fault/leakguard', 'lg_check_sql' LANGUAGE C;
	});
	$node->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM fault_status()')
	  or die 'the worker did not start';
	my $app = lg_session($node, app => 'app');

	# The DBA lowers the limit and exempts role app, with a typo; the
	# worker pauses after ProcessConfigFile() has applied what it accepted
	# (the new limit) and kept the old value of the bad one.
	my $pause = $node->data_dir . '/leakguard_fault_reload_pause';
	open(my $fh, '>', $pause) or die $!;
	close($fh);
	my $offset = -s $node->logfile;
	lg_set_conf($node, "leakguard.application_timeouts = '*=5s'\nleakguard.exempt_roles = 'app, \"oops'\n");
	$node->wait_for_log(qr/leakguard fault injection: reload paused/, $offset);

	# The next edit, valid, lands before the worker reads the files.
	$node->append_conf('postgresql.conf',
		"leakguard.application_timeouts = '*=1h'\nleakguard.exempt_roles = 'app'\n");
	unlink $pause or die $!;
	$node->safe_psql('postgres', 'SELECT fault_check()');
	is($node->safe_psql('postgres', 'SELECT mode, rules, config_error IS NULL FROM fault_status()'),
		'enforce|*=1h|t', 'the worker enforces the files it judged, not what ProcessConfigFile() half-applied');
	ok( $node->poll_query_until('postgres',
			q{SELECT now() - state_change > interval '6 s' FROM pg_stat_activity WHERE pid = } . $app->pid),
		'a session idle in transaction past the half-applied 5 s ...');
	$node->safe_psql('postgres', 'SELECT fault_check()');
	ok(lg_alive($node, $app->pid), '... is not terminated');
	$app->close;
	$node->stop;
}
done_testing();
