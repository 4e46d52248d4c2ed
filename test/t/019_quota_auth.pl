# Connection quotas judged before the shared relcache init file exists.
#
# global/pg_internal.init is removed at every server start (and when an
# invalidation hits a catalog kept in it); the first backends after that,
# the reconnect storm of a restart, authenticate without the relcache
# entries of the shared catalogs' indexes, and no database is selected yet.
# The quota hook must then read no catalog that core's own startup could
# not: an over-quota connection is refused with 53300 and recorded in
# enforce, and admitted and recorded in dry_run, exactly as with the file.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

# No autovacuum: an autovacuum worker connecting to a database would write
# the init file again between its removal and the connection under test.
my $node = lg_node('quota_auth', conf => q{
autovacuum = off
log_error_verbosity = verbose
leakguard.application_connection_limits = 'billing-api=1'
leakguard.exempt_roles = 'exempt_role'
});
my $init_file = $node->data_dir . '/global/pg_internal.init';

sub row { return $node->safe_psql('postgres', $_[0]); }

# Remove the init file, which the last backend that started has written.
sub remove_init_file
{
	ok(unlink($init_file), 'the shared relcache init file is removed')
	  or diag("unlink $init_file: $!");
	return;
}

my $held = lg_session($node, startup_app => 'billing-api', leak => 0);

# enforce: refused with 53300, counted, recorded with its role and database
my $offset = -s $node->logfile;
remove_init_file();
my $err = lg_connect_error($node, 'billing-api');
like($err, qr/FATAL:  too many connections for application "billing-api"/,
	'enforce: without the init file, the connection beyond the quota is refused');
ok($node->log_contains(qr/FATAL:  53300: too many connections for application "billing-api"/, $offset),
	'with SQLSTATE 53300');
ok(!$node->log_contains(qr/XX000/, $offset), 'the server logged no internal error');
is(row(q{SELECT refused, refused_dry_run FROM leakguard.stats WHERE application_name = 'billing-api'}),
	'1|0', 'the refusal is counted');
is( row(q{SELECT count(*), min(action), min(usename), min(datname)
            FROM leakguard.terminations WHERE kind = 'connections'}),
	'1|refused|app|postgres', 'and recorded with its role and database');

# exempt roles and superusers are judged through pg_authid without the file
my $superuser = row('SELECT current_user');
remove_init_file();
is(lg_connect_error($node, 'billing-api', user => 'exempt_role'), '',
	'an exempt role is admitted without the init file');
remove_init_file();
is(lg_connect_error($node, 'billing-api', user => $superuser), '',
	'so is a superuser');

# dry_run: admitted, counted, recorded
lg_set_conf($node, "leakguard.mode = dry_run\n");
$node->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()})
  or die 'dry_run not in force';
$offset = -s $node->logfile;
remove_init_file();
is(lg_connect_error($node, 'billing-api'), '',
	'dry_run: without the init file, the connection beyond the quota is admitted');
$node->wait_for_log(qr/leakguard \(dry run\) would have refused a connection of application "billing-api" \(user "app", database "postgres"\)/,
	$offset);
ok(!$node->log_contains(qr/XX000/, $offset), 'the server logged no internal error');
is(row(q{SELECT refused, refused_dry_run FROM leakguard.stats WHERE application_name = 'billing-api'}),
	'1|1', 'the dry-run refusal is counted');
is( row(q{SELECT count(*), min(usename), min(datname)
            FROM leakguard.terminations WHERE kind = 'connections' AND action = 'dry_run'}),
	'1|app|postgres', 'and recorded with its role and database');

$held->close;
$node->stop;
done_testing();
