# 1.3: the statement limit, the kind added as a row of the table of kinds.
# A statement running longer than its application's limit (from
# query_start) is cancelled, not its session: the client gets 57014 with
# leakguard's detail and goes on; SET statement_timeout in the session
# cannot lift it.  The act is recorded as every kind's is: terminations
# (action cancelled), stats_by_kind, stats.terminated_all, limits_for(),
# sessions.next_*, and statements' durations feed suggest_limits().  In
# dry_run the statement runs to its end, counted as a dry run.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use LeakguardTest;

# The limit: 1500 ms; under valgrind (make sanitize) a look at the views
# from a new connection takes longer than that, so 15500 ms.
my $ms = $ENV{LG_SANITIZE} ? 15500 : 1500;
my $secs = $ms / 1000;
my $rule = "slow=${ms}ms";
my $node = lg_node('statement', conf => qq{
leakguard.application_statement_timeouts = '$rule, free=0'
leakguard.statement_timeout = 1h
});

sub row
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

is(row(q{SELECT action, measure, since, sqlstate, default_setting, rules_setting
           FROM leakguard.kinds WHERE kind = 'statement'}),
	'cancel|duration|query_start|57014|leakguard.statement_timeout|leakguard.application_statement_timeouts',
	'the statement limit is a row of leakguard.kinds');
is(row(q{SELECT rule, limit_text, limit_value FROM leakguard.limits_for('slow') WHERE kind = 'statement'}),
	"$rule|$ms ms|$ms", 'limits_for() gives its rule and limit');
is(row(q{SELECT rule IS NULL, limit_text FROM leakguard.limits_for('other') WHERE kind = 'statement'}),
	't|1 h', 'and the default where no rule matches');

# a statement of 20 s (60 under valgrind), with the session's own
# statement_timeout lifted
my $sleep = $ENV{LG_SANITIZE} ? 60 : 20;
my $s = lg_session($node, app => 'slow', leak => 0);
$s->query('SET statement_timeout = 0');
my $pid = $s->pid;
$s->{in} .= "SELECT pg_sleep($sleep);\n";
my $wait_until = time + $PostgreSQL::Test::Utils::timeout_default;
until (row(qq{SELECT count(*) FROM pg_stat_activity
                WHERE pid = $pid AND state = 'active' AND query LIKE 'SELECT pg_sleep($sleep)%'}) eq '1')
{
	$s->{h}->pump_nb;
	die 'the statement never started' if time > $wait_until;
}
is( row(qq{SELECT next_kind, next_rule, next_limit, next_at = query_start + interval '$ms ms', exempt IS NULL
             FROM leakguard.sessions s JOIN pg_stat_activity a USING (pid) WHERE pid = $pid}),
	"statement|$rule|$ms ms|t|t",
	'while it runs, sessions shows the statement limit as the next deadline');
my $start = time;
is($s->query('SELECT 42'), '42', 'the session stays usable after the cancel');
my $lasted = time - $start;
ok($lasted < ($ENV{LG_SANITIZE} ? 40 : 10), sprintf('the statement was cancelled (the client waited %.1f s)', $lasted));
like($s->{err}, qr/ERROR:  57014: canceling statement due to statement timeout/,
	'the client is told 57014, as for the built-in statement_timeout');
like($s->{err}, qr/DETAIL:  leakguard cancelled this statement of application "slow" after \d+\.\d+ s running; its limit is $ms ms \(rule "\Q$rule\E"\)\./,
	'with leakguard\'s detail');
my ($ran) = $s->{err} =~ /after (\d+\.\d+) s running/;
$ran //= -1;
ok($ran >= $secs && $ran < $secs + ($ENV{LG_SANITIZE} ? 5 : 0.5),
	"at its limit, not before (after $ran s)");
ok(lg_alive($node, $pid), 'its backend is still there');

is(row(qq{SELECT kind, action, application_name, rule FROM leakguard.terminations WHERE pid = $pid}),
	"statement|cancelled|slow|$rule", 'the history has the cancel');
is(row(q{SELECT terminated, dry_run FROM leakguard.stats_by_kind
          WHERE application_name = 'slow' AND kind = 'statement'}),
	'1|0', 'stats_by_kind counts it');
is(row(q{SELECT terminated_all, dry_run_all, terminated FROM leakguard.stats WHERE application_name = 'slow'}),
	'1|0|0', 'stats.terminated_all counts it; the idle-in-transaction column does not');
ok($node->log_contains(qr/LOG:  leakguard cancelled the statement of process $pid of application "slow" \(user "app", database "postgres"\) running for \d+\.\d+ s; limit $ms ms from rule "\Q$rule\E"/),
	'the log line says it was cancelled');

# a rule of 0, and short statements, are left alone
my $free = lg_session($node, app => 'free', leak => 0);
is($free->query('SELECT 1 FROM pg_sleep(2.5)'), '1', 'a statement under a rule of 0 runs to its end');
is($s->query('SELECT 1 FROM pg_sleep(0.5)'), '1', 'a statement shorter than the limit runs to its end');

# the durations of statements are observed, for suggest_limits(): each is
# recorded when the session's next statement starts
$s->query('SELECT 1');
ok( $node->poll_query_until('postgres', q{
		SELECT episodes >= 2 FROM leakguard.stats_by_kind
		 WHERE application_name = 'slow' AND kind = 'statement'}),
	'statements that ended are counted in the statement histogram');
is(row(q{SELECT count(*) > 0 FROM leakguard.suggest_limits(99, 2)
          WHERE application_name = 'slow' AND kind = 'statement'}),
	't', 'suggest_limits() has a row for the statement limit');

# dry_run: reported, not cancelled
lg_set_conf($node, qq{
leakguard.mode = dry_run
leakguard.application_statement_timeouts = '$rule, free=0'
leakguard.statement_timeout = 1h
});
ok($node->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()}),
	'the worker is in dry_run');
$start = time;
is($s->query('SELECT 1 FROM pg_sleep(' . ($secs + 1.5) . ')'), '1', 'in dry_run the statement runs to its end');
is(row(q{SELECT terminated, dry_run FROM leakguard.stats_by_kind
          WHERE application_name = 'slow' AND kind = 'statement'}),
	'1|1', 'counted as a dry run');
is(row(qq{SELECT count(*) FROM leakguard.terminations WHERE pid = $pid AND action = 'dry_run' AND kind = 'statement'}),
	'1', 'and in the history');

$s->close;
$free->close;
done_testing();
