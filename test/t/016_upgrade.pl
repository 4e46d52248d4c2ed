# ALTER EXTENSION leakguard UPDATE from 1.0 to 1.1.
#
# An installation of 1.0 with statistics and history in shared memory is
# updated in place: the views work, the old data is intact and shown with
# the new columns, and every object is defined exactly as a fresh 1.1
# install defines it.  Before the update, the same library serves the 1.0
# definitions.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('upgrade', no_extension => 1, conf => q{
leakguard.application_timeouts = 'old=1s'
});
$node->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE EXTENSION leakguard VERSION '1.0';
});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'leakguard'}),
	'1.0', 'version 1.0 is installed');

# statistics and history under 1.0
my $s = lg_session($node, app => 'old');
ok(lg_wait_gone($node, $s->pid), 'a leak is terminated under 1.0');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_attribute
		 WHERE attrelid = 'leakguard.terminations'::regclass AND attnum > 0}),
	'14', 'the 1.0 terminations view has 14 columns');
is( $node->safe_psql('postgres', q{
		SELECT application_name, action, rule FROM leakguard.terminations}),
	'old|terminated|old=1s', 'the newer library serves the 1.0 views');
is($node->safe_psql('postgres', q{SELECT * FROM leakguard.limit_for('old')}),
	'old=1s|00:00:01', 'and 1.0\'s limit_for()');
my $before = $node->safe_psql('postgres', q{
	SELECT terminated, episodes, peak_connections FROM leakguard.stats WHERE application_name = 'old'});
is($before, '1|1|1', 'the statistics count it');

# the update
$node->safe_psql('postgres', 'ALTER EXTENSION leakguard UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'leakguard'}),
	'1.1', 'ALTER EXTENSION UPDATE brings 1.1');
is( $node->safe_psql('postgres', q{
		SELECT terminated, episodes, peak_connections FROM leakguard.stats WHERE application_name = 'old'}),
	$before, 'the statistics are intact');
is( $node->safe_psql('postgres', q{
		SELECT application_name, action, rule, kind FROM leakguard.terminations}),
	'old|terminated|old=1s|idle in transaction', 'the history is intact, with its kind');
is( $node->safe_psql('postgres', q{
		SELECT idle_terminated, idle_dry_run, refused, refused_dry_run
		  FROM leakguard.stats WHERE application_name = 'old'}),
	'0|0|0|0', 'the new counters start at 0');
is( $node->safe_psql('postgres', q{
		SELECT rule, timeout, idle_rule, idle_timeout, connection_rule, connection_limit
		  FROM leakguard.limit_for('old')}),
	'old=1s|00:00:01||00:00:00||0', 'limit_for() returns the three limits');
is( $node->safe_psql('postgres', q{
		SELECT (SELECT count(*) FROM leakguard.sessions WHERE pid = pg_backend_pid() AND idle IS NULL) = 1
		   AND (SELECT count(*) FROM leakguard.connections) >= 1}),
	't', 'sessions, with its idle column, and connections work');
$s = lg_session($node, app => 'old');
ok(lg_wait_gone($node, $s->pid), 'and the worker goes on terminating');
is($node->safe_psql('postgres', q{SELECT terminated FROM leakguard.stats WHERE application_name = 'old'}),
	'2', 'counting on from the old data');

# a fresh 1.1 install, in another database, defines everything alike
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION leakguard');
my $catalog = q{
	SELECT string_agg(def, E'\n' ORDER BY def COLLATE "C") FROM (
		SELECT format('view %s %s acl=%s comment=%s', c.relname, pg_get_viewdef(c.oid),
		              c.relacl, obj_description(c.oid, 'pg_class')) AS def
		  FROM pg_class c WHERE c.relnamespace = 'leakguard'::regnamespace
		UNION ALL
		SELECT format('column %s.%s %s %s', c.relname, a.attname, a.attnum,
		              format_type(a.atttypid, a.atttypmod))
		  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		 WHERE c.relnamespace = 'leakguard'::regnamespace AND a.attnum > 0
		UNION ALL
		SELECT format('function %s acl=%s comment=%s', pg_get_functiondef(p.oid),
		              p.proacl, obj_description(p.oid, 'pg_proc'))
		  FROM pg_proc p WHERE p.pronamespace = 'leakguard'::regnamespace
		UNION ALL
		SELECT format('member %s', pg_describe_object(d.classid, d.objid, d.objsubid))
		  FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
		 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
		   AND e.extname = 'leakguard'
		UNION ALL
		SELECT format('schema acl=%s', n.nspacl) FROM pg_namespace n WHERE n.nspname = 'leakguard'
	) defs};
my $updated = $node->safe_psql('postgres', $catalog);
my $fresh = $node->safe_psql('fresh', $catalog);
ok(length($fresh) > 1000, 'the catalog description is substantial');
is($updated, $fresh, 'an updated installation and a fresh one have identical definitions');

$node->stop;
done_testing();
