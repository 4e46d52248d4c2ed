# 1.3: a connection counts toward the quota rule that admitted it.
#
# With 'web2 user app2 = 20, web2 = 1', role app2 may hold 20 connections
# named web2 and every other role's web2 connections share 1: neither
# count holds a connection the other rule admitted, in both directions,
# under a storm of 60 concurrent connections of both kinds, across
# renames (the charge moves between rules) and across reloads (every
# connection is counted again under the new rules).
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $rules = 'web2 user app2 = 20, web2 = 1';
my $node = lg_node('quota_rules', conf => qq{
max_connections = 100
log_error_verbosity = verbose
leakguard.application_connection_limits = '$rules'
});
$node->safe_psql('postgres', q{
	CREATE ROLE app2 LOGIN;
	CREATE ROLE other1 LOGIN;
	CREATE ROLE other2 LOGIN;
});

sub row { return $node->safe_psql('postgres', $_[0]); }

sub web2 { return lg_session($node, startup_app => 'web2', user => $_[0], leak => 0); }

my $app2_full = qr/leakguard allows application "web2" of role "app2" at most 20 connections \(rule "web2 user app2 = 20"\), and it holds 20\./;
my $others_full = qr/leakguard allows application "web2" at most 1 connections \(rule "web2 = 1"\), and it holds 1\./;

sub reload_rules
{
	my ($text, $limit) = @_;
	lg_set_conf($node, "leakguard.application_connection_limits = '$text'\n");
	$node->poll_query_until('postgres',
		qq{SELECT connection_limit = $limit FROM leakguard.limit_for('web2', 'other1')})
	  or die "the rules '$text' did not load";
	return;
}

# --- other roles are held to 1, whatever app2 holds
my @app2 = map { web2('app2') } 1 .. 3;
is(lg_connect_error($node, 'web2', user => 'other1'), '',
	'while app2 holds three web2 connections, another role\'s first is admitted');
my $o1 = web2('other1');
like(lg_connect_error($node, 'web2', user => 'other2'), $others_full,
	'a second one of any other role is refused, and the count is of other roles only');

# --- app2 still gets its 20
push @app2, web2('app2') for 4 .. 20;
is(row(q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'web2' AND usename = 'app2'}),
	'20', 'app2 holds 20 web2 connections while another role holds 1');
like(lg_connect_error($node, 'web2', user => 'app2'), $app2_full,
	'app2\'s 21st is refused, and its count holds app2\'s connections only');

# --- renames move the charge between rules
$o1->query(q{SET application_name = 'elsewhere'});
is(lg_connect_error($node, 'web2', user => 'other2'), '',
	'another role renamed away from web2: the place of other roles is free');
$o1->query(q{SET application_name = 'web2'});
like(lg_connect_error($node, 'web2', user => 'app2'), $app2_full,
	'another role renamed back into web2 is not counted toward app2');
like(lg_connect_error($node, 'web2', user => 'other2'), $others_full,
	'but toward the other roles\' 1');
my $o2 = lg_session($node, startup_app => 'elsewhere', user => 'other2', leak => 0);
$o2->{in} .= "SET application_name = 'web2';\n";
like($o2->client_error,
	qr/FATAL:  53300: too many connections for application "web2"\s+DETAIL:  This session changed its application_name from "elsewhere"; $others_full/,
	'a rename of another role into web2 is refused by the count of other roles');

$app2[0]->query(q{SET application_name = 'elsewhere'});
my $took = web2('app2');
ok(lg_alive($node, $took->pid),
	'app2 renamed one away from web2: another app2 connection takes its place');
$app2[0]->{in} .= "SET application_name = 'web2';\n";
like($app2[0]->client_error,
	qr/This session changed its application_name from "elsewhere"; $app2_full/,
	'and renaming it back into the full 20 ends it');
lg_wait_gone($node, $app2[0]->pid);
shift @app2;
push @app2, $took;

# --- reloads count every connection again under the new rules
reload_rules('web2 = 21', 21);
like(lg_connect_error($node, 'web2', user => 'other2'),
	qr/at most 21 connections \(rule "web2 = 21"\), and it holds 21\./,
	'one rule for every role: it counts all 21 connections');
reload_rules($rules, 1);
like(lg_connect_error($node, 'web2', user => 'other2'), $others_full,
	'back to the qualified rules: other roles hold 1 again');
like(lg_connect_error($node, 'web2', user => 'app2'), $app2_full,
	'and app2 holds 20');

$_->close for @app2, $o1;
lg_wait_gone($node, $_->pid) for @app2, $o1;

# --- a storm: 30 connections of app2 and 30 of other roles at once, each
# staying connected until all attempts are over
my @storm;
for my $i (1 .. 60)
{
	my $user = $i % 2 ? 'app2' : ($i % 4 ? 'other1' : 'other2');
	my $c = { user => $user, in => '', out => '', err => '' };
	$c->{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d',
		  $node->connstr('postgres') . " user=$user application_name=web2",
		  '-c', q{SELECT 'up'}, '-f', '-' ],
		'<', \$c->{in}, '>', \$c->{out}, '2>', \$c->{err});
	push @storm, $c;
}
my $timer = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
$timer->start;
for my $c (@storm)
{
	while ($c->{out} !~ /up/ && $c->{h}->pumpable)
	{
		die 'storm timed out' if $timer->is_expired;
		$c->{h}->pump_nb;
		select(undef, undef, undef, 0.01);
	}
}
my %admitted = (app2 => 0, others => 0);
my $other_errors = 0;
for my $c (@storm)
{
	my $who = $c->{user} eq 'app2' ? 'app2' : 'others';
	if ($c->{out} =~ /up/) { $admitted{$who}++; }
	elsif ($c->{err} !~ /too many connections for application "web2"/)
	{
		$other_errors++;
		diag($c->{err});
	}
}
is($other_errors, 0, 'storm: every attempt was admitted or refused by its quota');
is("$admitted{app2}|$admitted{others}", '20|1',
	'storm: app2 got exactly its 20, the other roles exactly their 1');
is( row(q{SELECT count(*) FILTER (WHERE usename = 'app2') || '|' || count(*) FILTER (WHERE usename <> 'app2')
            FROM pg_stat_activity WHERE application_name = 'web2'}),
	'20|1', 'storm: pg_stat_activity shows the same');
like(lg_connect_error($node, 'web2', user => 'app2'), $app2_full,
	'storm: leakguard counts app2\'s 20');
like(lg_connect_error($node, 'web2', user => 'other2'), $others_full,
	'storm: and the other roles\' 1');
is(row(q{SELECT refused FROM leakguard.stats WHERE application_name = 'web2'}) >= 39 ? 1 : 0, 1,
	'storm: the refusals are counted');

for my $c (@storm)
{
	$c->{in} .= "\\q\n";
	eval { $c->{h}->finish; };
}
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'web2'})
  or die 'the storm did not leave';
is(lg_connect_error($node, 'web2', user => 'other2'), '',
	'after the storm left, another role connects');
is(lg_connect_error($node, 'web2', user => 'app2'), '', 'and so does app2');

# --- the end of a transaction settles the charge by the rules the session
# judged by, even when a reload changed them in between: with the old
# code the settle callback (after the commit) refreshed the policy under
# quota_lock and counted the session under the new rules' indexes while
# stamping the counts with the old rules' identity.
my $late = web2('other1');
my $late_pid = $late->pid;
$late->query('BEGIN');
$late->query(q{SET LOCAL application_name = 'away'});
reload_rules('web2 = 21', 21);
$late->query('COMMIT');
ok(lg_alive($node, $late_pid),
	'a commit that gives the name back after a reload: the session survives');
is(row(qq{SELECT application_name FROM pg_stat_activity WHERE pid = $late_pid}),
	'web2', 'and is named web2 again');
reload_rules($rules, 1);
like(lg_connect_error($node, 'web2', user => 'other2'), $others_full,
	'back to the rules it was settled by: it holds the other roles\' 1');
is(lg_connect_error($node, 'web2', user => 'app2'), '',
	'and app2 is not counted against it');
reload_rules('web2 = 21', 21);
is(lg_connect_error($node, 'web2', user => 'other2'), '',
	'under one rule for every role again: a second web2 connection is admitted');
ok(lg_alive($node, $late_pid), 'and the session is still there');
$late->close;
lg_wait_gone($node, $late_pid);

$node->stop;
done_testing();
