# Issue 27: every kind of leakguard.kinds that ends something (action
# terminate or cancel) behaves as the one model of limits says, on every
# surface.  The kinds are read from the view, not listed here: for each, a
# recipe (keyed by the kind's name) makes a session of the application
# 'conf_<kind>' exceed a limit set through the kind's rules_setting, and
# the same checks follow for every kind:
#
#   - before the act, leakguard.sessions shows the session with next_kind
#     the kind and next_at its deadline, the start the kind's "since" names
#     plus the limit (for blocking, from the waiter's waitstart; xmin has no
#     deadline in time: next_kind shows it only once its age is past the
#     limit, which the dry run checks);
#   - it is acted on at the deadline, never before, within 100 ms (xmin:
#     after the transaction ID that takes its age past the limit was
#     assigned, and within one scan interval, naptime, plus 100 ms, since
#     an age is read at every scan and has no deadline to wake at);
#   - the client gets the kind's SQLSTATE with leakguard's detail; after a
#     cancel the session goes on;
#   - terminations, stats_by_kind, stats.terminated_all, the exporter's
#     queries of monitoring/queries.yaml (run as the exporter runs them),
#     limit_for(), limits_for() and suggest_limits() (for a kind with a
#     histogram of its periods) all show it under the kind's name;
#   - in dry_run the same is reported and counted as a dry run, and
#     nothing is ended;
#   - on a hot standby, the same enforcement and checks.
#
# A kind of the view with no recipe fails the test: a new kind cannot
# slip by without one.
use strict;
use warnings;

use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

# Under make sanitize every server runs under valgrind, 20 to 50 times
# slower: "not before" still holds exactly, "how soon after" loosely.
my $slack_ms = $ENV{LG_SANITIZE} ? 2000 : 100;

# The limits: 2 s for every kind measured in time (long enough to read the
# views before the act on a loaded machine; 10 s under valgrind), 1000
# transactions for ages.
my $limit_ms = $ENV{LG_SANITIZE} ? 10000 : 2000;
my $age_limit = 1000;

# The scan interval bounds how late an xmin age past its limit is seen.
my $naptime_ms = 100;

my $root = $ENV{LG_SOURCE_DIR} // dirname(__FILE__) . '/../..';

# The columns of limit_for() that report a kind's rule and limit, by the
# kind's rules setting.  A kind whose setting is not here fails.
my %limit_for_columns = (
	'leakguard.application_timeouts' => [ 'rule', 'timeout' ],
	'leakguard.application_idle_timeouts' => [ 'idle_rule', 'idle_timeout' ],
	'leakguard.application_transaction_timeouts' =>
	  [ 'transaction_rule', 'transaction_timeout' ],
	'leakguard.application_xmin_age_limits' => [ 'xmin_rule', 'xmin_age_limit' ],
	'leakguard.application_blocking_timeouts' =>
	  [ 'blocking_rule', 'blocking_timeout' ],
	'leakguard.application_statement_timeouts' =>
	  [ 'statement_rule', 'statement_timeout' ],
);

# The exporter's metric (top-level key of queries.yaml; columns
# application, kind, total) that counts a kind's acts, by its action; and
# the one that counts dry runs.
my %metric_for_action = (
	terminate => 'leakguard_terminated',
	cancel => 'leakguard_cancelled',
);
my $dry_run_metric = 'leakguard_dry_run';

# What terminations.action says of an act, by the kind's action.
my %history_action = (terminate => 'terminated', cancel => 'cancelled');

my $primary = lg_node('primary', init => { allows_streaming => 1 }, conf => qq{
leakguard.naptime = ${naptime_ms}ms
autovacuum = off
});

# No other transaction IDs than the tests' own (the xmin recipe counts
# them): autovacuum is off.
$primary->safe_psql('postgres', q{
	CREATE TABLE conf_hot (id int PRIMARY KEY, v int);
	INSERT INTO conf_hot SELECT g, 0 FROM generate_series(1, 10) g;
	GRANT ALL ON conf_hot TO PUBLIC;
});

# The kinds that end something, from the view.
my @kinds;
for my $line (split /\n/, $primary->safe_psql('postgres', q{
		SELECT kind, action, measure, since, sqlstate,
		       coalesce(default_setting, ''), coalesce(rules_setting, '')
		  FROM leakguard.kinds
		 WHERE action IN ('terminate', 'cancel')
		 ORDER BY kind COLLATE "C"}))
{
	my %k;
	@k{qw(kind action measure since sqlstate default_setting rules_setting)} =
	  split /\|/, $line, -1;
	push @kinds, \%k;
}
ok(@kinds >= 5, 'leakguard.kinds lists the kinds that terminate or cancel: '
	  . join(', ', map { $_->{kind} } @kinds));

# SQL quoting of a literal.
sub lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

sub row
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# A session that starts a statement and does not wait for it.
sub send_nowait
{
	my ($s, $sql) = @_;
	$s->{in} .= "$sql;\n";
	$s->{h}->pump_nb;
	return;
}

# The recipes: how to make a session of application $c->{app} exceed a
# limit of the kind, on $c->{node} (a primary, or a standby of
# $c->{primary}).  open() provokes the period (and sets victim, and waiter
# where the deadline counts from another session's wait); drive(), for a
# limit no time reaches, takes the session past it and returns the time
# span in which it crossed it.  statement_secs: how long a statement the
# recipe runs lasts (long in enforce, so that only the cancel ends it;
# just past the limit in dry_run, so that it completes).
my %recipes;

$recipes{'idle in transaction'} = {
	limit => "${limit_ms}ms",
	open => sub {
		my ($c) = @_;
		$c->{victim} = lg_session($c->{node}, app => $c->{app});
	},
};

$recipes{idle} = {
	limit => "${limit_ms}ms",
	open => sub {
		my ($c) = @_;
		$c->{victim} = lg_session($c->{node}, app => $c->{app}, leak => 0);
	},
};

# A transaction that ran a statement and then idles: its deadline counts
# from xact_start, 200 ms before its state_change; only the transaction
# limit is set for this application, so no other kind ends it first.
$recipes{transaction} = {
	limit => "${limit_ms}ms",
	open => sub {
		my ($c) = @_;
		my $s = lg_session($c->{node}, app => $c->{app}, leak => 0);
		$s->query('BEGIN \\; SELECT pg_catalog.pg_sleep(0.2)');
		$c->{victim} = $s;
	},
};

# A statement running past its limit.
$recipes{statement} = {
	limit => "${limit_ms}ms",
	open => sub {
		my ($c) = @_;
		my $s = lg_session($c->{node}, app => $c->{app}, leak => 0);
		# in dry_run it must outlast the checks made after its deadline
		# (valgrind makes them seconds slower), then end by itself
		my $secs = $c->{mode} eq 'dry_run' ?
		  $limit_ms / 1000 + ($ENV{LG_SANITIZE} ? 30 : 3) : 60;
		send_nowait($s, "SELECT pg_catalog.pg_sleep($secs)");
		$c->{node}->poll_query_until('postgres', qq{
			SELECT state = 'active' AND query LIKE 'SELECT pg_catalog.pg_sleep%'
			  FROM pg_stat_activity WHERE pid = ${\ $s->pid}})
		  or die 'the statement does not run';
		$c->{victim} = $s;
	},
};

# A session idle in transaction holding a lock another session waits for:
# a row lock on a primary; an advisory lock on a standby, where row locks
# and the table lock modes that conflict are not allowed.
$recipes{blocking} = {
	limit => "${limit_ms}ms",
	open => sub {
		my ($c) = @_;
		my $node = $c->{node};
		my $id = $c->{round};
		my $lock =
		  $c->{standby}
		  ? "SELECT pg_catalog.pg_advisory_xact_lock(51000 + $id)"
		  : "UPDATE conf_hot SET v = v + 1 WHERE id = $id";
		my $holder = lg_session($node, app => $c->{app}, leak => 0);
		$holder->query("BEGIN \\; $lock");
		my $waiter = lg_session($node, app => "$c->{app} waiter", leak => 0);
		send_nowait($waiter, $lock);
		$node->poll_query_until('postgres',
			"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = ${\ $waiter->pid}")
		  or die 'the waiter does not wait';
		$c->{victim} = $holder;
		$c->{waiter} = $waiter;
	},
	close => sub {
		my ($c) = @_;
		$c->{waiter}->close;
	},
};

# A session idle in transaction holding a snapshot; transaction IDs are
# consumed (on the primary) until its age is exactly the limit, checked
# there, and then one more.
$recipes{xmin} = {
	limit => $age_limit,
	open => sub {
		my ($c) = @_;
		my $s = lg_session($c->{node}, app => $c->{app}, leak => 0);
		$s->query('BEGIN ISOLATION LEVEL REPEATABLE READ \\; SELECT 1');
		$c->{victim} = $s;
	},
	drive => sub {
		my ($c) = @_;
		my ($node, $primary) = ($c->{node}, $c->{primary});
		my $pid = $c->{victim}->pid;
		my $age;
		for (1 .. 5)
		{
			$age = row($node, "SELECT xmin_age FROM leakguard.sessions WHERE pid = $pid");
			last if $age eq '' || $age >= $age_limit;
			lg_burn_xids($primary, $age_limit - $age);
			replayed($primary, $node) if $c->{standby};
		}
		row($node, 'SELECT leakguard.check()');
		is( row($node, qq{
				SELECT xmin_age, next_kind IS NULL,
				       (SELECT count(*) FROM leakguard.terminations WHERE pid = $pid)
				  FROM leakguard.sessions WHERE pid = $pid}),
			"$age_limit|t|0",
			"$c->{tag}: at an age of exactly the limit, it is left alone and has no deadline yet (next_kind NULL)");
		# one transaction ID more, between two readings of the clock
		my ($lo, undef, $hi) = split /\|/, row($primary,
			'SELECT clock_timestamp(), pg_catalog.pg_current_xact_id() IS NOT NULL, clock_timestamp()');
		if ($c->{standby})
		{
			replayed($primary, $node);
			$hi = row($primary, 'SELECT clock_timestamp()');
		}
		return ($lo, $hi);
	},
};

# Wait until a standby knows every transaction ID the primary assigned
# (the next transaction ID, by which ages are measured, can lag a moment
# behind the replay position that wait_for_catchup() waits for: seen on
# PostgreSQL 18).
sub replayed
{
	my ($primary, $standby) = @_;
	my $next = row($primary, 'SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())');
	$primary->wait_for_catchup($standby);
	$standby->poll_query_until('postgres',
		"SELECT pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()) >= '$next'::xid8")
	  or die 'the standby does not see the transaction IDs of the primary';
	return;
}

# The exporter's queries: top-level key => { query, columns }.
sub exporter_queries
{
	my $file = "$root/monitoring/queries.yaml";
	open my $fh, '<', $file or die "cannot read $file: $!";
	my @lines = <$fh>;
	close $fh;
	my (%q, $key);
	for (my $i = 0; $i < @lines; $i++)
	{
		my $l = $lines[$i];
		if ($l =~ /^([A-Za-z_]\w*):\s*$/)
		{
			$key = $1;
			$q{$key} = { query => '', columns => [] };
		}
		elsif (defined $key && $l =~ /^(\s+)query:\s*\|[-+]?\s*$/)
		{
			my $indent = length $1;
			my @body;
			while ($i + 1 < @lines
				&& ($lines[ $i + 1 ] =~ /^\s*$/
					|| $lines[ $i + 1 ] =~ /^(\s*)/ && length($1) > $indent))
			{
				push @body, $lines[ ++$i ];
			}
			$q{$key}{query} = join '', @body;
		}
		elsif (defined $key && $l =~ /^\s+query:\s*(\S.*?)\s*$/)
		{
			(my $v = $1) =~ s/^"(.*)"$/$1/;
			$q{$key}{query} = $v;
		}
		elsif (defined $key && $l =~ /^\s+-\s+([A-Za-z_]\w*):\s*$/)
		{
			push @{ $q{$key}{columns} }, $1;
		}
	}
	return \%q;
}

# Run one of them as the exporter does (the text as it is) and return its
# rows as hashes by column name.
sub exporter_rows
{
	my ($node, $query) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'psql', '-X', '--csv', '-v', 'ON_ERROR_STOP=1', '-d',
		  $node->connstr('postgres'), '-c', $query ],
		'>', \$out, '2>', \$err)
	  or die "exporter query failed: $err";
	my @rows;
	for my $line (split /\n/, $out)
	{
		my @f;
		while ($line =~ /\G(?:"((?:[^"]|"")*)"|([^,]*))(,|$)/g)
		{
			push @f, defined $1 ? $1 =~ s/""/"/gr : $2;
			last if $3 eq '';
		}
		push @rows, \@f;
	}
	my $head = shift @rows;
	return map { my %h; @h{@$head} = @$_; \%h } @rows;
}

my $queries = exporter_queries();
# The exporter's series of $metric for (app, kind): one, above 0.
sub check_metric
{
	my ($node, $tag, $metric, $app, $kind) = @_;
	my $q = $queries->{$metric};
	my @rows = $q ? exporter_rows($node, $q->{query}) : ();
	my @series = grep {
		($_->{application} // '') eq $app && ($_->{kind} // '') eq $kind
	} @rows;
	ok(@series == 1 && ($series[0]{total} // 0) > 0,
		"$tag: the exporter's ${metric}_total has a series {application=\"$app\", kind=\"$kind\"} above 0"
		  . (@series ? " ($series[0]{total})" : ''))
	  or diag(explain [ $metric, $q ? $q->{columns} : 'no such query', \@rows ]);
	return;
}

# The deadline of a kind measured in time, as SQL over pg_stat_activity a
# (the victim) from the start its "since" names.
sub deadline_sql
{
	my ($k, $c) = @_;
	my $limit = "interval '$limit_ms ms'";
	return "a.$k->{since} + $limit"
	  if $k->{since} =~ /^(state_change|xact_start|query_start)$/;
	return "GREATEST((SELECT pg_catalog.min(l.waitstart) FROM pg_locks l
	                              WHERE l.pid = ${\ $c->{waiter}->pid} AND NOT l.granted),
	                             a.state_change) + $limit"
	  if $k->{since} eq 'waitstart' && $c->{waiter};
	return undef;
}

# Kinds on $node, in parallel sessions: open, then check before, drive,
# wait for the act, check after.  $mode: enforce or dry_run.  $want: what
# stats_by_kind should count afterwards per application,
# "terminated|dry_run".
sub group
{
	my (%r) = @_;
	my $node = $r{node};
	my @cases;

	for my $k (@{ $r{kinds} })
	{
		my $kind = $k->{kind};
		my $tag = "$r{name}, $kind";
		my $recipe = $recipes{$kind} or next;
		my $c = {
			k => $k,
			recipe => $recipe,
			tag => $tag,
			app => "conf_$kind",
			node => $node,
			primary => $primary,
			standby => $r{standby},
			mode => $r{mode},
			round => $r{round},
		};
		$recipe->{open}->($c);
		my $pid = $c->{victim}->pid;

		# before the act: the view's next deadline
		if ($k->{measure} eq 'duration')
		{
			my $deadline = deadline_sql($k, $c);
			if (!defined $deadline)
			{
				fail("$tag: no deadline known for since = $k->{since}");
				next;
			}
			my ($next_kind, $next_rule, $next_limit, $next_at, $dl, $same) = split /\|/,
			  row($node, qq{
				SELECT s.next_kind, s.next_rule, s.next_limit, s.next_at, $deadline,
				       s.next_at = $deadline
				  FROM leakguard.sessions s JOIN pg_stat_activity a USING (pid)
				 WHERE pid = $pid}), -1;
			$c->{deadline} = $dl;
			if (!defined $next_kind)
			{
				fail("$tag: leakguard.sessions shows the session before the act (it was gone already: the machine is too slow for a $limit_ms ms limit?)");
				next;
			}
			is("$next_kind|$next_rule|$same", "$kind|$c->{recipe}{rule}|t",
				"$tag: before the act, sessions shows next_kind, next_rule and next_at = $k->{since} + limit ($next_at)");
			my $secs = $limit_ms / 1000;
			like($next_limit, qr/^$secs ?s$/,
				"$tag: next_limit says the limit as a person writes it ($next_limit)");
		}
		else
		{
			is( row($node, qq{SELECT xmin_age IS NOT NULL, next_kind IS NULL
				  FROM leakguard.sessions WHERE pid = $pid}),
				't|t',
				"$tag: before its age passes the limit, sessions shows its xmin_age and no deadline");
		}
		push @cases, $c;
	}

	# limits no time reaches: take them past the limit now
	for my $c (grep { $_->{recipe}{drive} } @cases)
	{
		@{$c}{qw(cross_lo cross_hi)} = $c->{recipe}{drive}->($c);
	}

	# first what must be seen soon: the act, when it came, and in dry_run
	# the session still shown past its limit
	for my $c (@cases)
	{
		my ($k, $tag, $kind) = ($c->{k}, $c->{tag}, $c->{k}{kind});
		my $pid = $c->{victim}->pid;
		my $action = $r{mode} eq 'dry_run' ? 'dry_run' : $history_action{ $k->{action} };

		ok( $node->poll_query_until('postgres', qq{
				SELECT count(*) = 1 FROM leakguard.terminations
				 WHERE pid = $pid AND kind = ${\ lit($kind)} AND action = '$action'}),
			"$tag: terminations has a row of the kind with action $action");
		is( row($node, qq{SELECT count(*), string_agg(rule, ',') FROM leakguard.terminations WHERE pid = $pid}),
			"1|$c->{recipe}{rule}", "$tag: one row, under its rule");

		# when: at the deadline, never before
		my $span =
		  defined $c->{deadline}
		  ? [ $c->{deadline}, $c->{deadline}, 0 ]
		  : [ $c->{cross_lo}, $c->{cross_hi}, $naptime_ms ];
		my ($after, $soon, $late_ms) = split /\|/, row($node, qq{
			SELECT terminated_at >= '$span->[0]'::timestamptz,
			       terminated_at < '$span->[1]'::timestamptz + interval '${\ ($span->[2] + $slack_ms)} ms',
			       round(extract(epoch FROM terminated_at - '$span->[1]'::timestamptz) * 1000)
			  FROM leakguard.terminations WHERE pid = $pid});
		ok($after eq 't', "$tag: never before the limit was crossed")
		  or diag("acted at $late_ms ms from $span->[1]");
		ok($soon eq 't',
			defined $c->{deadline}
			? "$tag: within $slack_ms ms of the deadline ($late_ms ms)"
			: "$tag: within one scan interval ($naptime_ms ms) + $slack_ms ms of the transaction ID that crossed it ($late_ms ms)");

		if ($r{mode} eq 'dry_run')
		{
			if ($k->{measure} eq 'duration')
			{
				is( row($node, qq{SELECT next_kind, next_at = '$c->{deadline}'::timestamptz
					  FROM leakguard.sessions WHERE pid = $pid}),
					"$kind|t", "$tag: past the deadline, sessions still shows it as next");
			}
			else
			{
				is( row($node, qq{SELECT next_kind, next_at BETWEEN statement_timestamp() AND clock_timestamp()
					  FROM leakguard.sessions WHERE pid = $pid}),
					"$kind|t", "$tag: past its limit, sessions shows the kind as next, due now");
			}
		}
	}

	# then the session, the client, and the other surfaces
	for my $c (@cases)
	{
		my ($k, $tag, $app, $kind) = ($c->{k}, $c->{tag}, $c->{app}, $c->{k}{kind});
		my $victim = $c->{victim};
		my $pid = $victim->pid;

		if ($r{mode} eq 'dry_run')
		{
			row($node, 'SELECT leakguard.check()');
			ok(lg_alive($node, $pid), "$tag: dry_run ends nothing: the session is alive");
			if ($k->{action} eq 'cancel')
			{
				like($victim->query("SELECT 'completed'"), qr/^\n?completed$/,
					"$tag: the statement ran to its end");
				unlike($victim->{err}, qr/ERROR/, "$tag: and the client was told nothing");
			}
			$victim->close;
		}
		elsif ($k->{action} eq 'terminate')
		{
			ok(lg_wait_gone($node, $pid), "$tag: the session is gone");
			like($victim->client_error,
				qr/FATAL:  $k->{sqlstate}: [^\n]*\nDETAIL:  leakguard [^\n]*application "\Q$app\E"/,
				"$tag: the client gets FATAL $k->{sqlstate} with leakguard's detail");
		}
		else
		{
			is($victim->query("SELECT 'usable'"), 'usable',
				"$tag: the session stays usable: its next statement runs");
			like($victim->{err},
				qr/ERROR:  $k->{sqlstate}: [^\n]*\nDETAIL:  leakguard [^\n]*application "\Q$app\E"/,
				"$tag: the client gets ERROR $k->{sqlstate} with leakguard's detail");
			ok(lg_alive($node, $pid), "$tag: the backend lives on");
			$victim->close;
		}
		$c->{recipe}{close}->($c) if $c->{recipe}{close};

		# the counters
		is( row($node, qq{SELECT terminated || '|' || dry_run FROM leakguard.stats_by_kind
			  WHERE application_name = ${\ lit($app)} AND kind = ${\ lit($kind)}}),
			$r{want}, "$tag: stats_by_kind counts it (terminated|dry_run = $r{want})");
		is( row($node, qq{SELECT terminated_all || '|' || dry_run_all FROM leakguard.stats
			  WHERE application_name = ${\ lit($app)}}),
			$r{want}, "$tag: stats.terminated_all|dry_run_all = $r{want}");
		check_metric($node, $tag,
			$r{mode} eq 'dry_run' ? $dry_run_metric : $metric_for_action{ $k->{action} },
			$app, $kind);

		# limit_for() and suggest_limits()
		my $cols = $limit_for_columns{ $k->{rules_setting} };
		if (!$cols)
		{
			fail("$tag: no limit_for() columns known for $k->{rules_setting}");
		}
		else
		{
			my ($ret, $out, $err) = $node->psql('postgres', qq{
				SELECT $cols->[0], $cols->[1] = ${\ lit($c->{recipe}{limit_value})}
				  FROM leakguard.limit_for(${\ lit($app)})});
			is($ret == 0 ? $out : $err, "$c->{recipe}{rule}|t",
				"$tag: limit_for() reports the rule and limit in $cols->[0], $cols->[1]");
		}
		is( row($node, qq{SELECT rule, limit_value FROM leakguard.limits_for(${\ lit($app)})
			  WHERE kind = ${\ lit($kind)}}),
			"$c->{recipe}{rule}|$c->{recipe}{limit_number}",
			"$tag: limits_for() has a row of the kind with the rule and the limit");
		if ($k->{measure} eq 'duration')
		{
			my ($histogram, $suggested) = split /\|/, row($node, qq{
				SELECT (SELECT episodes IS NOT NULL FROM leakguard.stats_by_kind
				         WHERE application_name = ${\ lit($app)} AND kind = ${\ lit($kind)}),
				       (SELECT count(*) FROM leakguard.suggest_limits()
				         WHERE application_name = ${\ lit($app)} AND kind = ${\ lit($kind)})});
			is($suggested, $histogram eq 't' ? 1 : 0,
				"$tag: suggest_limits() has a row for it exactly when the kind has a histogram of its periods ("
				  . ($histogram eq 't' ? 'it has' : 'it has none') . ')');
		}
	}
	return;
}

# Every query of queries.yaml runs on $node, as the exporter runs it.
sub check_all_queries
{
	my ($node, $name) = @_;
	my @failed = grep {
		my $q = $queries->{$_}{query};
		$q eq '' || !eval { exporter_rows($node, $q); 1 }
	} sort keys %$queries;
	is("@failed", '', "$name: every query of monitoring/queries.yaml runs (" . scalar(keys %$queries) . ' queries)');
	return;
}

# Every kind once.  Those a recipe drives (xmin) after the others have
# ended: a transaction ID older than its snapshot, such as the blocking
# recipe's, holds the horizon instead of it, and the xmin limit rightly
# leaves alone a snapshot that frees nothing (test/t/040).
sub round
{
	my (%r) = @_;
	my @driven = grep { $recipes{ $_->{kind} } && $recipes{ $_->{kind} }{drive} } @kinds;
	my @timed = grep { !($recipes{ $_->{kind} } && $recipes{ $_->{kind} }{drive}) } @kinds;
	group(%r, kinds => \@timed);
	group(%r, kinds => \@driven);
	check_all_queries($r{node}, $r{name});
	return;
}

# the limits, one rule per kind through its rules setting
my %settings;
for my $k (@kinds)
{
	my $recipe = $recipes{ $k->{kind} };
	if (!$recipe)
	{
		fail("no recipe for kind $k->{kind}");
		next;
	}
	my $app = "conf_$k->{kind}";
	$recipe->{rule} = qq{"$app"=$recipe->{limit}};
	$recipe->{limit_value} =
	  $k->{measure} eq 'duration' ? "$limit_ms ms" : $recipe->{limit};
	$recipe->{limit_number} =
	  $k->{measure} eq 'duration' ? $limit_ms : $recipe->{limit};
	if ($k->{rules_setting} eq '')
	{
		fail("kind $k->{kind} has no rules setting");
		next;
	}
	push @{ $settings{ $k->{rules_setting} } }, $recipe->{rule};
}
for my $name (sort keys %settings)
{
	$primary->safe_psql('postgres',
		"ALTER SYSTEM SET $name = " . lit(join(', ', @{ $settings{$name} })));
}
$primary->safe_psql('postgres', 'SELECT pg_reload_conf()');
for my $name (sort keys %settings)
{
	my $line = "$name = " . lit(join(', ', @{ $settings{$name} }));
	$primary->poll_query_until('postgres',
		"SELECT pg_catalog.strpos(policy, ${\ lit($line)}) > 0 FROM leakguard.status()")
	  or die "not in force: $line";
}

# a standby, with the same settings (postgresql.auto.conf is in the backup)
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
$standby->poll_query_until('postgres', 'SELECT pid IS NOT NULL FROM leakguard.status()')
  or die 'no worker on the standby';

round(name => 'enforce', node => $primary, mode => 'enforce', round => 1, want => '1|0');

$primary->safe_psql('postgres', q{ALTER SYSTEM SET leakguard.mode = 'dry_run'; SELECT pg_reload_conf()});
$primary->poll_query_until('postgres', q{SELECT mode = 'dry_run' FROM leakguard.status()})
  or die 'dry_run not in force';
round(name => 'dry_run', node => $primary, mode => 'dry_run', round => 2, want => '1|1');

# On the standby every kind applies: read-only transactions, statements and
# snapshots, and locks (advisory ones) others wait for; the xmin age grows
# as the standby replays the primary's transactions.
round(name => 'standby', node => $standby, mode => 'enforce', round => 3, standby => 1,
	want => '1|0');

$standby->stop;
$primary->stop;
done_testing();
