# 1.3: every session idle in transaction that keeps a waiter waiting is
# due when that wait passes the blocking limit, however many they are.
# Several sessions holding FOR SHARE on one row: an UPDATE waits for them
# one after another (their MultiXact's members), each wait with a new
# waitstart; they are all ended at the limit of the waiter's first wait,
# not one limit after the other.  A second UPDATE queued behind the first
# (on the row's tuple lock) is kept waiting by them too.  An idle session
# holding FOR SHARE on another row of the table blocks nobody and stays.
# Three AccessShare holders blocking a LOCK TABLE are ended together.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $node = lg_node('blocking_many', conf => q{
leakguard.idle_in_transaction_timeout = 1h
leakguard.application_blocking_timeouts = 'locker=2s'
});
$node->safe_psql('postgres', q{
	CREATE TABLE hot (id int PRIMARY KEY, v int);
	INSERT INTO hot SELECT g, 0 FROM generate_series(1, 10) g;
	CREATE TABLE cold (id int);
	GRANT ALL ON hot, cold TO PUBLIC;
});

sub row
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# A session idle in transaction after $sql.
sub locker
{
	my ($sql) = @_;
	my $s = lg_session($node, app => 'locker', leak => 0);
	$s->query('BEGIN');
	$s->query($sql);
	return $s;
}

# A session that starts $sql and waits for a lock.
sub waiter
{
	my ($sql) = @_;
	my $s = lg_session($node, app => 'waiter', leak => 0);
	$s->{in} .= "$sql;\n";
	$s->{h}->pump_nb;
	$s->{waitstart} = lg_wait_start($node, $s->pid);
	return $s;
}

# For each of @pids, its termination's kind and whether the worker
# signalled it at the limit after $start, within 1 s (a second locker
# ended one limit after the first would be 2 s late).
sub ended_in_time
{
	my ($start, @pids) = @_;
	my $list = join(',', @pids);
	note('signalled after the first wait began: '
		  . row(qq{SELECT string_agg(to_char(extract(epoch FROM terminated_at - '$start'::timestamptz), 'FM0.000'), ' ' ORDER BY terminated_at)
		             FROM leakguard.terminations WHERE pid IN ($list)}) . ' s');
	return row(qq{SELECT string_agg(kind || ':' || (terminated_at BETWEEN '$start'::timestamptz + interval '2 s'
	                                                              AND '$start'::timestamptz + interval '3 s')::text, ',')
	                FROM leakguard.terminations WHERE pid IN ($list)});
}

# Three lockers of one row, an innocent locker of another row
my @share = map { locker('SELECT * FROM hot WHERE id = 1 FOR SHARE') } 1 .. 3;
my $other = locker('SELECT * FROM hot WHERE id = 2 FOR SHARE');
my $update = waiter('UPDATE hot SET v = v + 1 WHERE id = 1');
my $start = $update->{waitstart};

ok(lg_wait_gone($node, $_->pid), 'a FOR SHARE locker is ended') for @share;
is(ended_in_time($start, map { $_->pid } @share), 'blocking:true,blocking:true,blocking:true',
	'all three lockers of the row are ended at the limit of the first wait');
is($update->query('SELECT v FROM hot WHERE id = 1'), '1', 'the waiter has updated the row');
ok(lg_alive($node, $other->pid), 'the locker of another row of the table is not ended');
$other->query('ROLLBACK');

# Two UPDATEs queued for a row (the second waits for the first's tuple
# lock) while its locker runs a statement; once it is idle, the limit runs
# from then for both
my $busy = locker('SELECT * FROM hot WHERE id = 3 FOR UPDATE');
# (3 s, then until both UPDATEs wait: starting them takes longer than that
# under valgrind; pg_locks is read live, unlike pg_stat_activity)
$busy->{in} .= q{DO $$ BEGIN PERFORM pg_sleep(3);
  WHILE (SELECT count(*) FROM pg_locks WHERE NOT granted
          AND locktype IN ('transactionid', 'tuple')) < 2 LOOP
    PERFORM pg_sleep(0.05);
  END LOOP; END $$;
};
$busy->{h}->pump_nb;
$node->poll_query_until('postgres',
	"SELECT state = 'active' FROM pg_stat_activity WHERE pid = ${\ $busy->pid}")
  or die 'not active';
my $first = waiter('UPDATE hot SET v = v + 1 WHERE id = 3');
my $queued = waiter('UPDATE hot SET v = v + 10 WHERE id = 3');
ok(lg_wait_gone($node, $busy->pid), 'the locker is ended once idle');
is( row(qq{SELECT kind, blocked_pids \@> ARRAY[${\ $first->pid}, ${\ $queued->pid}]
             FROM leakguard.terminations WHERE pid = ${\ $busy->pid}}),
	'blocking|t', 'it kept both waiting: the UPDATE queued for the tuple lock too');
is($queued->query('SELECT v FROM hot WHERE id = 3'), '11', 'both updates are done');

# Three AccessShare holders and a LOCK TABLE
my @readers = map { locker('SELECT count(*) FROM cold') } 1 .. 3;
my $lock = waiter('BEGIN; LOCK TABLE cold IN ACCESS EXCLUSIVE MODE');
$start = $lock->{waitstart};
ok(lg_wait_gone($node, $_->pid), 'an AccessShare holder is ended') for @readers;
is(ended_in_time($start, map { $_->pid } @readers), 'blocking:true,blocking:true,blocking:true',
	'the three holders blocking LOCK TABLE are ended together');
is($lock->query('SELECT 1'), '1', 'LOCK TABLE goes on');

$update->close;
$first->close;
$queued->close;
$other->close;
$lock->close;
$node->stop;
done_testing();
