# Suggestions that a leak cannot bend (issue 28).
#
#  - steady: 300 transactions idle in transaction for 20 to 200 ms and one
#    leak of 6 s.  301 episodes do not support the 99.9th percentile (that
#    needs 10000, ten beyond it): the highest they support is used, and the
#    note says so; the suggestion lies below the leak (1.2 read the 99.9th
#    percentile of 301 episodes as their maximum, the leak, and suggested
#    12 s).
#  - fast: 200 transactions with sub-millisecond gaps: no suggestion below
#    1 s, for idle in transaction nor for transactions (1.2: 1 ms).
#  - slow: exempted with 0, episodes of 700 ms: the default is not raised
#    for it, since the default never governs it (1.2 raised the default to
#    what every application needed).
#  - once: one connection seen on one day: no quota, and the note says why;
#    no default quota ever.
#  - suggested_settings() writes the transaction limits too.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('suggest_stats', conf => q{
leakguard.mode = dry_run
leakguard.application_timeouts = 'slow=0'
});

sub row { return $node->safe_psql('postgres', $_[0]); }

# A client running a script as application $app, started now.  psql reads
# the script from a file, so that the clients run side by side (a script
# on stdin would be fed only while the test waits for that client).
my $scripts = PostgreSQL::Test::Utils::tempdir;
my $nscripts = 0;
sub client
{
	my ($app, $script) = @_;
	my $file = "$scripts/" . ++$nscripts . '.sql';
	open(my $fh, '>', $file) or die "$file: $!";
	print $fh $script;
	close($fh);
	return IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d',
		  $node->connstr('postgres') . " user=app application_name=$app", '-f', $file ],
		'<', \undef, '>', '/dev/null', '2>', "$file.err",
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
}

my @clients;
# steady: 3 clients of 100 transactions, idle times spread over 20-200 ms
for my $c (0 .. 2)
{
	my $script = '';
	for my $i (0 .. 99)
	{
		my $ms = 20 + (3 * $i + $c) * 180 / 299;
		$script .= sprintf("BEGIN;\n\\! sleep %.3f\nCOMMIT;\n", $ms / 1000);
	}
	push @clients, client('steady', $script);
}
# fast: sub-millisecond gaps
push @clients, client('fast', "BEGIN;\nSELECT 1;\nCOMMIT;\n" x 200);
# slow, exempt: 5 clients of 22 episodes of 700 ms
push @clients, client('slow', "BEGIN;\n\\! sleep 0.7\nCOMMIT;\n" x 22) for 1 .. 5;

# the leak of steady: 6 s idle in transaction
my $leak = lg_session($node, startup_app => 'steady', leak => 0);
$leak->query('BEGIN');
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM leakguard.sessions
		 WHERE application_name = 'steady' AND idle_in_transaction >= '6s'}),
	'steady\'s leak stays idle in transaction for 6 s');
$leak->query('COMMIT');
$leak->close;
ok($_->finish, 'a workload client ran its script') for @clients;

# once: one connection
my $once = lg_session($node, startup_app => 'once', leak => 0);
$node->poll_query_until('postgres', q{
	SELECT peak_connections = 1 FROM leakguard.suggest_limits()
	 WHERE application_name = 'once' AND kind = 'connections'})
  or die 'the worker did not count the connection of once';
$once->close;

ok( $node->poll_query_until('postgres', q{
		SELECT bool_and(episodes >= CASE application_name WHEN 'steady' THEN 301
		                                                  WHEN 'fast' THEN 200
		                                                  ELSE 110 END)
		       AND count(*) = 3
		  FROM leakguard.suggest_limits()
		 WHERE application_name IN ('steady', 'fast', 'slow')
		   AND kind = 'idle in transaction'}),
	'every episode is counted')
  or diag row(q{SELECT * FROM leakguard.suggest_limits() WHERE kind = 'idle in transaction'});

# ---- steady: not driven by the leak ----
my ($episodes, $suggested, $ms, $max, $would, $note) = split /\|/, row(q{
	SELECT episodes, suggested_limit,
	       extract(epoch FROM suggested_limit::interval) * 1000,
	       extract(epoch FROM max) * 1000, would_terminate, note
	  FROM leakguard.suggest_limits()
	 WHERE application_name = 'steady' AND kind = 'idle in transaction'});
note "steady: $episodes episodes, suggested $suggested, max $max ms, would terminate $would: $note";
ok($max >= 6000, "the longest episode is the leak ($max ms)");
ok($ms < 6000, "the suggestion ($suggested) is below the leak");
ok($ms >= 1000, "and not below 1 s ($suggested)");
is($would, '1', 'it would have ended the leak, and only it');
like($note, qr/^percentile 99\.9 needs 10000 episodes \(10 beyond it\), 30\d were observed: percentile 96\.\d is used/,
	'the note says which percentile was used, and why');
is( row(q{SELECT suggested_limit FROM leakguard.suggest_limits(99, 2)
		   WHERE application_name = 'steady' AND kind = 'idle in transaction'}),
	$suggested, 'the 99th percentile of 301 episodes is not supported either: the same');

# ---- fast: floors ----
is( row(q{SELECT string_agg(kind || '=' || suggested_limit, ', ' ORDER BY kind)
		    FROM leakguard.suggest_limits()
		   WHERE application_name = 'fast'
		     AND kind IN ('idle in transaction', 'transaction')}),
	'idle in transaction=1s, transaction=1s',
	'sub-millisecond episodes: 1s, never less, for idle in transaction and transactions');
like( row(q{SELECT note FROM leakguard.suggest_limits()
		     WHERE application_name = 'fast' AND kind = 'idle in transaction'}),
	qr/raised to 1s, the shortest limit of this kind suggested/, 'the note says it was raised');
is( row(q{SELECT min(suggested_limit::interval) >= '1s' FROM leakguard.suggest_limits()
		   WHERE kind <> 'connections'}),
	't', 'no duration suggested anywhere is below 1 s');

# ---- the default: from the applications it governs ----
my ($slow_ms, $slow_note) = split /\|/, row(q{
	SELECT extract(epoch FROM suggested_limit::interval) * 1000, note
	  FROM leakguard.suggest_limits()
	 WHERE application_name = 'slow' AND kind = 'idle in transaction'});
ok($slow_ms >= 1400, "slow would need at least 1.4 s ($slow_ms ms)");
like($slow_note, qr/keeps rule "slow=0", an exemption/,
	"but keeps its exemption, and the note says so: $slow_note");
my $default = row(q{SELECT suggested_limit FROM leakguard.suggest_limits()
	WHERE application_name IS NULL AND kind = 'idle in transaction'});
ok(!defined $default || $default eq '' || $default eq '1s',
	"the default is not raised for slow, which it does not govern: '$default'");
unlike( row(q{SELECT setting FROM leakguard.suggested_settings()
		       WHERE name = 'leakguard.application_timeouts'}),
	qr/slow"?=[1-9]/, 'slow keeps slow=0');

# ---- quotas ----
is( row(q{SELECT coalesce(suggested_limit, 'none') || ': ' || note FROM leakguard.suggest_limits()
		   WHERE application_name = 'once' AND kind = 'connections'}),
	'none: connections seen on 1 day of the last 7: a quota is suggested from the peaks of at least 3 days',
	'one connection seen: no quota, and the note says why');
is( row(q{SELECT count(*) FROM leakguard.suggest_limits()
		   WHERE kind = 'connections' AND suggested_limit IS NOT NULL}),
	'0', 'no quota is suggested from one day');
like( row(q{SELECT coalesce(suggested_limit, 'none') || ': ' || note FROM leakguard.suggest_limits()
		     WHERE application_name IS NULL AND kind = 'connections'}),
	qr/^none: no default quota is suggested/, 'and never a default quota');
is( row(q{SELECT count(*) FROM leakguard.suggested_settings()
		   WHERE name = 'leakguard.application_connection_limits'}),
	'0', 'so the quota setting is not written');

# ---- the transaction limits are written ----
my $xact = row(q{SELECT setting FROM leakguard.suggested_settings()
	WHERE name = 'leakguard.application_transaction_timeouts'});
like($xact, qr/"steady"=\d+(ms|s)/, "suggested_settings() writes the transaction limits: $xact");
like($xact, qr/"fast"=1s/, 'fast gets 1s');
is( row(q{SELECT count(*) FROM leakguard.suggested_changes()
		   WHERE setting = 'leakguard.application_transaction_timeouts'
		     AND application_name IN ('steady', 'fast') AND limit_now = '0'}),
	'2', 'and suggested_changes() lists them');

# applied as the README says, a reload accepts them
my $offset = -s $node->logfile;
row(q{
SELECT format('ALTER SYSTEM SET %s = %L', name, setting)
  FROM leakguard.suggested_settings() \gexec
SELECT pg_reload_conf();
});
ok( $node->poll_query_until('postgres', q{
		SELECT transaction_timeout = '1s' FROM leakguard.limit_for('fast')}),
	'limit_for(fast) has the transaction limit');
is(row(q{SELECT config_error IS NULL FROM leakguard.status()}), 't', 'no configuration error');
ok(!$node->log_contains('invalid value', $offset), 'no setting was rejected');

done_testing();
