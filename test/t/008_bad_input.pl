# Bad and extreme input: thousands of rules, non-ASCII names, names at
# NAMEDATALEN, naptime and timeouts at their bounds, settings changed
# rapidly under load, concurrent check() calls.  No crash, clear results,
# nothing half-applied.
use strict;
use warnings;

use Encode;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('badinput', conf => q{
leakguard.naptime = 10ms
});

# Settings go through ALTER SYSTEM here: postgresql.auto.conf wins over
# postgresql.conf, so mixing both would test the wrong thing.
sub alter
{
	my (%set) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET leakguard.$_ = $set{$_}") for sort keys %set;
	$node->reload;
	return;
}

sub wait_for
{
	my ($sql, $what) = @_;
	$node->poll_query_until('postgres', $sql) or die "timed out waiting for $what";
	return;
}

# 5000 rules through ALTER SYSTEM; the last one still matches
my $rules = join(', ', map { "app$_=${_}h" } 1 .. 4999) . ', last-*=1s';
alter(application_timeouts => "'$rules'");
ok( $node->poll_query_until('postgres',
		"SELECT length(rules) = " . length($rules) . " FROM leakguard.status()"),
	'5000 rules are loaded');
is($node->safe_psql('postgres', q{SELECT rule, timeout FROM leakguard.limit_for('last-one')}),
	'last-*=1s|00:00:01', 'the last of 5000 rules matches');
my $s = lg_session($node, app => 'last-one');
ok(lg_wait_gone($node, $s->pid), 'and is enforced, with naptime at its minimum');

# Non-ASCII names: the server stores each byte outside printable ASCII as
# '?' (15) or as \xNN (16 on).  A rule written with the name the
# application sets must govern it, and limit_for() must say so.
my $hex = $node->pg_version >= 16;
my $russian = Encode::encode_utf8("\x{43f}\x{440}\x{438}\x{43b}\x{43e}");
# Every session is read under limits of an hour, which are shortened to a
# second only once the reads are done (a read can take seconds under
# valgrind).
alter(application_timeouts => qq{'*-1=1h, "$russian-2"=1h, "} . ('a' x 63) . q{"=1h'});
wait_for(q{SELECT rules LIKE '*-1=1h%' FROM leakguard.status()}, 'the rules');
my $s1 = lg_session($node, app => "$russian-1");
my $stored = $node->safe_psql('postgres',
	'SELECT application_name FROM leakguard.sessions WHERE pid = ' . $s1->pid);
if ($hex)
{
	is($stored, '\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbb\xd0\xbe-1',
		'a non-ASCII application_name is shown as the server stores it: \xNN escapes');
}
else
{
	is($stored, ('?' x 10) . '-1', 'a non-ASCII application_name is shown as the server stores it: ? per byte');
}

my $s2 = lg_session($node, app => "$russian-2");
is($node->safe_psql('postgres', qq{SELECT rule FROM leakguard.limit_for('$russian-2')}),
	qq{"$russian-2"=1h}, 'limit_for() finds the rule written with the name the application sets');
is($node->safe_psql('postgres', 'SELECT rule FROM leakguard.sessions WHERE pid = ' . $s2->pid),
	qq{"$russian-2"=1h}, 'and so does the session of that name');

# a name of other non-ASCII letters: stored alike in 15 only
my $greek = Encode::encode_utf8("\x{3b5}\x{3c6}\x{3b1}\x{3c1}\x{3bc}");
is($node->safe_psql('postgres', qq{SELECT rule IS NOT NULL FROM leakguard.limit_for('$greek-2')}),
	$hex ? 'f' : 't',
	$hex ? 'from 16, another non-ASCII name of the same length is another name'
	     : 'in 15, another non-ASCII name of the same length is stored alike, and limit_for() says so');
my $g = lg_session($node, app => "$greek-2");
is($node->safe_psql('postgres', 'SELECT rule IS NOT NULL FROM leakguard.sessions WHERE pid = ' . $g->pid),
	$hex ? 'f' : 't', 'and the session of that name agrees with limit_for()');
$g->close;

# names at NAMEDATALEN: 63 bytes are kept, the rest is cut before matching
my $s3 = lg_session($node, app => 'a' x 80);
is( $node->safe_psql('postgres',
		'SELECT length(application_name), rule FROM leakguard.sessions WHERE pid = ' . $s3->pid),
	'63|"' . ('a' x 63) . '"=1h', 'a name longer than 63 bytes matches as stored');

# now a second each: the rules end the sessions they named
alter(application_timeouts => qq{'*-1=1s, "$russian-2"=1s, "} . ('a' x 63) . q{"=1s'});
ok(lg_wait_gone($node, $s1->pid), 'a glob rule applies to the non-ASCII name');
like($s1->client_error, qr/application "\Q$stored\E" after/, 'the client message names it as stored');
ok(lg_wait_gone($node, $s2->pid), 'the session of the rule written with the name it sets is terminated under it');
ok(lg_wait_gone($node, $s3->pid), 'and the rule of the 63-byte name is enforced');

# the longest naptime: a limit shorter than it is still met on time, since
# the worker scans within half the shortest limit in force
alter(naptime => "'1h'", application_timeouts => "'nap=1s'");
wait_for(q{SELECT rules = 'nap=1s' FROM leakguard.status()}, 'the rules');
wait_for(q{SELECT setting = '3600000' FROM pg_settings WHERE name = 'leakguard.naptime'}, 'naptime');
$s = lg_session($node, app => 'nap');
ok(lg_wait_gone($node, $s->pid), 'with naptime = 1h, a 1 s limit is enforced');
is($node->safe_psql('postgres', 'SELECT idle_time < interval \'1.5 s\' FROM leakguard.terminations WHERE pid = ' . $s->pid),
	't', 'on time');

# with no limit shorter than naptime = 1h, the worker sleeps; check() makes
# it scan at once
alter(application_timeouts => "'nap=2h'");
wait_for(q{SELECT rules = 'nap=2h' FROM leakguard.status()}, 'the rules');
my $scans = $node->safe_psql('postgres', 'SELECT scans FROM leakguard.status()');
is($node->safe_psql('postgres', 'SELECT leakguard.check()'), '0', 'check() returns at once');
ok($node->safe_psql('postgres', 'SELECT scans FROM leakguard.status()') > $scans,
	'after a scan made for it');

# the longest timeouts
alter(naptime => "'10ms'", idle_in_transaction_timeout => 2147483647,
	application_timeouts => "'year=365d'");
wait_for(q{SELECT rules = 'year=365d' FROM leakguard.status()}, 'the rules');
my $year = lg_session($node, app => 'year');
my $default = lg_session($node, app => 'other');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(format('%s %s %s', application_name, timeout,
		                         terminates_at - state_change = timeout), ', '
		                  ORDER BY application_name)
		  FROM leakguard.sessions WHERE application_name IN ('year', 'other')}),
	'other 596:31:23.647 t, year 8760:00:00 t', 'the longest limits compute exact deadlines');
is($node->safe_psql('postgres', 'SELECT leakguard.check()'), '0', 'and nothing is due');

# settings changed rapidly while sessions work and leak
my $script = PostgreSQL::Test::Utils::tempdir . '/select.sql';
PostgreSQL::Test::Utils::append_to_file($script, "BEGIN;\nSELECT 1;\nCOMMIT;\n");
my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-f', $script, '-c', 4, '-j', 2, '-T', 8, '-C', '-h', $node->host,
	  '-p', $node->port, 'postgres' ],
	'>', \my $out, '2>', \my $err);
for my $i (1 .. 40)
{
	alter(application_timeouts => ($i % 2 ? "'flip=1h, year=365d'" : "'flip=2h'"),
		mode => ($i % 3 ? 'enforce' : 'dry_run'));
}
alter(application_timeouts => "'flip=1s'", mode => 'enforce');
ok($bench->finish, 'the load ran without error while settings changed') or diag($err);
ok( $node->poll_query_until('postgres',
		q{SELECT rules = 'flip=1s' AND mode = 'enforce' AND config_error IS NULL FROM leakguard.status()}),
	'after 40 rapid reloads the last configuration is in force');
$s = lg_session($node, app => 'flip');
ok(lg_wait_gone($node, $s->pid), 'and enforced');

# concurrent check() calls all come back
my @checks = map {
	my ($o, $e) = ('', '');
	[ IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
			'-c', 'SELECT leakguard.check() FROM generate_series(1, 20)' ],
		'>', \$o, '2>', \$e), \$o ]
} 1 .. 6;
my $all = 1;
for my $c (@checks)
{
	$all &&= $c->[0]->finish && ${ $c->[1] } =~ /^(0\n){20}$/;
}
ok($all, '6 sessions calling check() 20 times each all get their answers');

# extreme arguments
is($node->safe_psql('postgres', q{SELECT timeout FROM leakguard.limit_for(repeat('x', 1000000))}),
	'596:31:23.647', 'limit_for() with a megabyte of input');
ok(!$node->log_contains(qr/PANIC|was terminated by signal|terminating any other active server processes/),
	'no crash');

$year->close;
$default->close;
$node->stop;
done_testing();
