# ALTER EXTENSION leakguard UPDATE: 1.0 -> 1.1 -> 1.2, 1.1 -> 1.2 and 1.2 -> 1.3.
#
# An installation of 1.0 with statistics and history in shared memory is
# updated in place: the views work, the old data is intact and shown with
# the new columns, and every object is defined exactly as a fresh install
# of that version defines it.  Before the update, the same library serves
# the 1.0 definitions.
#
# From 1.2 on an update keeps what a DBA did with leakguard's objects: on
# 1.1, PUBLIC's SELECT on terminations is revoked, a monitoring role is
# granted it, and views are built on stats and sessions; the update to 1.2
# succeeds and all of that still holds; likewise from 1.2 to 1.3.
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
$node->safe_psql('postgres', q{ALTER EXTENSION leakguard UPDATE TO '1.1'});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'leakguard'}),
	'1.1', 'ALTER EXTENSION UPDATE TO 1.1 brings 1.1');
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
		UNION ALL
		SELECT def FROM leakguard_initprivs
	) defs};
# the initial privileges, what pg_dump leaves out of a dump
my $initprivs_cte = q{
	WITH leakguard_initprivs AS (
		SELECT format('initprivs %s %s', pg_describe_object(i.classoid, i.objoid, i.objsubid),
		              i.initprivs) AS def
		  FROM pg_init_privs i
		 WHERE (i.classoid = 'pg_namespace'::regclass AND i.objoid = 'leakguard'::regnamespace)
		    OR EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
		                WHERE d.classid = i.classoid AND d.objid = i.objoid
		                  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
		                  AND e.extname = 'leakguard'))};
$catalog = $initprivs_cte . $catalog;
my $initprivs = $initprivs_cte
  . q{ SELECT string_agg(def, E'\n' ORDER BY def COLLATE "C") FROM leakguard_initprivs};

# Whether database $db has the same definitions as a fresh install of
# version $version in a database of its own.
my $fresh_n = 0;
sub same_as_fresh
{
	my ($db, $version, $name, $query) = @_;
	my $fresh = 'fresh' . ++$fresh_n;
	$query //= $catalog;
	$node->safe_psql('postgres', "CREATE DATABASE $fresh");
	$node->safe_psql($fresh, "CREATE EXTENSION leakguard VERSION '$version'");
	my $expected = $node->safe_psql($fresh, $query);
	ok(length($expected) > 100, 'the catalog description is substantial');
	is($node->safe_psql($db, $query), $expected, $name);
	return;
}

# a fresh 1.1 install, in another database, defines everything alike
same_as_fresh('postgres', '1.1',
	'an installation updated to 1.1 and a fresh one have identical definitions');

# 1.1 -> 1.2 on the database just updated: the views name roles through
# pg_roles, nothing else changes
$node->safe_psql('postgres', q{ALTER EXTENSION leakguard UPDATE TO '1.2'});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'leakguard'}),
	'1.2', 'ALTER EXTENSION UPDATE brings 1.2');
is( $node->safe_psql('postgres', q{
		SELECT application_name, action, usename, kind FROM leakguard.terminations ORDER BY terminated_at}),
	"old|terminated|app|idle in transaction\nold|terminated|app|idle in transaction",
	'the history is intact, with role names');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM leakguard.sessions WHERE pid = pg_backend_pid() AND usename = current_user}),
	'1', 'sessions names the role');
same_as_fresh('postgres', '1.2',
	'an installation updated 1.0 -> 1.1 -> 1.2 and a fresh 1.2 have identical definitions');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_depend d
		  JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
		 WHERE r.ev_class IN ('leakguard.sessions'::regclass, 'leakguard.terminations'::regclass)
		   AND d.refobjid = 'pg_catalog.pg_authid'::regclass}),
	'0', 'no view reads pg_authid');

# What a DBA does on 1.1 survives the update to 1.2.
$node->safe_psql('postgres', q{
	CREATE ROLE monitor LOGIN;
	CREATE ROLE reader LOGIN;
	CREATE DATABASE dba;
});
$node->safe_psql('dba', q{
	CREATE EXTENSION leakguard VERSION '1.1';
	REVOKE SELECT ON leakguard.terminations FROM PUBLIC;
	GRANT SELECT ON leakguard.terminations TO monitor;
	CREATE VIEW public.app_terminations AS
		SELECT application_name, terminated, idle_terminated FROM leakguard.stats;
	CREATE VIEW public.my_sessions AS
		SELECT pid, usename FROM leakguard.sessions WHERE pid = pg_backend_pid();
	GRANT SELECT ON public.app_terminations, public.my_sessions TO monitor;
});

sub can_read
{
	my ($user, $db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql,
		connstr => $node->connstr($db) . " user=$user");
	return $ret == 0 ? 'yes' : $err =~ /permission denied/ ? 'denied' : "error: $err";
}
is(can_read('reader', 'dba', 'SELECT * FROM leakguard.terminations'), 'denied',
	'on 1.1, PUBLIC may not read terminations after the REVOKE');

my ($ret, $out, $err) = $node->psql('dba', q{ALTER EXTENSION leakguard UPDATE TO '1.2'});
is($ret, 0, 'the update to 1.2 succeeds with views built on leakguard\'s views')
  or diag($err);
is($node->safe_psql('dba', q{SELECT extversion FROM pg_extension WHERE extname = 'leakguard'}),
	'1.2', 'the update brought 1.2');
is(can_read('reader', 'dba', 'SELECT * FROM leakguard.terminations'), 'denied',
	'PUBLIC still may not read terminations');
is(can_read('monitor', 'dba', 'SELECT * FROM leakguard.terminations'), 'yes',
	'the monitoring role still may');
is(can_read('reader', 'dba', 'SELECT * FROM leakguard.stats'), 'yes',
	'what was not revoked stays granted to PUBLIC');

# limit_for() gains two arguments: it is made again, with the privileges
# the DBA gave the old one (they become its initial privileges, which
# pg_dump does not dump: README, "Upgrading")
$node->safe_psql('postgres', 'CREATE DATABASE dba2');
$node->safe_psql('dba2', q{
	CREATE EXTENSION leakguard VERSION '1.1';
	REVOKE EXECUTE ON FUNCTION leakguard.limit_for(text) FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION leakguard.limit_for(text) TO monitor;
	REVOKE EXECUTE ON FUNCTION leakguard.status() FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION leakguard.status() TO monitor;
	ALTER EXTENSION leakguard UPDATE TO '1.2';
});
is(can_read('reader', 'dba2', q{SELECT * FROM leakguard.limit_for('x')}), 'denied',
	'limit_for(), made again with two more arguments, keeps the REVOKE from PUBLIC');
is(can_read('monitor', 'dba2', q{SELECT * FROM leakguard.limit_for('x', 'monitor')}), 'yes',
	'and the GRANT to the monitoring role');
# status() gains two result columns (prepared transactions): made again too
is(can_read('reader', 'dba2', 'SELECT prepared_transactions FROM leakguard.status()'), 'denied',
	'status(), made again with two more columns, keeps the REVOKE from PUBLIC');
is(can_read('monitor', 'dba2', 'SELECT prepared_transactions FROM leakguard.status()'), 'yes',
	'and the GRANT to the monitoring role');
is( $node->safe_psql('dba', q{
		SELECT terminated FROM public.app_terminations WHERE application_name = 'old'}),
	'2', 'the view built on stats still works');
is( $node->safe_psql('dba', 'SELECT usename FROM public.my_sessions',
		connstr => $node->connstr('dba') . ' user=monitor'),
	'monitor', 'the view built on sessions still works, with role names');

# On 1.0 the update to 1.1 (as released) drops and makes again the views
# and the functions whose results gained columns: a view a DBA built on them
# makes it fail, and the privileges on them are back to the defaults after
# it; the DBA applies them again (README, "Upgrading"), and pg_dump then
# dumps them.
$node->safe_psql('postgres', 'CREATE DATABASE dba10');
$node->safe_psql('dba10', q{
	CREATE EXTENSION leakguard VERSION '1.0';
	REVOKE SELECT ON leakguard.terminations FROM PUBLIC;
	CREATE VIEW public.app_terminations AS
		SELECT application_name, terminated FROM leakguard.stats;
});
($ret, $out, $err) = $node->psql('dba10', q{ALTER EXTENSION leakguard UPDATE TO '1.1'});
like($err, qr/cannot drop view (leakguard\.)?stats because other objects depend on it/,
	'1.0 -> 1.1 refuses to drop a view a DBA built on stats, as the README says');
$node->safe_psql('dba10', q{
	DROP VIEW public.app_terminations;
	ALTER EXTENSION leakguard UPDATE TO '1.1';
});
is(can_read('reader', 'dba10', 'SELECT * FROM leakguard.terminations'), 'yes',
	'after 1.0 -> 1.1 the privileges are the defaults again, as the README says');
$node->safe_psql('dba10', q{
	REVOKE SELECT ON leakguard.terminations FROM PUBLIC;
	GRANT SELECT ON leakguard.terminations TO monitor;
});
is(can_read('reader', 'dba10', 'SELECT * FROM leakguard.terminations'), 'denied',
	'the DBA applies the REVOKE again');
my ($dump) = run_command([ 'pg_dump', '--schema-only', '-d', $node->connstr('dba10') ]);
like($dump, qr/^REVOKE SELECT ON TABLE leakguard\.terminations FROM PUBLIC;$/m,
	'and pg_dump dumps it');
like($dump, qr/^GRANT SELECT ON TABLE leakguard\.terminations TO monitor;$/m,
	'and the GRANT');
same_as_fresh('dba10', '1.1',
	'an installation updated 1.0 -> 1.1 has the initial privileges of a fresh 1.1',
	$initprivs);

$node->safe_psql('dba', q{
	DROP VIEW public.app_terminations, public.my_sessions;
	REVOKE SELECT ON leakguard.terminations FROM monitor;
	GRANT SELECT ON leakguard.terminations TO PUBLIC;
});
same_as_fresh('dba', '1.2',
	'an installation updated 1.1 -> 1.2 and a fresh 1.2 have identical definitions');

# What a DBA does on 1.2 survives the update to 1.3, and the result is
# defined exactly as a fresh 1.3 (1.2's script, then the update script).
$node->safe_psql('postgres', 'CREATE DATABASE dba13');
$node->safe_psql('dba13', q{
	CREATE EXTENSION leakguard VERSION '1.2';
	REVOKE SELECT ON leakguard.terminations FROM PUBLIC;
	GRANT SELECT ON leakguard.terminations TO monitor;
	REVOKE EXECUTE ON FUNCTION leakguard.status() FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION leakguard.status() TO monitor;
	REVOKE EXECUTE ON FUNCTION leakguard.limit_for(text, name, name) FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION leakguard.limit_for(text, name, name) TO monitor;
	CREATE VIEW public.app_terminations AS
		SELECT application_name, terminated, transaction_terminated FROM leakguard.stats;
	CREATE VIEW public.my_sessions AS
		SELECT pid, usename, xmin_age FROM leakguard.sessions WHERE pid = pg_backend_pid();
	GRANT SELECT ON public.app_terminations, public.my_sessions TO monitor;
});
($ret, $out, $err) = $node->psql('dba13', 'ALTER EXTENSION leakguard UPDATE');
is($ret, 0, 'the update to 1.3 succeeds with views built on leakguard\'s views')
  or diag($err);
is($node->safe_psql('dba13', q{SELECT extversion FROM pg_extension WHERE extname = 'leakguard'}),
	'1.3', 'the update brought 1.3');
for my $read ('SELECT * FROM leakguard.terminations',
	'SELECT * FROM leakguard.status()',
	'SELECT stats_evicted FROM leakguard.status()',
	'SELECT sources_evicted FROM leakguard.status()',
	q{SELECT * FROM leakguard.limit_for('x')})
{
	is(can_read('reader', 'dba13', $read), 'denied', "after the update to 1.3, PUBLIC still may not: $read");
	is(can_read('monitor', 'dba13', $read), 'yes', "and the monitoring role still may: $read");
}
is(can_read('reader', 'dba13', 'SELECT * FROM leakguard.stats'), 'yes',
	'what was not revoked stays granted to PUBLIC');
is( $node->safe_psql('dba13', 'SELECT usename FROM public.my_sessions',
		connstr => $node->connstr('dba13') . ' user=monitor'),
	'monitor', 'the view built on sessions still works');
is( $node->safe_psql('dba13', q{SELECT count(*) >= 0 FROM public.app_terminations}),
	't', 'the view built on stats still works');
$node->safe_psql('postgres', 'CREATE DATABASE up13');
$node->safe_psql('up13', q{
	CREATE EXTENSION leakguard VERSION '1.2';
	ALTER EXTENSION leakguard UPDATE;
});
same_as_fresh('up13', '1.3',
	'an installation updated 1.2 -> 1.3 and a fresh 1.3 have identical definitions');

# A result type wider than the library fills (scripts of a newer version
# applied while the server still runs an older library) is refused, never
# filled from beyond the library's arrays.
$node->safe_psql('postgres', q{
	CREATE FUNCTION public.wide_limit_for(text, OUT rule text, OUT timeout interval,
		OUT idle_rule text, OUT idle_timeout interval, OUT connection_rule text,
		OUT connection_limit integer, OUT transaction_rule text,
		OUT transaction_timeout interval, OUT xmin_rule text, OUT xmin_age_limit bigint,
		OUT blocking_rule text, OUT blocking_timeout interval, OUT statement_rule text,
		OUT statement_timeout interval, OUT newer bigint)
	RETURNS record AS '$libdir/leakguard', 'lg_limit_for_sql' LANGUAGE C STRICT;
	CREATE FUNCTION public.wide_terminations(OUT terminated_at timestamptz, OUT pid integer,
		OUT datid oid, OUT usesysid oid, OUT application_name text, OUT client_addr inet,
		OUT backend_start timestamptz, OUT xact_start timestamptz, OUT state_change timestamptz,
		OUT idle_time interval, OUT timeout interval, OUT rule text, OUT action text,
		OUT query text, OUT kind text, OUT blocked_pids integer[], OUT xmin_age bigint,
		OUT newer bigint)
	RETURNS SETOF record AS '$libdir/leakguard', 'lg_terminations_sql' LANGUAGE C;
	CREATE FUNCTION public.odd_limit_for(text, OUT rule text, OUT timeout interval,
		OUT idle_rule text, OUT idle_timeout interval, OUT connection_rule text,
		OUT connection_limit integer, OUT newer bigint)
	RETURNS record AS '$libdir/leakguard', 'lg_limit_for_sql' LANGUAGE C STRICT;
});
($ret, $out, $err) = $node->psql('postgres', q{SELECT newer FROM public.odd_limit_for('old')});
like($err, qr/ERROR:  the leakguard library does not match the extension's SQL definitions/,
	'a result type of a width no version declares is refused, never filled with garbage');
for my $f (q{public.wide_limit_for('old')}, 'public.wide_terminations()')
{
	($ret, $out, $err) = $node->psql('postgres', "SELECT newer FROM $f");
	like($err, qr/ERROR:  the leakguard library is older than the extension's SQL definitions/,
		"$f: a result column the library does not know is refused");
}

$node->stop;
done_testing();
