# Races under load, bounded to about half a minute: sessions that keep
# working with idle gaps just under their limit (committing and beginning
# again, switching application_name mid-transaction) are never terminated,
# while every leak is; short connections churn through backend slots and
# pids meanwhile; sessions that disconnect right at their deadline leave
# at most one record, with its reason.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use LeakguardTest;

# the load's duration; make sanitize lengthens it for servers under valgrind
my $seconds = $ENV{LG_RACES_SECONDS} || 20;
my $node = lg_node('races', conf => q{
leakguard.naptime = 100ms
leakguard.application_timeouts = 'worker=1500ms, switch-*=1500ms, churn=1s, leak=1s, edge=1s'
max_connections = 100
});

my $dir = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	worker => "BEGIN;\nSELECT 1;\n\\sleep 1000 ms\nSELECT 2;\n\\sleep 1000 ms\nCOMMIT;\n",
	switch => "BEGIN;\nSET application_name = 'switch-a';\n\\sleep 1000 ms\n"
	  . "SET application_name = 'switch-b';\n\\sleep 1000 ms\nCOMMIT;\n",
	churn  => "SELECT 1;\n",
);
my @runs;
for my $spec ([ 'worker', 'worker', 16, '' ], [ 'switch', 'switch-a', 8, '' ],
	[ 'churn', 'churn', 4, '-C' ])
{
	my ($name, $app, $clients, $flags) = @$spec;
	my $file = "$dir/$name.sql";
	PostgreSQL::Test::Utils::append_to_file($file, $scripts{$name});
	my ($out, $err) = ('', '');
	local $ENV{PGAPPNAME} = $app;
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-f', $file, '-c', $clients, '-j', 2, '-T', $seconds,
		  ($flags ? $flags : ()), '-h', $node->host, '-p', $node->port, '-U', 'app',
		  'postgres' ],
		'>', \$out, '2>', \$err);
	push @runs, { name => $name, h => $h, out => \$out, err => \$err };
}

# Leaks keep arriving while the others work; some sessions leave right at
# their deadline.
my (@leaks, @edges);
for my $i (1 .. $seconds / 2)
{
	push @leaks, lg_session($node, app => 'leak');
	my $edge = lg_session($node, app => 'edge');
	# until it is idle for 950 ms, or already gone
	$node->poll_query_until('postgres', 'SELECT coalesce((SELECT idle_in_transaction '
		  . ">= interval '950 ms' FROM leakguard.sessions WHERE pid = " . $edge->pid . '), true)');
	$edge->close;
	push @edges, $edge->pid;
	usleep(500_000) if $i % 2;    # pace the leaks over the run, not a wait for a result
}

for my $run (@runs)
{
	ok($run->{h}->finish, "pgbench $run->{name} finished without error")
	  or diag(${ $run->{err} });
	unlike(${ $run->{err} }, qr/aborted|terminating connection/,
		"no $run->{name} client was terminated");
	like(${ $run->{out} }, qr/number of transactions actually processed: [1-9]/,
		"$run->{name} clients did work");
}

ok(lg_wait_gone($node, $_->pid), 'leak ' . $_->pid . ' terminated') for @leaks;

is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM leakguard.terminations
		 WHERE application_name IN ('worker', 'switch-a', 'switch-b', 'churn')}),
	'0', 'no working session was ever acted on');
my $leak_pids = join(',', map { $_->pid } @leaks);
is( $node->safe_psql('postgres', qq{
		SELECT count(*), count(DISTINCT pid), bool_and(action = 'terminated'),
		       bool_and(idle_time >= timeout)
		  FROM leakguard.terminations WHERE pid IN ($leak_pids)}),
	scalar(@leaks) . '|' . scalar(@leaks) . '|t|t',
	'every leak was terminated exactly once, never early');
my $edge_pids = join(',', @edges);
is( $node->safe_psql('postgres', qq{
		SELECT count(*) = count(DISTINCT pid),
		       coalesce(bool_and(action IN ('terminated', 'gone', 'became active')), true)
		  FROM leakguard.terminations WHERE pid IN ($edge_pids)}),
	't|t', 'sessions leaving at their deadline: at most one record each, with its reason');
is( $node->safe_psql('postgres', q{
		SELECT (SELECT terminated FROM leakguard.status()) =
		       (SELECT count(*) FROM leakguard.terminations WHERE action = 'terminated')}),
	't', 'status() counts exactly the terminations in the history');
ok(!$node->log_contains(qr/PANIC|was terminated by signal|terminating any other active server processes/),
	'no crash');

$node->stop;
done_testing();
