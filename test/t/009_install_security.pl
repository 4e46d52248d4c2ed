# The install script against a schema planted by a non-superuser.
#
# leakguard.control fixes the schema "leakguard", and CREATE EXTENSION
# reuses an existing schema of that name whoever owns it.  A database owner
# who is not a superuser creates that schema first and plants, for every
# operator and function the script names, a look-alike that makes its
# caller's role grant superuser to the attacker.  Then a superuser installs
# the extension and reads every view and function.  The attacker must not
# become superuser, and the install must be refused with a clear error.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('security', no_extension => 1);

$node->safe_psql('postgres', q{
	CREATE ROLE attacker LOGIN;
	CREATE DATABASE attackdb OWNER attacker;
});

# Everything below runs as the attacker, in a database it owns.
my $plant = q{
CREATE SCHEMA leakguard;
CREATE FUNCTION leakguard.escalate() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE attacker SUPERUSER';
	END IF;
END$$;
};
# One look-alike per operator signature the script could resolve to, with
# the exact argument types an unqualified expression would have.
my @ops = (
	[ '*', 'numeric', 'bigint', 'numeric' ],
	[ '*', 'numeric', 'numeric', 'numeric' ],
	[ '/', 'numeric', 'integer', 'numeric' ],
	[ '/', 'numeric', 'numeric', 'numeric' ],
	[ '=', 'oid', 'oid', 'boolean' ],
	[ '=', 'oid', 'integer', 'boolean' ],
	[ '=', 'text', 'text', 'boolean' ],
	[ '+', 'bigint', 'bigint', 'bigint' ],
	[ '<>', 'bigint', 'integer', 'boolean' ],);
my $n = 0;
for my $op (@ops)
{
	my ($sym, $l, $r, $ret) = @$op;
	$n++;
	my $value = $ret eq 'boolean' ? 'true' : '1';
	$plant .= qq{
CREATE FUNCTION leakguard.op$n($l, $r) RETURNS $ret LANGUAGE plpgsql AS \$\$
BEGIN PERFORM leakguard.escalate(); RETURN $value; END\$\$;
CREATE OPERATOR leakguard.$sym (LEFTARG = $l, RIGHTARG = $r, FUNCTION = leakguard.op$n);
};
}
for my $f ([ 'round', 'numeric, integer', 'numeric' ],
	[ 'current_setting', 'text', 'text' ],
	[ 'to_regnamespace', 'text', 'regnamespace' ],
	[ 'format', 'text, bigint', 'text' ],
	[ 'quote_ident', 'name', 'text' ])
{
	my ($name, $args, $ret) = @$f;
	$plant .= qq{
CREATE FUNCTION leakguard.$name($args) RETURNS $ret LANGUAGE plpgsql AS \$\$
BEGIN PERFORM leakguard.escalate(); RETURN NULL; END\$\$;
};
}
$node->safe_psql('attackdb', $plant, extra_params => [ '-U', 'attacker' ]);

sub attacker_is_superuser
{
	return $node->safe_psql('postgres',
		q{SELECT rolsuper FROM pg_roles WHERE rolname = 'attacker'}) eq 't';
}

# Every view and function, read by a superuser, whatever exists.
my @reads = (
	'SELECT * FROM leakguard.sessions',
	'SELECT * FROM leakguard.stats',
	'SELECT * FROM leakguard.terminations',
	'SELECT * FROM leakguard.connections',
	'SELECT * FROM leakguard.leak_sources',
	'SELECT * FROM leakguard.suggested_changes()',
	'SELECT * FROM leakguard.status()',
	q{SELECT * FROM leakguard.limit_for('x')},
	'SELECT leakguard.check()');

sub read_everything
{
	my ($db) = @_;
	$node->psql($db, $_) for @reads;
	return;
}

# 1. The planted schema is refused, and nothing is left half-installed.
my ($ret, $out, $err) = $node->psql('attackdb', 'CREATE EXTENSION leakguard');
isnt($ret, 0, 'CREATE EXTENSION refuses a schema a non-superuser created');
like($err, qr/ERROR:  schema "leakguard" was not created for this extension/,
	'the error says why');
like($err, qr/DETAIL:  It is owned by role attacker, which is not a superuser\..*It already holds \d+ objects\./s,
	'the detail names the owner and the planted objects');
like($err, qr/HINT:  Drop or rename that schema/, 'the hint says what to do');
is($node->safe_psql('attackdb', q{SELECT count(*) FROM pg_extension WHERE extname = 'leakguard'}),
	'0', 'no extension was recorded');
read_everything('attackdb');
ok(!attacker_is_superuser(), 'the attacker is not superuser after the attempt');

# 2. A superuser's schema where the attacker may create objects: refused.
$node->safe_psql('attackdb', 'DROP SCHEMA leakguard CASCADE');
$node->safe_psql('attackdb', q{
	CREATE SCHEMA leakguard AUTHORIZATION CURRENT_USER;
	GRANT CREATE ON SCHEMA leakguard TO attacker;
});
($ret, $out, $err) = $node->psql('attackdb', 'CREATE EXTENSION leakguard');
like($err, qr/DETAIL:  Roles other than superusers may create objects in it: attacker\./,
	'a schema others may create objects in is refused');

# 3. An empty schema of a superuser, closed to others: accepted.
$node->safe_psql('attackdb', q{
	REVOKE CREATE ON SCHEMA leakguard FROM attacker;
	CREATE EXTENSION leakguard;
});
is($node->safe_psql('attackdb', q{SELECT extversion IS NOT NULL FROM pg_extension WHERE extname = 'leakguard'}),
	't', 'an empty superuser-owned schema is accepted');
$node->safe_psql('attackdb', 'DROP EXTENSION leakguard; DROP SCHEMA leakguard');

# 4. Installed normally; the attacker then plants look-alikes in a schema
# of its own and puts it first on a superuser's search_path.  The views
# bound their operators at install time, in pg_catalog.
$node->safe_psql('attackdb', 'CREATE EXTENSION leakguard');
my $plant_public = $plant =~ s/leakguard\./public./gr;
$plant_public =~ s/CREATE SCHEMA leakguard;//;
$node->safe_psql('attackdb', $plant_public, extra_params => [ '-U', 'attacker' ]);
$node->safe_psql('attackdb', $_ . ';') for
  map { "SET search_path = public, pg_catalog; $_" } @reads;
ok(!attacker_is_superuser(), 'reading every view with planted look-alikes on the path grants nothing');
# what the rewrite rules of leakguard's views depend on
$node->safe_psql('attackdb', q{
	CREATE VIEW leakguard_rule_deps AS
	SELECT d.refclassid, d.refobjid
	  FROM pg_depend d
	  JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
	  JOIN pg_class c ON c.oid = r.ev_class
	 WHERE c.relnamespace = 'leakguard'::regnamespace});
is( $node->safe_psql('attackdb', q{
		SELECT count(*) FROM leakguard_rule_deps d
		  JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid
		 WHERE p.pronamespace = 'leakguard'::regnamespace}),
	'6', 'the dependencies are recorded: the views depend on the six functions behind them');
is( $node->safe_psql('attackdb', q{
		SELECT count(*) FROM leakguard_rule_deps d
		  JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND d.refobjid = o.oid
		 WHERE o.oprnamespace <> 'pg_catalog'::regnamespace}),
	'0', 'every operator the views use is in pg_catalog');
is( $node->safe_psql('attackdb', q{
		SELECT count(*) FROM leakguard_rule_deps d
		  JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid
		 WHERE p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'leakguard'::regnamespace)}),
	'0', 'every function the views use is in pg_catalog or leakguard');

# 5. Updates are held to the same standard.  With the attacker's
# look-alikes first on the updater's search_path, updating 1.0 -> 1.1 ->
# 1.2 -> 1.3 (1.2 carries limit_for()'s privileges over with dynamic SQL) grants
# it nothing, and an update refuses a schema others may create objects in.
$node->safe_psql('postgres', 'CREATE DATABASE updatedb OWNER attacker');
$node->safe_psql('updatedb', q{CREATE EXTENSION leakguard VERSION '1.0'});
$node->safe_psql('updatedb', $plant_public, extra_params => [ '-U', 'attacker' ]);
$node->safe_psql('updatedb', q{
	SET search_path = public, pg_catalog;
	ALTER EXTENSION leakguard UPDATE TO '1.1';
	REVOKE EXECUTE ON FUNCTION leakguard.limit_for(pg_catalog.text) FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION leakguard.limit_for(pg_catalog.text) TO attacker;
	ALTER EXTENSION leakguard UPDATE TO '1.2';
	ALTER EXTENSION leakguard UPDATE TO '1.3';
});
$node->safe_psql('updatedb', $_ . ';') for
  map { "SET search_path = public, pg_catalog; $_" } @reads;
ok(!attacker_is_superuser(), 'updating with planted look-alikes on the path grants nothing');
is($node->safe_psql('updatedb', q{SELECT extversion FROM pg_extension WHERE extname = 'leakguard'}),
	'1.3', 'and the updates went through');

$node->safe_psql('updatedb', q{
	DROP EXTENSION leakguard;
	CREATE EXTENSION leakguard VERSION '1.1';
	GRANT CREATE ON SCHEMA leakguard TO attacker;
});
($ret, $out, $err) = $node->psql('updatedb', 'ALTER EXTENSION leakguard UPDATE');
like($err, qr/ERROR:  schema "leakguard" is not controlled by superusers only/,
	'the update to 1.2 refuses a schema others may create objects in');
is($node->safe_psql('updatedb', q{SELECT extversion FROM pg_extension WHERE extname = 'leakguard'}),
	'1.1', 'and changes nothing');

$node->safe_psql('updatedb', q{
	REVOKE CREATE ON SCHEMA leakguard FROM attacker;
	DROP EXTENSION leakguard;
	CREATE EXTENSION leakguard VERSION '1.2';
	GRANT CREATE ON SCHEMA leakguard TO attacker;
});
($ret, $out, $err) = $node->psql('updatedb', 'ALTER EXTENSION leakguard UPDATE');
like($err, qr/ERROR:  schema "leakguard" is not controlled by superusers only/,
	'the update to 1.3 refuses a schema others may create objects in');
is($node->safe_psql('updatedb', q{SELECT extversion FROM pg_extension WHERE extname = 'leakguard'}),
	'1.2', 'and changes nothing');

$node->stop;
done_testing();
