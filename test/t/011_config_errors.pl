# Bad settings are never dropped silently, and never make leakguard stricter
# than configured.
#
# At server start PostgreSQL replaces a bad value of a custom setting by its
# default and only warns: an exempt_roles list with a typo would become
# empty, and the roles it meant to protect would be terminated.  leakguard
# reports what is wrong in status().config_error and the log, and only
# reports (as in dry_run) until a reload brings valid settings.  A bad value
# at a later reload keeps the previous values in force, as PostgreSQL does.
# status().rules shows the rules the worker uses.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('config', conf => q{
leakguard.idle_in_transaction_timeout = 1s
leakguard.application_timeouts = 'short=2s, mid=5x'
leakguard.exempt_roles = 'etl, "oops'
leakguard.naptime = 'abc'
leakguard.exmpt_roles = 'etl'
});
$node->safe_psql('postgres', 'CREATE ROLE etl LOGIN');

ok($node->log_contains(qr/WARNING:  leakguard only reports, and terminates no session, until valid settings are loaded/),
	'the log says leakguard only reports');
my $error = $node->safe_psql('postgres', 'SELECT config_error FROM leakguard.status()');
like($error, qr/leakguard\.application_timeouts: Rule 2 \("mid=5x"\) at character 16: unknown unit "x"/,
	'config_error names the bad rule and its position');
like($error, qr/leakguard\.exempt_roles: /, 'config_error names the bad role list');
like($error, qr/leakguard\.naptime: invalid value "abc"/, 'config_error names a bad number');
is($node->safe_psql('postgres', 'SELECT mode FROM leakguard.status()'), 'dry_run',
	'status() says the worker only reports');

# The DBA meant to exempt etl: its session must survive the default limit.
my $etl = lg_session($node, user => 'etl', app => 'loader');
my $other = lg_session($node, app => 'other');
for my $s ($etl, $other)
{
	ok( $node->poll_query_until('postgres',
			'SELECT count(*) = 1 FROM leakguard.terminations WHERE action = \'dry_run\' AND pid = ' . $s->pid),
		'a session past the default limit is reported, not terminated');
}
ok(lg_alive($node, $etl->pid) && lg_alive($node, $other->pid), 'both sessions are alive');

# Mend the file (the misspelled name too), reload: enforcement resumes.
my $conf = $node->data_dir . '/postgresql.conf';
my $text = slurp_file($conf);
$text =~ s/^leakguard\.(application_timeouts|exempt_roles|naptime|exmpt_roles) = .*$//mg;
open(my $fh, '>', $conf) or die $!;
print $fh $text, "leakguard.application_timeouts = 'short=2s'\nleakguard.exempt_roles = 'etl'\n";
close($fh);
my $offset = -s $node->logfile;
$node->reload;
ok( $node->poll_query_until('postgres',
		q{SELECT mode = 'enforce' AND config_error IS NULL FROM leakguard.status()}),
	'after a good reload the worker enforces again');
$node->wait_for_log(qr/LOG:  leakguard settings are valid again; mode enforce is in force/, $offset);
ok(lg_wait_gone($node, $other->pid), 'the session that was only reported is now terminated');
ok(lg_alive($node, $etl->pid), 'the exempt role\'s session is not');
is($node->safe_psql('postgres', 'SELECT exempt FROM leakguard.sessions WHERE pid = ' . $etl->pid),
	'role', 'and leakguard.sessions says why');

# A bad value at a later reload: the previous values stay in force.
lg_set_conf($node, "leakguard.application_timeouts = 'short=1q'\n");
ok( $node->poll_query_until('postgres',
		q{SELECT config_error LIKE '%unknown unit "q"%' FROM leakguard.status()}),
	'a bad reload is reported');
is($node->safe_psql('postgres', 'SELECT mode, rules FROM leakguard.status()'),
	'enforce|short=2s', 'and the previous rules stay in force, enforced');
lg_set_conf($node, "leakguard.application_timeouts = 'short=2s, slowish=10s'\n");
$node->poll_query_until('postgres', q{SELECT config_error IS NULL FROM leakguard.status()})
  or die 'the configuration did not become clean';

# A reload with a good change and a bad one changes nothing in the worker:
# PostgreSQL would apply the new rules and keep the old exemptions, a
# policy nobody wrote.
lg_set_conf($node, "leakguard.application_timeouts = 'short=2s, slowish=1s'\nleakguard.exempt_roles = 'etl, \"oops'\n");
ok( $node->poll_query_until('postgres',
		q{SELECT config_error LIKE '%leakguard.exempt_roles%' FROM leakguard.status()}),
	'a reload with a bad role list is reported');
is($node->safe_psql('postgres', 'SELECT mode, rules FROM leakguard.status()'),
	'enforce|short=2s, slowish=10s', 'and the worker keeps all its previous values, the good new rules too');
my $other2 = lg_session($node, app => 'slowish');
ok( $node->poll_query_until('postgres',
		'SELECT idle_in_transaction > interval \'1.5 s\' FROM leakguard.sessions WHERE pid = ' . $other2->pid),
	'a session past the new, lower 1 s rule ...');
$node->safe_psql('postgres', 'SELECT leakguard.check()');
ok(lg_alive($node, $other2->pid), '... is not terminated under it: the worker still applies 10 s');
lg_set_conf($node, "leakguard.application_timeouts = 'short=2s'\nleakguard.exempt_roles = 'etl'\n");
$node->poll_query_until('postgres', q{SELECT config_error IS NULL FROM leakguard.status()})
  or die 'the configuration did not become clean';
$other2->close;

# status().rules is what the worker uses, even before the caller reloads:
# within one statement a backend does not process a reload.
$node->safe_psql('postgres', q{
	CREATE FUNCTION rules_seen() RETURNS text LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM pg_reload_conf();
		FOR i IN 1 .. 6000 LOOP
			EXIT WHEN (SELECT rules FROM leakguard.status()) = 'new=1s';
			PERFORM pg_sleep(0.01);
		END LOOP;
		RETURN current_setting('leakguard.application_timeouts') || ' / ' ||
		       (SELECT rules FROM leakguard.status());
	END$$;
});
$node->append_conf('postgresql.conf', "leakguard.application_timeouts = 'new=1s'\n");
is($node->safe_psql('postgres', 'SELECT rules_seen()'), 'short=2s / new=1s',
	'status().rules shows the worker\'s rules while the caller still has the old ones');

$etl->close;
$node->stop;
done_testing();
