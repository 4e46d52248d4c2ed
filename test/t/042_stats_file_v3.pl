# A statistics file written by leakguard 1.2 (format 3) is read by 1.3,
# which writes format 4 (each entry with the role that made it and when it
# was last seen: shmem.c).  The format-3 file is made from the format-4 one
# a clean stop wrote: each application entry without its last 16 bytes, the
# header's format and entry size set back, a new CRC-32C.  Its entries
# belong to no role once loaded, and make room, the least recently seen
# first, like any.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('statsv3', conf => q{
leakguard.application_timeouts = 'victim=1s'
leakguard.max_applications = 20
});
my $file = $node->data_dir . '/pg_stat/leakguard.stat';

my $s = lg_session($node, app => 'victim');
ok(lg_wait_gone($node, $s->pid), 'the victim is terminated');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
$node->stop;

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

my $saved = slurp_file($file);
my ($magic, $format, $app_size, $event_size, $napps, $nevents) = unpack('L6', $saved);
is($format, 4, 'leakguard 1.3 writes format 4');
my $v3_size = $app_size - 16;
my $body = substr($saved, 0, 32);
substr($body, 4, 4) = pack('L', 3);
substr($body, 8, 4) = pack('L', $v3_size);
for my $i (0 .. $napps)
{
	$body .= substr($saved, 32 + $i * $app_size, $v3_size);
}
$body .= substr($saved, 32 + ($napps + 1) * $app_size, $nevents * $event_size);
open(my $fh, '>:raw', $file) or die $!;
print $fh $body, pack('L', crc32c($body));
close($fh);

$node->start;
is($node->safe_psql('postgres', q{SELECT terminated FROM leakguard.stats WHERE application_name = 'victim'}),
	'1', 'a format-3 file is read: the row and its termination');
is($node->safe_psql('postgres', q{SELECT count(*) FROM leakguard.terminations WHERE application_name = 'victim'}),
	'1', 'and the history');
ok(!$node->log_contains('ignoring leakguard statistics file'), 'nothing is ignored');

# its entries make room like any: 30 new names in a table of 20
$node->safe_psql('postgres',
	join('', map { "SET application_name = 'new$_'; BEGIN; COMMIT;\n" } 1 .. 30),
	connstr => $node->connstr('postgres') . ' user=app');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok($node->safe_psql('postgres', 'SELECT stats_evicted FROM leakguard.status()') > 0,
	'entries made room');
is($node->safe_psql('postgres', q{SELECT terminated FROM leakguard.stats WHERE application_name = 'victim'}),
	'1', 'but not the one with a termination in the last hour');
is($node->safe_psql('postgres', 'SELECT sum(terminated) FROM leakguard.stats'),
	'1', 'and no termination is lost from the totals');

# A format-4 entry last seen in the future (a hand-edited file, a clock set
# back) is seen now once loaded: it makes room like the others, not never.
$node->stop;
$saved = slurp_file($file);
($magic, $format, $app_size, $event_size, $napps, $nevents) = unpack('L6', $saved);
my $future;
for my $i (1 .. $napps)
{
	my $at = 32 + $i * $app_size;
	my ($name) = unpack('Z64', substr($saved, $at, 64));
	next unless $name =~ /^new\d+$/;
	$future = $name;
	# 2100-01-01 in microseconds since 2000-01-01
	substr($saved, $at + $app_size - 16, 8) = pack('q<', 36525 * 86400 * 1_000_000);
	last;
}
ok(defined $future, 'an entry to move into the future');
$body = substr($saved, 0, length($saved) - 4);
open($fh, '>:raw', $file) or die $!;
print $fh $body, pack('L', crc32c($body));
close($fh);

$node->start;
is($node->safe_psql('postgres', qq{SELECT count(*) FROM leakguard.stats WHERE application_name = '$future'}),
	'1', 'the edited file is read');
$node->safe_psql('postgres',
	join('', map { "SET application_name = 'later$_'; BEGIN; COMMIT;\n" } 1 .. 30),
	connstr => $node->connstr('postgres') . ' user=app');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM leakguard.stats WHERE application_name = '$future'}),
	'0', 'the entry from the future made room for newer ones');

$node->stop;
done_testing();
