# Rules changed in postgresql.conf apply after a reload, also to sessions
# already idle; a rule that does not parse leaves the previous rules in
# force and is reported in the log and in status().
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('reload', conf => q{
leakguard.application_timeouts = 'reload=1h'
});

my $s = lg_session($node, app => 'reload');
is( $node->safe_psql('postgres',
		'SELECT rule, timeout FROM leakguard.sessions WHERE pid = ' . $s->pid),
	'reload=1h|01:00:00', 'the first rule applies');

# a shorter limit, reloaded, applies to the session already idle
lg_set_conf($node, "leakguard.application_timeouts = 'reload=2s'\n");
ok(lg_wait_gone($node, $s->pid), 'the new rule terminated a session idle before the reload');
is( $node->safe_psql('postgres',
		'SELECT rule, timeout, idle_time >= timeout FROM leakguard.terminations WHERE pid = ' . $s->pid),
	'reload=2s|00:00:02|t', 'under the new rule');
is($node->safe_psql('postgres', 'SELECT config_error IS NULL FROM leakguard.status()'),
	't', 'no configuration error');

# a rule that does not parse: rejected, reported, previous rules stay
my $offset = -s $node->logfile;
lg_set_conf($node, "leakguard.application_timeouts = 'reload=2s, other=5x'\n");
$node->wait_for_log(
	qr/invalid value for parameter "leakguard.application_timeouts": "reload=2s, other=5x"/, $offset);
$node->wait_for_log(
	qr/DETAIL:  Rule 2 \("other=5x"\) at character 19: unknown unit "x"/, $offset);
$node->wait_for_log(
	qr/leakguard rejected the new configuration; the previous values stay in force/, $offset);
ok( $node->poll_query_until('postgres',
		q{SELECT config_error LIKE '%Rule 2 ("other=5x") at character 19: unknown unit "x"%' FROM leakguard.status()}),
	'status() shows the configuration error');
is($node->safe_psql('postgres', 'SELECT rules FROM leakguard.status()'),
	'reload=2s', 'status() shows the rules still in force');
is($node->safe_psql('postgres', q{SELECT timeout FROM leakguard.limit_for('other')}),
	'00:00:00', 'nothing of the bad value was applied');

$s = lg_session($node, app => 'reload');
ok(lg_wait_gone($node, $s->pid), 'the previous rules are still enforced');
is( $node->safe_psql('postgres',
		'SELECT rule FROM leakguard.terminations WHERE pid = ' . $s->pid),
	'reload=2s', 'under the previous rule');

# fixing the file clears the error
lg_set_conf($node, "leakguard.application_timeouts = 'reload=3s, other=5s'\n");
ok( $node->poll_query_until('postgres',
		'SELECT config_error IS NULL FROM leakguard.status()'),
	'a good reload clears the error');
is($node->safe_psql('postgres', q{SELECT rule FROM leakguard.limit_for('other')}),
	'other=5s', 'and applies the new rules');

$node->stop;
done_testing();
