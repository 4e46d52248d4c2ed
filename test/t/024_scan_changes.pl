# What a scan must still see when it reads only the status slots that
# changed and keeps connection counts up to date from the changes: peaks
# across renames, departures and reused slots, a full count after reset(),
# new limits for sessions whose slot did not change (a reload), a rename
# inside an idle transaction, and a slot used again after a termination.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('scan_changes', conf => q{
leakguard.naptime = 100ms
leakguard.application_timeouts = 'short=1s'
});

sub scan { $node->safe_psql('postgres', 'SELECT leakguard.check()'); return; }

sub peaks
{
	scan();
	return $node->safe_psql('postgres', q{
		SELECT string_agg(format('%s:%s', application_name, peak_connections), ' '
		                  ORDER BY application_name COLLATE "C")
		  FROM leakguard.stats WHERE application_name IN ('p1', 'p2')});
}

sub close_all
{
	for my $s (@_)
	{
		my $pid = $s->pid;
		$s->close;
		ok(lg_wait_gone($node, $pid), "session $pid left");
	}
	return;
}

# peaks: three sessions, one renamed, all gone, three again in the slots
# they left, then a fourth
my @p = map { lg_session($node, app => 'p1', leak => 0) } 1 .. 3;
is(peaks(), 'p1:3', 'three connections of p1');
$p[0]->query("SET application_name = 'p2'");
is(peaks(), 'p1:3 p2:1', 'a renamed session counts for its new name');
close_all(@p);
@p = map { lg_session($node, app => 'p1', leak => 0) } 1 .. 3;
is(peaks(), 'p1:3 p2:1', 'sessions that left are no longer counted');
push @p, lg_session($node, app => 'p1', leak => 0);
is(peaks(), 'p1:4 p2:1', 'a fourth connection raises the peak');

# reset(): the worker counts the connections again from nothing
$node->safe_psql('postgres', 'SELECT leakguard.reset()');
scan();
close_all(splice(@p, 0, 2));
is(peaks(), 'p1:4', 'after reset() the peak is that of the scan after it');
close_all(@p);

# a reload gives a limit to a session idle all along: its slot did not change
my $q = lg_session($node, app => 'q');
scan();
ok(lg_alive($node, $q->pid), 'no limit for q');
lg_set_conf($node, "leakguard.application_timeouts = 'short=1s, q=1s'\n");
ok(lg_wait_gone($node, $q->pid), 'after a reload the new limit ends a session already idle');

# renamed inside its idle transaction: the new name's limit applies
my $r = lg_session($node, app => 'r');
scan();
$r->query("SET application_name = 'short'");
ok(lg_wait_gone($node, $r->pid), 'a session renamed in its transaction gets the limit of its new name');
like($r->client_error, qr/25P03/, 'and is told so');

# sessions one after the other, each in a slot another has just left
for my $i (1 .. 3)
{
	my $s = lg_session($node, app => 'short');
	ok(lg_wait_gone($node, $s->pid), "short-lived session $i terminated");
	like($s->client_error, qr/25P03/, "short-lived session $i told so");
}
is( $node->safe_psql('postgres', q{
		SELECT terminated FROM leakguard.stats WHERE application_name = 'short'}),
	'4', 'each termination counted once');

done_testing();
