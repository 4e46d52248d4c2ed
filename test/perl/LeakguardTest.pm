# LeakguardTest: helpers for leakguard's TAP tests.
#
# lg_node() starts a cluster with leakguard preloaded and the extension and
# the test roles created.  lg_session() opens a real client session (psql
# over IPC::Run) that can run statements and then sit idle in transaction;
# ->client_error() collects what the client was told when the server
# closed the connection.  Every wait is on a condition with the suite's
# timeout, never a fixed sleep.
package LeakguardTest;

use Time::HiRes ();
use strict;
use warnings;

use Exporter 'import';
use File::Basename ();
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(lg_node lg_session lg_wait_gone lg_alive lg_set_conf lg_connect_error
  lg_fastpath_client lg_burn_xids lg_wait_start);

# A started node with leakguard preloaded and "CREATE EXTENSION" done.
# Roles: app (ordinary), exempt_role (ordinary), reader (ordinary).
# Consume n transaction IDs in n short transactions of a session of its
# own, so that other sessions' xmin and xid grow n transactions older.
sub lg_burn_xids
{
	my ($node, $n) = @_;
	$node->safe_psql('postgres', qq{
		DO \$\$
		BEGIN
			FOR i IN 1..$n LOOP
				PERFORM pg_catalog.pg_current_xact_id();
				COMMIT;
			END LOOP;
		END
		\$\$});
	return;
}

sub lg_node
{
	my ($name, %p) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $p{init} || {} });
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'leakguard'
listen_addresses = '127.0.0.1'
log_line_prefix = '%m [%p] %a '
} . ($p{conf} || ''));
	$node->start;
	return $node if $p{no_extension};

	$node->safe_psql('postgres', q{
		CREATE EXTENSION leakguard;
		CREATE ROLE app LOGIN;
		CREATE ROLE exempt_role LOGIN;
		CREATE ROLE reader LOGIN;
	});
	$node->poll_query_until('postgres',
		'SELECT pid IS NOT NULL FROM leakguard.status()')
	  or die "the leakguard worker did not start";
	return $node;
}

# Replace the leakguard settings appended by earlier calls, and reload.
sub lg_set_conf
{
	my ($node, $conf) = @_;
	$node->append_conf('postgresql.conf', $conf);
	$node->reload;
	return;
}

# Open a client session.  Options: app (application_name, set by SET so
# that '' works), startup_app (application_name sent in the startup
# packet, as drivers and pools do: what connection quotas judge), user
# (default app), db (default postgres), tcp (connect over 127.0.0.1), leak
# (default 1: BEGIN and leave the transaction idle).
sub lg_session
{
	my ($node, %p) = @_;
	my $user = $p{user} // 'app';
	my $connstr = $node->connstr($p{db} // 'postgres') . " user=$user";
	$connstr .= " host=127.0.0.1" if $p{tcp};
	$connstr .= " application_name='$p{startup_app}'" if defined $p{startup_app};

	my $s = bless {
		in    => '',
		out   => '',
		err   => '',
		n     => 0,
		timer => IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default),
	}, __PACKAGE__;
	$s->{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $connstr, '-f', '-' ],
		'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err}, $s->{timer});

	if (defined $p{app})
	{
		(my $quoted = $p{app}) =~ s/'/''/g;
		$s->query("SET application_name = '$quoted'");
	}
	$s->{pid} = $s->query('SELECT pg_backend_pid()');
	if ($p{leak} // 1)
	{
		# One message: no idle-in-transaction gap between BEGIN and the
		# statement, which a loaded machine can stretch past the 1 ms the
		# histograms count from, and the tests count episodes.
		$s->query('BEGIN \\; SELECT 1');
	}
	return $s;
}

sub pid { return $_[0]->{pid}; }

# Run one statement and return its output (trimmed); dies on timeout or if
# the client exits.
sub query
{
	my ($s, $sql) = @_;
	my $mark = '__leakguard_' . ++$s->{n} . '__';
	$s->{out} = '';
	$s->{timer}->start($PostgreSQL::Test::Utils::timeout_default);
	$s->{in} .= "$sql;\n\\echo $mark\n";
	while ($s->{out} !~ /$mark/)
	{
		die "session exited: $s->{err}" unless $s->{h}->pumpable;
		die "query timed out: $sql" if $s->{timer}->is_expired;
		$s->{h}->pump;
	}
	(my $out = $s->{out}) =~ s/\n?$mark\n//;
	return $out;
}

# Send a statement and wait for the client to exit: returns everything the
# client printed on stderr (the FATAL message of a terminated session).
sub client_error
{
	my ($s) = @_;
	$s->{in} .= "SELECT 'still alive';\n\\q\n";
	$s->{timer}->start($PostgreSQL::Test::Utils::timeout_default);
	$s->{h}->finish;
	return $s->{err};
}

sub close
{
	my ($s) = @_;
	$s->{in} .= "\\q\n";
	$s->{h}->finish;
	return;
}

# Try to connect with application_name in the startup packet and run one
# statement: returns '' when it worked, else what the client printed.
sub lg_connect_error
{
	my ($node, $app, %p) = @_;
	my $user = $p{user} // 'app';
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d',
		  $node->connstr('postgres') . " user=$user application_name='$app'",
		  '-c', 'SELECT pg_backend_pid()' ],
		'>', \$out, '2>', \$err);
	return $err unless $out =~ /^(\d+)\n$/;
	my $pid = $1;

	# Admitted: its backend holds its charge until it has exited, which
	# under valgrind takes a while after the client is gone.  Gone from
	# pg_stat_activity means released (before_shmem_exit runs first).
	lg_wait_gone($node, $pid) or die "the backend of an admitted probe ($pid) did not exit";
	return '';
}

# A session of lg_fastpath (test/perl/lg_fastpath.c, built on first use
# with the libpq of the node's installation): it renames itself by
# fast-path function calls and runs SQL through either protocol.  Options
# as lg_session: startup_app, user (default app); conn_extra (more of the
# connection string); login_error (return its first answer line, the
# error if it could not log in, and close).  ->cmd("fn NAME 0"),
# ->cmd("x SQL"), ->cmd("q SQL") return its answer line ("ok ..." or
# "error ..."), or "" when it exited; ->pid; ->close.
my $fastpath_bin;

sub lg_fastpath_client
{
	my ($node, %p) = @_;
	if (!defined $fastpath_bin)
	{
		my $src = File::Basename::dirname(__FILE__) . '/lg_fastpath.c';
		$fastpath_bin = PostgreSQL::Test::Utils::tempdir() . '/lg_fastpath';
		my $inc = $node->config_data('--includedir');
		my $lib = $node->config_data('--libdir');
		my ($out, $err) = ('', '');
		IPC::Run::run(
			[ 'cc', '-O1', '-Wall', '-Werror', "-I$inc", '-I/usr/include/postgresql',
			  '-o', $fastpath_bin, $src, "-L$lib", "-Wl,-rpath,$lib", '-lpq' ],
			'>', \$out, '2>', \$err)
		  or die "cannot build lg_fastpath: $err";
	}
	my $user = $p{user} // 'app';
	my $connstr = $node->connstr('postgres') . " user=$user";
	$connstr .= " application_name='$p{startup_app}'" if defined $p{startup_app};
	$connstr .= " $p{conn_extra}" if defined $p{conn_extra};
	my $c = bless {
		in    => '',
		out   => '',
		err   => '',
		timer => IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default),
	}, 'LeakguardTest::Fastpath';
	# no name but startup_app's (the test framework sets PGAPPNAME)
	local $ENV{PGAPPNAME} = '';
	$c->{h} = IPC::Run::start([ $fastpath_bin, $connstr ],
		'<', \$c->{in}, '>', \$c->{out}, '2>', \$c->{err}, $c->{timer});
	my $hello = $c->_line;
	if ($p{login_error})
	{
		$c->close;
		return $hello;
	}
	die "lg_fastpath did not connect: $hello" unless $hello =~ /^ok (\d+)$/;
	$c->{pid} = $1;
	return $c;
}

package LeakguardTest::Fastpath;

sub pid { return $_[0]->{pid}; }

sub _line
{
	my ($c) = @_;
	$c->{timer}->start($PostgreSQL::Test::Utils::timeout_default);
	while ($c->{out} !~ /\n/)
	{
		return '' unless $c->{h}->pumpable;
		die 'lg_fastpath timed out' if $c->{timer}->is_expired;
		$c->{h}->pump;
	}
	$c->{out} =~ s/^([^\n]*)\n//;
	return $1;
}

sub cmd
{
	my ($c, $cmd) = @_;
	return '' unless $c->{h}->pumpable;
	$c->{in} .= "$cmd\n";
	my $line = eval { $c->_line };
	return $line // '';
}

sub close
{
	my ($c) = @_;
	$c->{in} = '';
	eval { $c->{h}->finish; };
	return;
}

package LeakguardTest;

# Whether a backend pid is still connected.
sub lg_alive
{
	my ($node, $pid) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '1';
}

# Wait until a backend is gone.
# Wait until backend $pid waits for a lock, and return its wait's start
# (pg_locks.waitstart), read as soon as it is set: through one session kept
# open for it, so that no connection start (slow under valgrind) delays the
# read past a short blocking limit that ends the wait.
my %lg_pollers;

sub lg_wait_start
{
	my ($node, $pid) = @_;
	my $poller = $lg_pollers{ $node->name } //= lg_session($node, app => 'lg_poller', leak => 0);
	my $timer = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
	$timer->start;
	while (!$timer->is_expired)
	{
		my $start = $poller->query(qq{SELECT waitstart FROM pg_catalog.pg_locks
		                               WHERE pid = $pid AND NOT granted AND waitstart IS NOT NULL LIMIT 1});
		return $start if $start ne '';
		Time::HiRes::usleep(20_000);
	}
	die "backend $pid never waited for a lock";
}

sub lg_wait_gone
{
	my ($node, $pid) = @_;
	return $node->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $pid)");
}

1;
