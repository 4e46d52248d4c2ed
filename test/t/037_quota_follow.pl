# 1.3: a quota charge follows the name a session really has.
#
# PostgreSQL reverts application_name at the end of a transaction (SET
# LOCAL, set_config(..., true), a rolled-back SET or RESET) after every
# statement hook has run, and a fast-path function call reaches no
# executor at all.  Whatever the path, a session is counted under the name
# it has when its transaction ends: a name it returns to is taken back
# without refusal, a name it gives itself is judged before the commit, and
# a rename into a full quota ends it with 53300.  Every check is made
# before the renamed session sends anything else, since its next statement
# would set the charge right on its own.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('quota_follow', conf => q{
log_error_verbosity = verbose
leakguard.application_connection_limits = 'report-job=1, cfg-block=1, cfg-alone=1, ext-job=1, fp-local=1, q=1, q-error=1, q-back=1, q-reset=1, fq=1, fq-opt=1, q-sp=1'
});

sub row { return $node->safe_psql('postgres', $_[0]); }

sub named
{
	return row("SELECT count(*) FROM pg_stat_activity WHERE application_name = '$_[0]'");
}

# --- names given for the transaction only are given back at its end
my $s = lg_session($node, startup_app => 'other', leak => 0);
$s->query('BEGIN');
$s->query(q{SET LOCAL application_name = 'report-job'});
$s->query('SELECT 1');
$s->query('COMMIT');
is(named('report-job'), '0', 'SET LOCAL: no session is named report-job after the commit');
is(lg_connect_error($node, 'report-job'), '',
	'and a real report-job connection is admitted');

$s->query('BEGIN');
$s->query(q{SELECT set_config('application_name', 'cfg-block', true)});
$s->query('COMMIT');
is(lg_connect_error($node, 'cfg-block'), '',
	'set_config(..., true) in a transaction block: admitted after the commit');

$s->query(q{SELECT set_config('application_name', 'cfg-alone', true)});
is(lg_connect_error($node, 'cfg-alone'), '',
	'set_config(..., true) alone: admitted after its transaction');

my $x = lg_fastpath_client($node, startup_app => 'other');
is($x->cmd('x BEGIN'), 'ok ', 'extended protocol: BEGIN');
is($x->cmd(q{x SET LOCAL application_name = 'ext-job'}), 'ok ', 'SET LOCAL');
is($x->cmd('x SELECT 1'), 'ok 1', 'SELECT 1');
is($x->cmd('x COMMIT'), 'ok ', 'COMMIT');
is(lg_connect_error($node, 'ext-job'), '',
	'extended protocol, SET LOCAL: admitted after the commit');

is($x->cmd('fn fp-local 1'), 'ok fp-local',
	'fast path: set_config(..., true) in its own transaction');
is(lg_connect_error($node, 'fp-local'), '', 'admitted after it');
ok(lg_alive($node, $x->pid) && lg_alive($node, $s->pid),
	'the sessions that renamed themselves for a transaction are still there');

# --- a rolled-back rename gives the name back, without refusal
my $a = lg_session($node, startup_app => 'q', leak => 0);
$a->query('BEGIN');
$a->query(q{SET application_name = 'free'});
$a->query('ROLLBACK');
is(named('q'), '1', 'ROLLBACK of a SET: the session is named q again');
like(lg_connect_error($node, 'q'),
	qr/DETAIL:  leakguard allows application "q" at most 1 connections \(rule "q=1"\), and it holds 1\./,
	'and holds the one place of q: another q is refused');

my $e = lg_session($node, startup_app => 'q-error', leak => 0);
$e->query('BEGIN');
$e->query(q{SET application_name = 'free'});
$e->query('SELECT 1/0');
$e->query('ROLLBACK');
like(lg_connect_error($node, 'q-error'), qr/and it holds 1\./,
	'the same after a transaction aborted by an error');

# while it is away another takes the place; it comes back without refusal
my $k = lg_session($node, startup_app => 'q-back', leak => 0);
$k->query('BEGIN');
$k->query(q{SET application_name = 'free'});
my $b = lg_session($node, startup_app => 'q-back', leak => 0);
$k->query('ROLLBACK');
is(named('q-back'), '2', 'two sessions named q-back: one came back by ROLLBACK');
like(lg_connect_error($node, 'q-back'), qr/and it holds 2\./,
	'the count says 2, and the next q-back is refused');
ok(lg_alive($node, $k->pid), 'the session that came back was not refused');

# RESET rolled back: the session is counted under the name it is left with
my $r = lg_session($node, startup_app => 'free2', leak => 0);
$r->query(q{SET application_name = 'q-reset'});
$r->query('BEGIN');
$r->query('RESET application_name');
$r->query('SELECT 1');
$r->query('ROLLBACK');
is(named('q-reset'), '1', 'RESET rolled back: the session is named q-reset');
like(lg_connect_error($node, 'q-reset'), qr/and it holds 1\./,
	'and it holds the place of q-reset');

# ROLLBACK TO SAVEPOINT gives the name back too, while the transaction
# goes on, and without refusal
my $sp = lg_session($node, startup_app => 'q-sp', leak => 0);
$sp->query('BEGIN');
$sp->query('SAVEPOINT s');
$sp->query(q{SET application_name = 'free'});
$sp->query('ROLLBACK TO SAVEPOINT s');
like(lg_connect_error($node, 'q-sp'), qr/and it holds 1\./,
	'ROLLBACK TO SAVEPOINT: the session holds the place of its name again');
$sp->query(q{SET application_name = 'free'});
my $sp2 = lg_session($node, startup_app => 'q-sp', leak => 0);
$sp->query('ROLLBACK TO SAVEPOINT s');
is($sp->query('SELECT 1'), '1',
	'it came back while another took the place, and goes on unrefused');
$sp->query('COMMIT');
like(lg_connect_error($node, 'q-sp'), qr/and it holds 2\./,
	'both are counted');
$_->close for $sp, $sp2;

# exceptions caught in PL/pgSQL, many and nested: the names they set are
# given back as each subtransaction is cleaned up
my $pl = lg_session($node, startup_app => 'pl', leak => 0);
is($pl->query(q{DO $$
BEGIN
	FOR i IN 1 .. 2000 LOOP
		BEGIN
			PERFORM pg_catalog.set_config('application_name', 'pl-' || i % 3, false);
			BEGIN
				PERFORM pg_catalog.set_config('application_name', 'inner', false);
				PERFORM 1 / 0;
			EXCEPTION WHEN division_by_zero THEN NULL;
			END;
			PERFORM 1 / 0;
		EXCEPTION WHEN division_by_zero THEN NULL;
		END;
	END LOOP;
END $$; SELECT pg_catalog.current_setting('application_name')}), 'pl',
	'2000 caught exceptions, nested: the session is named pl');
is(row(q{SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('inner', 'pl-0', 'pl-1', 'pl-2')}), '0',
	'no session is left named by them');
$pl->close;

# --- fast-path renames are judged before their transaction commits
my @fp = map { lg_fastpath_client($node, startup_app => 'fp') } 1 .. 3;
is($fp[0]->cmd('fn fq 0'), 'ok fq', 'fast path: the first session renamed to fq stays');
for my $i (1, 2)
{
	like($fp[$i]->cmd('fn fq 0'),
		qr/too many connections for application "fq".*changed its application_name from "fp"/,
		"fast path: session $i renamed into the full quota is ended with 53300");
	lg_wait_gone($node, $fp[$i]->pid);
}
is(named('fq'), '1', 'one session is named fq');
like(lg_connect_error($node, 'fq'), qr/and it holds 1\./, 'and it holds the place');
ok($node->log_contains(qr/FATAL:  53300: too many connections for application "fq"/),
	'SQLSTATE 53300 in the server log');

# --- a name given only in options=-c is set after authentication, by the
# transaction that completes the login: judged before it commits
my $held = lg_session($node, startup_app => 'fq-opt', leak => 0);
like(lg_fastpath_client($node, conn_extra => q{options='-c application_name=fq-opt'},
		login_error => 1),
	qr/^error connection to server .* failed: FATAL:  too many connections for application "fq-opt"\s+DETAIL:  This session changed its application_name from ""; leakguard allows application "fq-opt" at most 1 connections/,
	'options=-c application_name into a full quota: refused with 53300 before the login completes');

$_->close for $fp[0], $s, $x, $a, $e, $k, $b, $r, $held;
$node->stop;
done_testing();
