# Prepared transactions that nobody finishes (issue 16): the worker logs one
# WARNING for each prepared transaction older than
# leakguard.prepared_transaction_warning, with its gid, owner, database and
# ages, and never finishes it; 0 warns about nothing; a restarted worker
# does not warn again; status() counts them and gives the oldest one's
# time.  On a hot standby, where replayed prepared transactions cannot be
# read (nor finished), nothing is warned about and status() counts none.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('prepared', init => { allows_streaming => 1 }, conf => q{
max_prepared_transactions = 10
leakguard.naptime = 200ms
});
$node->safe_psql('postgres', q{
	CREATE TABLE t (i int);
	GRANT ALL ON t TO app;
	CREATE DATABASE other;
});
$node->safe_psql('other', 'CREATE TABLE u (i int)');

my $warning = qr/WARNING:  leakguard: prepared transaction '(\w+)' is older than/;

sub warnings_for
{
	my ($gid) = @_;
	my @all = slurp_file($node->logfile) =~ /$warning/g;
	return scalar grep { $_ eq $gid } @all;
}

# wait for n more scans of the worker
sub scans
{
	my ($n) = @_;
	my $scans = $node->safe_psql('postgres', 'SELECT scans FROM leakguard.status()');
	$node->poll_query_until('postgres',
		"SELECT scans >= $scans + $n FROM leakguard.status()")
	  or die "the worker does not scan";
	return;
}

is($node->safe_psql('postgres',
		'SELECT prepared_transactions, oldest_prepared_at IS NULL FROM leakguard.status()'),
	'0|t', 'status(): no prepared transaction');

# a prepared transaction of role app, left there
$node->safe_psql('postgres', q{
	SET ROLE app;
	BEGIN;
	INSERT INTO t VALUES (1);
	PREPARE TRANSACTION 'first';
});
is($node->safe_psql('postgres', q{
		SELECT s.prepared_transactions, s.oldest_prepared_at = p.prepared
		  FROM leakguard.status() s, pg_prepared_xacts p WHERE p.gid = 'first'}),
	'1|t', 'status() counts it and gives when it was prepared');
is($node->safe_psql('postgres', q{
		SET ROLE reader;
		SELECT prepared_transactions FROM leakguard.status()}),
	'1', 'to any role that may call status()');

# leakguard.prepared_transaction_warning = 0 (the default): no warning
$node->poll_query_until('postgres',
	q{SELECT now() - prepared > interval '1.5 s' FROM pg_prepared_xacts WHERE gid = 'first'})
  or die "time does not pass";
scans(5);
is(warnings_for('first'), 0, 'with the warning at 0, nothing is warned about');

# 1 s: one warning, with what the DBA needs
lg_set_conf($node, "leakguard.prepared_transaction_warning = 1s\n");
$node->wait_for_log(qr/${warning}[^\n]*\n[^\n]*DETAIL:  Prepared transaction 'first' of role "app" in database "postgres" was prepared at [^\n]+, [^\n]+ ago; its transaction ID \d+ is \d+ transactions old\.  Until it is finished it keeps its locks and holds back the xmin horizon\.\n[^\n]*HINT:  Finish it with COMMIT PREPARED 'first' or ROLLBACK PREPARED 'first', connected to database "postgres" as its owner or a superuser; leakguard never finishes it, and warns about it once\./);
is(warnings_for('first'), 1, 'once the setting is 1 s, it is warned about, with gid, owner, database, ages and how to finish it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'first'}),
	'1', 'leakguard does not finish it');

# another one, in another database: a new reading of pg_prepared_xacts,
# which still lists the first, warns about the second only
$node->safe_psql('other', q{
	BEGIN;
	INSERT INTO u VALUES (1);
	PREPARE TRANSACTION 'second';
});
$node->wait_for_log(qr/${warning}[^\n]*\n[^\n]*DETAIL:  Prepared transaction 'second' of role "\w+" in database "other"/);
scans(10);
is(warnings_for('first'), 1, 'a later reading does not warn about the first again');
is(warnings_for('second'), 1, 'the second is warned about once');

# a restarted worker warns about neither again
my $worker = $node->safe_psql('postgres', 'SELECT pid FROM leakguard.status()');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($worker)");
$node->poll_query_until('postgres',
	"SELECT pid IS NOT NULL AND pid <> $worker FROM leakguard.status()")
  or die "the worker did not restart";
$node->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO t VALUES (3);
	PREPARE TRANSACTION 'third';
});
$node->wait_for_log(qr/${warning}[^\n]*\n[^\n]*DETAIL:  Prepared transaction 'third'/);
scans(10);
is(warnings_for('first') . warnings_for('second') . warnings_for('third'),
	'111', 'after a worker restart, each is still warned about once');
is($node->safe_psql('postgres', q{
		SELECT s.prepared_transactions, s.oldest_prepared_at = p.prepared
		  FROM leakguard.status() s, pg_prepared_xacts p WHERE p.gid = 'first'}),
	'3|t', 'status() counts three, the oldest the first');

# a hot standby replays them, but cannot read or finish them
$node->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'backup', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
ok($standby->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM leakguard.status()'),
	'the worker runs on the standby');
my $standby_scans = $standby->safe_psql('postgres', 'SELECT scans FROM leakguard.status()');
$standby->poll_query_until('postgres',
	"SELECT scans >= $standby_scans + 5 FROM leakguard.status()")
  or die "the standby's worker does not scan";
is($standby->safe_psql('postgres', 'SELECT prepared_transactions FROM leakguard.status()'),
	'0', 'on the standby, status() counts none (pg_prepared_xacts lists none there)');
ok(!$standby->log_contains($warning), 'and nothing is warned about there');
$standby->stop;

# finished by the DBA: none left
$node->safe_psql('postgres', q{COMMIT PREPARED 'first'});
$node->safe_psql('other', q{ROLLBACK PREPARED 'second'});
$node->safe_psql('postgres', q{COMMIT PREPARED 'third'});
is($node->safe_psql('postgres',
		'SELECT prepared_transactions, oldest_prepared_at IS NULL FROM leakguard.status()'),
	'0|t', 'once they are finished, status() counts none');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '2', 'their changes are committed');
scans(5);
ok(!$node->log_contains(qr/PANIC|was terminated by signal|could not start its helper/),
	'no crash, no helper refused');

$node->stop;
done_testing();
