# LeakguardDocs: the reference tables of the documentation, generated.
#
# The pages of docs/ (and README.md) hold generated tables between marker
# comments:
#
#   <!-- generated: KEY -->
#   ...
#   <!-- end generated -->
#
# lg_docs_sections() computes every table from a running server with
# leakguard preloaded and the extension created, and from the sources:
#
#   settings          pg_settings: every leakguard.* setting
#   view:NAME         the columns of view leakguard.NAME (pg_attribute),
#                     with COMMENT ON COLUMN where there is one
#   functions         every function of schema leakguard: its arguments,
#                     result and COMMENT ON FUNCTION
#   function:NAME     the result columns of a function returning a record
#                     (OUT arguments) that is not behind a view of its name
#   kinds             the kinds of limit: from the view leakguard.kinds
#                     when it exists, else from the table of src/kinds.c
#   metrics           the metrics of monitoring/queries.yaml (optional:
#                     where a page, docs/monitoring.md, has its marker)
#
# lg_docs_apply() puts them into the pages, or (check) only compares.  A
# marker whose key no source gives (an object that does not exist yet) is
# left as it is; a generated table that no page has a marker for is an
# error, so a new view or function cannot go undocumented.
#
# Used by test/docs-gen.pl (make docs) and test/t/045_docs_generated.pl.
package LeakguardDocs;

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;

our @EXPORT = qw(lg_docs_sections lg_docs_apply lg_docs_pages);

# $query: a function that runs one SQL statement and returns its single
# value as text.  $srcdir: the source tree (for src/kinds.c).
sub lg_docs_sections
{
	my ($query, $srcdir) = @_;
	my %s;
	my $json = sub { decode_json($query->($_[0]) || '[]') };

	# Settings
	my $settings = $json->(q{
		SELECT coalesce(json_agg(json_build_object(
				'name', name, 'vartype', vartype, 'unit', unit,
				'boot_val', boot_val, 'min_val', min_val, 'max_val', max_val,
				'enumvals', enumvals, 'context', context,
				'short_desc', short_desc, 'extra_desc', extra_desc)
			ORDER BY name COLLATE "C"), '[]')
		  FROM pg_catalog.pg_settings
		 WHERE name LIKE 'leakguard.%'});
	my @rows = ('| setting | type | default | range | context | description |',
		'|---|---|---|---|---|---|');
	for my $g (@$settings)
	{
		my $type = $g->{vartype} eq 'bool' ? 'boolean' : $g->{vartype};
		$type .= ", $g->{unit}" if defined $g->{unit};
		my $default = $g->{boot_val} eq '' ? "''" : $g->{boot_val};
		my $range = '';
		if ($g->{vartype} eq 'enum')
		{
			$range = join(', ', map { "`$_`" } @{ $g->{enumvals} });
		}
		elsif ($g->{vartype} eq 'integer' || $g->{vartype} eq 'real')
		{
			$range = "$g->{min_val} to $g->{max_val}";
		}
		my $desc = $g->{short_desc};
		$desc .= " $g->{extra_desc}" if defined $g->{extra_desc};
		push @rows, row("[`$g->{name}`](#" . anchor($g->{name}) . ')', $type,
			"`$default`", $range, $g->{context}, $desc);
	}
	$s{settings} = join("\n", @rows);

	# Views
	my $views = $json->(q{
		SELECT coalesce(json_agg(json_build_object(
				'view', c.relname,
				'columns', (SELECT json_agg(json_build_object(
						'name', a.attname,
						'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
						'comment', pg_catalog.col_description(c.oid, a.attnum))
						ORDER BY a.attnum)
					  FROM pg_catalog.pg_attribute a
					 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
			ORDER BY c.relname COLLATE "C"), '[]')
		  FROM pg_catalog.pg_class c
		 WHERE c.relnamespace = 'leakguard'::regnamespace AND c.relkind = 'v'});
	my %is_view;
	for my $v (@$views)
	{
		$is_view{ $v->{view} } = 1;
		next if $v->{view} eq 'kinds';	# the kinds table, below
		$s{"view:$v->{view}"} = columns_table($v->{columns});
	}

	# Functions
	my $functions = $json->(q{
		SELECT coalesce(json_agg(json_build_object(
				'name', p.proname,
				'args', pg_catalog.pg_get_function_arguments(p.oid),
				'result', pg_catalog.pg_get_function_result(p.oid),
				'comment', pg_catalog.obj_description(p.oid, 'pg_proc'),
				'columns', (SELECT json_agg(json_build_object(
						'name', o.name, 'type', pg_catalog.format_type(o.type, NULL),
						'comment', NULL) ORDER BY o.n)
					  FROM ROWS FROM (pg_catalog.unnest(p.proargnames), pg_catalog.unnest(p.proallargtypes), pg_catalog.unnest(p.proargmodes))
						   WITH ORDINALITY AS o(name, type, mode, n)
					 WHERE o.mode IN ('o', 't')))
			ORDER BY p.proname COLLATE "C", pg_catalog.pg_get_function_arguments(p.oid) COLLATE "C"), '[]')
		  FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace = 'leakguard'::regnamespace});
	@rows = ('| function | returns | description |', '|---|---|---|');
	for my $f (@$functions)
	{
		my $result = $f->{result};
		$result = 'a row (columns below)'
		  if $result =~ /^(?:SETOF )?record$/ && $f->{columns} && !$is_view{ $f->{name} };
		$result = "the rows of view `leakguard.$f->{name}`"
		  if $result =~ /^(?:SETOF )?record$/ && $is_view{ $f->{name} };
		$result = "setof $result" if $result eq 'a row (columns below)' && $f->{result} =~ /^SETOF/;
		my $args = join(', ', grep { !/^OUT / } split /, /, $f->{args});
		push @rows, row("`leakguard.$f->{name}($args)`",
			$result =~ /^(?:a row|setof a row|the rows)/ ? $result : "`$result`",
			$f->{comment} // '');
		$s{"function:$f->{name}"} = columns_table($f->{columns})
		  if $f->{columns} && !$is_view{ $f->{name} };
	}
	$s{functions} = join("\n", @rows);

	# Kinds
	if ($is_view{kinds})
	{
		my $kinds = $json->(q{
			SELECT coalesce(json_agg(pg_catalog.row_to_json(k)), '[]') FROM leakguard.kinds k});
		my $cols = $json->(q{
			SELECT json_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid = 'leakguard.kinds'::regclass AND a.attnum > 0 AND NOT a.attisdropped});
		@rows = (row(@$cols), '|' . ('---|' x @$cols));
		for my $k (@$kinds)
		{
			push @rows, row(map { value($k->{$_}) } @$cols);
		}
		$s{kinds} = join("\n", @rows);
	}
	elsif (-f "$srcdir/src/kinds.c")
	{
		$s{kinds} = kinds_from_source("$srcdir/src/kinds.c");
	}

	# Metrics: optional (see lg_docs_apply), for docs/monitoring.md
	$s{metrics} = metrics_from_queries("$srcdir/monitoring/queries.yaml")
	  if -f "$srcdir/monitoring/queries.yaml";
	return \%s;
}

# Sections that need no marker: generated and checked where a page has
# one.  The metric table belongs to docs/monitoring.md.
my %optional = (metrics => 1);

# The metrics of monitoring/queries.yaml, as postgres_exporter names them
# (<query>_<column>), one row per COUNTER or GAUGE column, with the LABEL
# columns of its query.  The file's own layout is read (top-level query
# names, then "- column:" entries with usage and description), no YAML
# module being at hand.
sub metrics_from_queries
{
	my ($file) = @_;
	my (@rows, $query, $column, %col, @cols);
	my $flush = sub {
		return unless $query;
		my @labels = map { "`$_->{name}`" } grep { $_->{usage} eq 'LABEL' } @cols;
		for my $c (grep { $_->{usage} =~ /^(?:COUNTER|GAUGE)$/ } @cols)
		{
			push @rows, row("`${query}_$c->{name}`", lc $c->{usage},
				join(', ', @labels), $c->{description} // '');
		}
		@cols = ();
	};
	open my $fh, '<', $file or die "$file: $!";
	while (my $line = <$fh>)
	{
		if ($line =~ /^(\w+):\s*$/)
		{
			$flush->();
			$query = $1;
		}
		elsif ($line =~ /^\s+- (\w+):\s*$/)
		{
			push @cols, { name => $1 };
		}
		elsif (@cols && $line =~ /^\s+(usage|description):\s*"(.*)"\s*$/)
		{
			$cols[-1]{$1} = $2;
		}
	}
	$flush->();
	return join("\n", '| metric | type | labels | description |', '|---|---|---|---|', @rows);
}

# A column table: name, type, and the column's comment if any.
sub columns_table
{
	my ($columns) = @_;
	my @rows = ('| column | type | description |', '|---|---|---|');
	push @rows, row("`$_->{name}`", $_->{type}, $_->{comment} // '') for @{ $columns || [] };
	return join("\n", @rows);
}

# SQLSTATEs of the error codes src/kinds.c names (PostgreSQL's errcodes.txt).
my %sqlstate = (
	ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT => '25P03',
	ERRCODE_IDLE_SESSION_TIMEOUT => '57P05',
	ERRCODE_TOO_MANY_CONNECTIONS => '53300',
	ERRCODE_TRANSACTION_TIMEOUT => '25P04',
);

# The table lg_kinds[] of src/kinds.c, one row per kind.
sub kinds_from_source
{
	my ($file) = @_;
	my $c = do { local (@ARGV, $/) = ($file); <> };
	my ($table) = $c =~ /lg_kinds\[LG_NUM_KINDS\]\s*=\s*\{(.*?)\n\};/s
	  or die "$file: no lg_kinds[] table";
	my @rows = (
		'| kind (`terminations.kind`) | ends | default setting | rule setting | SQLSTATE | the client reads | `stats` counters |',
		'|---|---|---|---|---|---|---|');
	while ($table =~ /\[(LG_KIND_\w+)\]\s*=\s*\{(.*?)\n\t\},/sg)
	{
		my ($id, $body) = ($1, "$2\n");
		my %f;
		$f{$1} = $2 while $body =~ /\.(\w+)\s*=\s*([^\n]*?),?\n/g;
		my $str = sub {
			my $v = $f{ $_[0] } // 'NULL';
			return $v eq 'NULL' ? '' : $v =~ /^"(.*)"$/ ? $1 : die "$file: $id .$_[0] = $v";
		};
		my $code = $f{sqlerrcode} // '';
		die "$file: $id: unknown error code $code" unless $sqlstate{$code};
		my ($terminated) = ($f{terminated_off} // '') =~ /,\s*(\w+)\)/;
		my ($dry_run) = ($f{dry_run_off} // '') =~ /,\s*(\w+)\)/;
		my $ends = $f{session} eq 'true'
		  ? ($f{measure} eq 'LG_MEASURE_XID_AGE' ? 'sessions idle in transaction, by the age of their snapshot or transaction ID'
			: $f{measure} eq 'LG_MEASURE_BLOCKED' ? 'sessions idle in transaction that keep others waiting for their locks'
			: $f{from_xact_start} eq 'true' ? 'transactions, from `xact_start`, running or idle'
			: 'sessions ' . $str->('during') . ($f{in_transaction} eq 'true' ? '' : ', no transaction open'))
		  : 'connections over quota: refused at login, or ended when renamed into a full quota';
		my $message = $str->('message');
		$message = 'too many connections for application "..."' if $message eq '' && $id eq 'LG_KIND_QUOTA';
		push @rows, row('`' . $str->('name') . '`', $ends,
			$str->('default_guc') ? '`' . $str->('default_guc') . '`' : '',
			'`' . $str->('rules_guc') . '`', $sqlstate{$code},
			"`$message`", "`$terminated`, `$dry_run`");
	}
	return join("\n", @rows);
}

sub value
{
	my ($v) = @_;
	return '' unless defined $v;
	return join(', ', @$v) if ref $v eq 'ARRAY';
	return $v ? 'yes' : 'no' if JSON::PP::is_bool($v);
	return $v;
}

# One table row; cells are one line each, with | escaped.
sub row
{
	return '| ' . join(' | ', map { cell($_) } @_) . ' |';
}

# A table cell: one line, | escaped, and < > outside code spans written as
# entities, so that "<insufficient privilege>" is not taken for HTML.
sub cell
{
	my $c = shift // '';
	$c =~ s/\s*\n\s*/ /g;
	$c =~ s/\|/\\|/g;
	my @parts = split /(`[^`]*`)/, $c;
	for (@parts)
	{
		next if /^`/;
		s/</&lt;/g;
		s/>/&gt;/g;
	}
	return join('', @parts);
}

# GitHub's anchor of a heading made of `name`.
sub anchor
{
	(my $a = lc shift) =~ s/[^a-z0-9_ -]//g;
	$a =~ s/ /-/g;
	return $a;
}

# The pages that may hold generated tables: README.md and docs/*.md.
sub lg_docs_pages
{
	my ($srcdir) = @_;
	return grep { -f $_ } ("$srcdir/README.md", sort glob("$srcdir/docs/*.md"));
}

# Put the sections into the pages (or, with $check, only compare).  Returns
# a list of problems: "FILE: KEY differs" (check), "KEY: no page has a
# marker" ; empty when all is well.
sub lg_docs_apply
{
	my ($srcdir, $sections, $check) = @_;
	my (@problems, %used);
	for my $file (lg_docs_pages($srcdir))
	{
		my $text = do { local (@ARGV, $/) = ($file); <> };
		my $new = $text;
		$new =~ s{(<!-- generated: (\S+) -->\n)(.*?)(<!-- end generated -->)}{
			my ($open, $key, $old, $close) = ($1, $2, $3, $4);
			$used{$key} = 1;
			if (exists $sections->{$key})
			{
				my $body = "$sections->{$key}\n";
				(my $short = $file) =~ s{^\Q$srcdir\E/}{};
				push @problems, "$short: the generated table \"$key\" differs from what make docs writes"
				  if $check && $old ne $body;
				"$open$body$close";
			}
			else
			{
				"$open$old$close";
			}
		}gse;
		if (!$check && $new ne $text)
		{
			open my $fh, '>', $file or die "$file: $!";
			print $fh $new;
			close $fh or die "$file: $!";
		}
	}
	push @problems, "\"$_\": no page has a marker <!-- generated: $_ --> for it"
	  for grep { !$used{$_} && !$optional{$_} } sort keys %$sections;
	return @problems;
}

1;
