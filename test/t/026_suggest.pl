# Telling the DBA what limit to set (issue 22).
#
# An application runs 300 transactions that each stay idle in transaction
# for 20 to 200 ms (uniform), and 3 that leak for 5 s.  The sessions
# record their own episodes, so every one is counted, however short: the
# 99th percentile is within 10% of the true one (the idle times taken from
# the server's own log of each BEGIN and COMMIT, so that a loaded machine,
# on which a client's sleep lasts longer, does not matter), and the
# suggestion at the 99th percentile with headroom 2 lies above every normal
# idle time and below the leaks, and would have ended exactly the 3 leaks.  Applied with the
# documented \gexec line, a reload accepts it, and in enforce a new leak is
# terminated while a normal transaction is not.  The histograms survive a
# clean restart; a statistics file of 1.1's format is ignored.
use strict;
use warnings;

use IPC::Run;
use POSIX qw(ceil);
use Time::Local qw(timegm);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $app = 'billing-api';
my $node = lg_node('suggest', conf => q{
leakguard.mode = dry_run
});

# Every statement of the application's role is logged, with the time.
$node->safe_psql('postgres', q{ALTER ROLE app SET log_statement = 'all'});

# The workload: 3 clients of 100 transactions each, the idle times spread
# evenly over 20-200 ms; the client sleeps between BEGIN and COMMIT.
my @clients;
for my $c (0 .. 2)
{
	my $script = '';
	for my $i (0 .. 99)
	{
		my $ms = 20 + (3 * $i + $c) * 180 / 299;
		$script .= sprintf("BEGIN;\n\\! sleep %.3f\nCOMMIT;\n", $ms / 1000);
	}
	push @clients, IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d',
		  $node->connstr('postgres') . " user=app application_name=$app", '-f', '-' ],
		'<', \$script, '>', \my $out, '2>', \my $err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
}

# Meanwhile the 3 leaks: each opens a transaction and leaves it for 5 s.
my @leaks = map { lg_session($node, startup_app => $app, leak => 0) } 1 .. 3;
$_->query('BEGIN') for @leaks;
ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) = 3 FROM leakguard.sessions
		 WHERE application_name = '$app' AND idle_in_transaction >= '5s'}),
	'the leaks stay idle in transaction for 5 s');
$_->query('COMMIT') for @leaks;
$_->close for @leaks;
ok($_->finish, 'a workload client ran its 100 transactions') for @clients;

# Every episode is counted, the short ones too.
ok( $node->poll_query_until('postgres', qq{
		SELECT episodes = 303 FROM leakguard.suggest_limits(99, 2)
		 WHERE application_name = '$app' AND kind = 'idle in transaction'}),
	'all 303 idle-in-transaction episodes are counted')
  or diag $node->safe_psql('postgres', q{SELECT * FROM leakguard.suggest_limits(99, 2)});

my ($suggested, $would, $p99, $max) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT suggested_limit, would_terminate,
	       extract(epoch FROM p99) * 1000, extract(epoch FROM max) * 1000
	  FROM leakguard.suggest_limits(99, 2)
	 WHERE application_name = '$app' AND kind = 'idle in transaction'});

# The true idle times: from each BEGIN to the COMMIT of the same backend,
# as the server logged them (log_line_prefix starts "%m [%p]").
my (%begun, @idle);
for my $line (split /\n/, slurp_file($node->logfile))
{
	next unless $line =~ /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)(\.\d+) \S+ \[(\d+)\].*statement: (BEGIN|COMMIT)\b/;
	my $t = timegm($6, $5, $4, $3, $2 - 1, $1) + $7;
	if ($9 eq 'BEGIN') { $begun{$8} = $t; }
	elsif (defined $begun{$8}) { push @idle, ($t - delete $begun{$8}) * 1000; }
}
@idle = sort { $a <=> $b } @idle;
is(scalar(@idle), 303, 'the server logged 303 transactions of the application');
my $true_p99 = $idle[ceil(0.99 * @idle) - 1];
my $longest_normal = $idle[-4];
note sprintf('suggested %s, p99 %s ms, max %s ms; true p99 %.1f ms, longest normal %.1f ms',
	$suggested, $p99, $max, $true_p99, $longest_normal);
my ($n, $unit) = $suggested =~ /^(\d+)(ms|s)$/;
my $ms = defined $n ? $n * ($unit eq 's' ? 1000 : 1) : -1;
ok($ms > $longest_normal && $ms < 5000,
	"the suggestion ($suggested) lies above every normal idle time and below the leaks");
ok(abs($p99 - $true_p99) <= 0.1 * $true_p99,
	sprintf('p99 (%s ms) is the true one (%.1f ms: the longest normal idle time), within 10%%', $p99, $true_p99));
ok($max >= 5000, "the longest episode is a leak ($max ms)");
is($would, '3', 'would_terminate counts exactly the 3 leaks');

is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM leakguard.suggest_limits(99, 2)
		 WHERE application_name = '$app' AND kind = 'transaction'
		   AND episodes >= 303 AND suggested_limit IS NOT NULL}),
	'1', 'whole transactions are counted and suggested too');
my $few = lg_session($node, startup_app => 'few');
$few->query('SELECT 2');
$few->query('COMMIT');
$few->close;
ok( $node->poll_query_until('postgres', q{
		SELECT episodes = 2 FROM leakguard.suggest_limits()
		 WHERE application_name = 'few' AND kind = 'idle in transaction'}),
	'an application with 2 episodes');
like( $node->safe_psql('postgres', q{
		SELECT coalesce(suggested_limit, 'none') || ': ' || note FROM leakguard.suggest_limits()
		 WHERE application_name = 'few' AND kind = 'idle in transaction'}),
	qr/^none: too few observations to suggest a limit \(2, fewer than 100\)$/,
	'too few episodes: no suggestion, and the note says why');

# Existing exemptions and qualified rules are the DBA's: kept, first.
lg_set_conf($node, q{
leakguard.application_timeouts = 'pg_dump=0, reporting user app = 10min'
});
$node->poll_query_until('postgres',
	q{SELECT current_setting('leakguard.application_timeouts') LIKE 'pg_dump%'})
  or die 'the worker did not take the rules';
my $setting = $node->safe_psql('postgres', q{
	SELECT setting FROM leakguard.suggested_settings(99, 2)
	 WHERE name = 'leakguard.application_timeouts'});
# (1.3: billing-api's rule goes where the rule that governed it was, here
# the end; the applications the default governs have too few episodes for
# a default of their own.)
like($setting, qr/^pg_dump=0, reporting user app = 10min, "billing-api"=\d+m?s(, \*=\d+m?s)?$/,
	"suggested_settings keeps exemptions and qualified rules in their places: $setting");

# Apply as the README says, switch to enforce, reload.
$node->safe_psql('postgres', q{
SELECT format('ALTER SYSTEM SET %s = %L', name, setting)
  FROM leakguard.suggested_settings(99, 2) \gexec
ALTER SYSTEM SET leakguard.mode = 'enforce';
});
my $offset = -s $node->logfile;
$node->reload;
ok( $node->poll_query_until('postgres', q{
		SELECT mode = 'enforce' AND config_error IS NULL FROM leakguard.status()}),
	'a reload accepts the suggested settings');
is( $node->safe_psql('postgres', qq{SELECT timeout FROM leakguard.limit_for('$app')}),
	$node->safe_psql('postgres', qq{SELECT '$suggested'::interval}),
	'the application now has the suggested limit');
ok(!$node->log_contains('invalid value', $offset), 'no setting was rejected');

my $leak = lg_session($node, startup_app => $app);
ok(lg_wait_gone($node, $leak->pid), 'a new leak is terminated');

my $normal = lg_session($node, startup_app => $app, leak => 0);
# (idle for a round trip: the suggested limit is twice the longest normal
# idle time, some 400 ms, which a client's sleep on a loaded machine passes)
$normal->query('BEGIN');
is($normal->query('COMMIT; SELECT 1'), '1', 'a new normal transaction is not');
ok(lg_alive($node, $normal->pid), 'and its session lives');
$normal->close;
lg_wait_gone($node, $normal->pid);
# a scan now: the worker adds what the sessions recorded
$node->safe_psql('postgres', 'SELECT leakguard.check()');

# The histograms survive a clean restart.
my $before = $node->safe_psql('postgres', qq{
	SELECT episodes, p50, p99, suggested_limit FROM leakguard.suggest_limits(99, 2)
	 WHERE application_name = '$app' AND kind = 'idle in transaction'});
$node->restart;
is( $node->safe_psql('postgres', qq{
		SELECT episodes, p50, p99, suggested_limit FROM leakguard.suggest_limits(99, 2)
		 WHERE application_name = '$app' AND kind = 'idle in transaction'}),
	$before, 'the histograms survive a clean restart');

# A statistics file of leakguard 1.1 (format 2) is ignored, with a LOG line.
$node->stop;
my $file = $node->data_dir . '/pg_stat/leakguard.stat';
my $saved = slurp_file($file);
is(unpack('L', substr($saved, 4, 4)), 5, 'the statistics file is of format 5');
substr($saved, 4, 4) = pack('L', 2);
open(my $fh, '>:raw', $file) or die $!;
print $fh $saved;
close($fh);
$offset = -s $node->logfile;
$node->start;
$node->wait_for_log(qr/LOG:  ignoring leakguard statistics file "pg_stat\/leakguard\.stat" of format 2; this leakguard reads formats 3 and 5, and starts with empty statistics/,
	$offset);
is( $node->safe_psql('postgres', qq{
		SELECT count(*) FROM leakguard.suggest_limits()
		 WHERE application_name = '$app' AND episodes > 0}),
	'0', 'a 1.1 file is ignored: no histograms of its applications');

# Bad arguments.
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	'SELECT * FROM leakguard.suggest_limits(0, 2)');
like($stderr, qr/percentile must be greater than 0 and at most 100/, 'percentile 0 is refused');
($ret, $stdout, $stderr) = $node->psql('postgres',
	'SELECT * FROM leakguard.suggested_settings(99, 0.5)');
like($stderr, qr/headroom must be between 1 and 1000/, 'a headroom below 1 is refused');

done_testing();
