# leakguard.leak_sources is bounded and fair: with max_sources = 100, one
# unprivileged role leaking from 1000 distinct statements gets no error,
# the sources pushed out are counted (status().sources_evicted), and the
# sources of another application, of another role, that leaked recently
# are still there: a role that holds the most sources makes room from its
# own.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $sessions = 20;
my $rounds = 50;

# dry_run: a session is reported at every idle period past its limit, so a
# few sessions can leak after many statements without being ended.  With no
# query ids, each statement below is its own source by its text.
my $node = lg_node('bounds', conf => qq{
max_connections = 40
compute_query_id = off
leakguard.max_sources = 100
leakguard.mode = 'dry_run'
leakguard.application_timeouts = 'flood=100ms, billing=100ms'
});
$node->safe_psql('postgres', 'CREATE ROLE billing LOGIN');

sub reported
{
	my ($app, $n) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT coalesce(sum(dry_run), 0) >= $n FROM leakguard.stats
		 WHERE application_name = '$app'});
}

# Another application, of another role, leaks after two statements.
my $billing = lg_session($node, app => 'billing', user => 'billing');
ok(reported('billing', 1), 'billing leaked after its first statement');
$billing->query(q{SELECT 'invoice' AS billing_source});
ok(reported('billing', 2), 'and after its second');

# One role leaks after 1000 distinct statements, from 20 sessions.
my @flood = map { lg_session($node, app => 'flood') } 1 .. $sessions;
ok(reported('flood', $sessions), 'the flood\'s sessions leak');
my $n = 0;
my $all = 1;
for my $round (1 .. $rounds)
{
	for my $s (@flood)
	{
		$n++;
		$s->query("SELECT 1 AS flood_$n");
	}
	$all &&= reported('flood', $sessions * ($round + 1));
}
ok($all, "1000 distinct statements leaked, each reported");
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity WHERE application_name = 'flood'}),
	$sessions, 'no error: every session is still there');

is( $node->safe_psql('postgres', q{
		SELECT count(*), count(DISTINCT query) FROM leakguard.leak_sources}),
	'100|100', 'the table holds max_sources sources');

# billing: 2 sources; flood: "BEGIN ; SELECT 1" of its 20 sessions, then 1000
# statements; 1003 in all, for 100 places.
is($node->safe_psql('postgres', 'SELECT sources_evicted FROM leakguard.status()'),
	'903', 'every source pushed out is counted');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(format('%s %s %s', usename, leaks, rtrim(query, ';')), E'\n' ORDER BY query COLLATE "C")
		  FROM leakguard.leak_sources WHERE application_name = 'billing'}),
	"billing 1 BEGIN ; SELECT 1\nbilling 1 SELECT 'invoice' AS billing_source",
	'the recent sources of another role are all still there');
is( $node->safe_psql('postgres', q{
		SELECT count(*),
		       bool_and(coalesce(substring(query from 'flood_(\d+)')::int, 0) > 900)
		  FROM leakguard.leak_sources WHERE application_name = 'flood'}),
	'98|t',
	'the flooding role recycled its own sources: it keeps its most recent ones');

$_->close for @flood;
$billing->close;
$node->stop;

# A hand-edited sources file: a flood source made into a copy of a billing
# source whose name has bytes after its terminator, and another flood
# source last seen in 2100.  The copy is the same source, not a second row;
# the future is brought back to now.
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

# LgSourcesFileHeader is 24 bytes; in LeakguardSourceData, key.appname is
# at 24, last_seen at 128.
my $file = $node->data_dir . '/pg_stat/leakguard_sources.stat';
my $saved = slurp_file($file);
my (undef, undef, $size, $nsources) = unpack('L3 l', $saved);
my @entries = map { substr($saved, 24 + $_ * $size, $size) } 0 .. $nsources - 1;
my ($billing_i) = grep { substr($entries[$_], 24, 8) eq "billing\0" } 0 .. $#entries;
my @flood_i = grep { substr($entries[$_], 24, 6) eq "flood\0" } 0 .. $#entries;
my $copy = $entries[$billing_i];
substr($copy, 24 + 8, 4) = 'junk';
$entries[ $flood_i[0] ] = $copy;
# 2100-01-01 in microseconds since 2000-01-01
substr($entries[ $flood_i[1] ], 128, 8) = pack('q<', 36525 * 86400 * 1_000_000);
my $body = substr($saved, 0, 24) . join('', @entries);
open(my $fh, '>:raw', $file) or die $!;
print $fh $body, pack('L', crc32c($body));
close($fh);

$node->start;
ok(!$node->log_contains('ignoring .*leakguard sources file'), 'the edited file is read');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM leakguard.leak_sources WHERE application_name = 'billing'}),
	'2', 'bytes after the name\'s terminator make no second row of a source');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM leakguard.leak_sources
		 WHERE last_seen > now() OR first_seen > last_seen}),
	'0', 'no source is seen in the future');

$node->stop;
done_testing();
