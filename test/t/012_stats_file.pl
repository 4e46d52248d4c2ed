# What leakguard stores of a statement, and how far it trusts its file.
#
# The backend status array keeps each slot's statement buffer between
# sessions: after a long statement, a shorter one leaves the long one's
# tail behind its NUL.  A history row must hold the terminated session's
# statement and nothing after it, in memory and in the statistics file.
# And the statistics file, read back at start, must be checked field by
# field even when its checksum is right: a crafted or damaged file is
# ignored with a LOG line, never printed past its fields.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('statsfile', conf => q{
leakguard.application_timeouts = 'victim=1s'
track_activity_query_size = 1024
});
my $file = $node->data_dir . '/pg_stat/leakguard.stat';

# A long statement with a secret at its end, then its session leaves; the
# next sessions reuse the lowest free slot, the one it had.
my $secret = 'SECRET' . int(rand(1e9));
for my $round (1 .. 3)
{
	my $a = lg_session($node, app => 'other', leak => 0);
	$a->query("SELECT '" . ('x' x 700) . "$secret'");
	$a->close;
	lg_wait_gone($node, $a->pid);

	my $b = lg_session($node, app => 'victim');
	ok(lg_wait_gone($node, $b->pid), "round $round: the next session is terminated");
}
is( $node->safe_psql('postgres', q{
		SELECT string_agg(DISTINCT query, ',') FROM leakguard.terminations}),
	'BEGIN ; SELECT 1;', 'each history row holds its own statement');

$node->stop;
ok(-f $file, 'the statistics file is written at a clean stop');
my $saved = slurp_file($file);
ok(index($saved, $secret) < 0, 'and holds nothing of the earlier session\'s statement');
ok(index($saved, 'SELECT 1;') >= 0, 'but the terminated session\'s own');

# CRC-32C (Castagnoli), as pg_crc32c computes it.
my @crc_table = map {
	my $c = $_;
	$c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8;
	$c
} 0 .. 255;

sub crc32c
{
	my $crc = 0xFFFFFFFF;
	$crc = $crc_table[ ($crc ^ $_) & 0xFF ] ^ ($crc >> 8) for unpack('C*', $_[0]);
	return $crc ^ 0xFFFFFFFF;
}

# Damage one event of the saved file, fix the checksum, start on it.
sub start_with_damaged_event
{
	my ($what, $damage) = @_;
	start_with_damaged_file($what, sub {
		my ($body) = @_;
		my ($magic, $format, $app_size, $event_size, $napps, $nevents) = unpack('L6', $$body);
		# format 5: after the 32-byte header, the kinds' count, their counters' and
		# histograms' sizes, and per kind its name of 32 bytes and a flag, then the entries
		die "format $format, not 5" unless $format == 5;
		my ($nkinds) = unpack('L', substr($$body, 32, 4));
		my $events = 32 + 12 + 36 * $nkinds + ($napps + 1) * $app_size;
		my $event = substr($$body, $events, $event_size);
		$damage->(\$event);
		substr($$body, $events, $event_size) = $event;
	});
	return;
}

# Damage the saved file (without its checksum), fix the checksum, start on it.
sub start_with_damaged_file
{
	my ($what, $damage) = @_;
	my $body = substr($saved, 0, length($saved) - 4);
	$damage->(\$body);
	open(my $fh, '>:raw', $file) or die $!;
	print $fh $body, pack('L', crc32c($body));
	close($fh);

	my $offset = -s $node->logfile;
	$node->start;
	$node->wait_for_log(qr/LOG:  ignoring invalid leakguard statistics file "pg_stat\/leakguard\.stat": it holds \Q$what\E/,
		$offset);
	is($node->safe_psql('postgres', 'SELECT count(*) FROM leakguard.terminations'),
		'0', "a file holding $what is ignored: no history");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM leakguard.stats WHERE application_name = 'victim'}),
		'0', "and no statistics");
	$node->stop('immediate');
	return;
}

# the application name of the first event, without its NUL
start_with_damaged_event('a string without its terminator', sub {
	my ($event) = @_;
	my $at = index($$event, "victim\0");
	die 'no application name in the event' if $at < 0;
	substr($$event, $at, 64) = 'A' x 64;
});

# the action, just after the event's timestamp and pid
start_with_damaged_event('an unknown action', sub {
	my ($event) = @_;
	substr($$event, 12, 4) = pack('l', 99);
});

# the histogram flag of the first kind: 0 or 1
start_with_damaged_file('a kind\'s histogram flag out of range', sub {
	my ($body) = @_;
	substr($$body, 32 + 12 + 32, 4) = pack('L', 2);
});

# A kind this version does not know (a later version's) is left out with
# a LOG line; every other kind's counters and history load by name.
{
	my ($nkinds) = unpack('L', substr($saved, 32, 4));
	my $body = substr($saved, 0, length($saved) - 4);
	my $renamed = 0;
	for my $i (0 .. $nkinds - 1)
	{
		my $at = 32 + 12 + 36 * $i;
		next unless unpack('Z32', substr($body, $at, 32)) eq 'idle';
		substr($body, $at, 32) = pack('a32', 'a later kind');
		$renamed++;
	}
	is($renamed, 1, 'the file names the kind idle once');
	open(my $fh, '>:raw', $file) or die $!;
	print $fh $body, pack('L', crc32c($body));
	close($fh);

	my $offset = -s $node->logfile;
	$node->start;
	$node->wait_for_log(qr/LOG:  leakguard statistics file "pg_stat\/leakguard\.stat" counts a kind of limit this leakguard does not know, "a later kind"; its counters and history are left out/,
		$offset);
	is( $node->safe_psql('postgres', q{
			SELECT terminated || '/' || terminated_all FROM leakguard.stats
			 WHERE application_name = 'victim'}),
		'3/3', 'the known kinds\' counters load by name');
	is($node->safe_psql('postgres', q{SELECT count(*) FROM leakguard.terminations WHERE application_name = 'victim'}),
		'3', 'and their history');
	$node->stop('immediate');
}

done_testing();
