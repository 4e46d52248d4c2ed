# The documentation's examples run as written.
#
# In README.md and every page of docs/ (in that order, the pages sorted by
# name): every ```sql block runs, in order, with ON_ERROR_STOP, in one
# database of a server with leakguard preloaded; every leakguard.* setting
# written in an untyped block (the postgresql.conf excerpts) is accepted by
# ALTER SYSTEM, as a reload would accept it; every "make TARGET" of a ```sh
# block is a target of the Makefile, and every script it names exists.  A
# block preceded by "<!-- doc-test: skip ... -->" is left out (the comment
# says why).  The server preloads pg_stat_statements where the installation
# has it (Debian's postgresql-contrib; not the source builds of 17 and 18):
# a block preceded by "<!-- doc-test: needs pg_stat_statements -->" runs
# only there.
use strict;
use warnings;

use File::Basename;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $root = $ENV{LG_SOURCE_DIR} // dirname(__FILE__) . '/../..';
die "no README.md at $root/README.md (set LG_SOURCE_DIR to the source tree)"
  unless -f "$root/README.md";
my @pages = ('README.md', map { s{^\Q$root\E/}{}r } sort glob("$root/docs/*.md"));

# The fenced blocks: [ language, text, "PAGE line N", skipped, needs ]
my @blocks;
for my $page (@pages)
{
	open my $fh, '<', "$root/$page" or die "$root/$page: $!";
	my ($lang, $text, $start, $skip, $needs, $last_comment) = (undef, '', 0, 0, '', '');
	my $n = 0;
	while (my $line = <$fh>)
	{
		$n++;
		if (!defined $lang)
		{
			if ($line =~ /^\s*```(\w*)\s*$/)
			{
				($lang, $text, $start) = ($1, '', $n);
				$skip = $last_comment =~ /doc-test:\s*skip/ ? 1 : 0;
				$needs = $last_comment =~ /doc-test:\s*needs\s+(\w+)/ ? $1 : '';
			}
			elsif ($line =~ /\S/)
			{
				$last_comment = $line =~ /^<!--/ ? $line : '';
			}
			next;
		}
		if ($line =~ /^\s*```\s*$/)
		{
			push @blocks, [ $lang, $text, "$page line $start", $skip, $needs ];
			($lang, $last_comment) = (undef, '');
			next;
		}
		$text .= $line;
	}
	die "unterminated code block at line $start of $page" if defined $lang;
}
ok(scalar(@blocks) > 10, 'the documentation has code blocks (' . scalar(@blocks) . ')');
ok(scalar(grep { /^docs\// } @pages) >= 10, 'docs/ has its pages (' . join(', ', @pages) . ')');

# pg_stat_statements where the installation has it, as 047 does
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my %has = (pg_stat_statements => -f "$sharedir/extension/pg_stat_statements.control");
note($has{pg_stat_statements} ? 'with pg_stat_statements' : 'without pg_stat_statements');
die "a block needs \"$_->[4]\", which this test does not know (at $_->[2])"
  for grep { $_->[4] ne '' && !exists $has{ $_->[4] } } @blocks;

my $node = lg_node('readme', no_extension => 1,
	conf => $has{pg_stat_statements}
	? "shared_preload_libraries = 'leakguard, pg_stat_statements'\n" : '');
$node->safe_psql('postgres', 'CREATE DATABASE readme');

# SQL blocks, in order, in one database
for my $b (grep { $_->[0] eq 'sql' } @blocks)
{
	my ($lang, $sql, $line, $skip, $needs) = @$b;
	if ($skip) { note("sql block at $line skipped"); next; }
	if ($needs ne '' && !$has{$needs})
	{
		note("sql block at $line skipped: it needs $needs");
		next;
	}
	my ($ret, $out, $err) = $node->psql('readme', $sql,
		extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
	is($ret, 0, "the sql block at $line runs")
	  or diag("$sql\n$err");
}

# leakguard.* settings in postgresql.conf excerpts
my $settings = 0;
for my $b (grep { $_->[0] eq '' && !$_->[3] } @blocks)
{
	my ($lang, $text, $line) = @$b;
	for my $l (split /\n/, $text)
	{
		next unless $l =~ /^\s*(leakguard\.\w+)\s*=\s*(.*?)\s*(?:#.*)?$/;
		my ($name, $value) = ($1, $2);
		$value = "'$value'" unless $value =~ /^'/;
		my ($ret, $out, $err) = $node->psql('postgres',
			"ALTER SYSTEM SET $name = $value; ALTER SYSTEM RESET $name;",
			extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
		is($ret, 0, "$line: $name = $value is accepted")
		  or diag($err);
		$settings++;
	}
}
ok($settings > 5, "the documentation's setting examples were checked ($settings)");

# shell blocks: make targets and scripts exist
my $makefile = do { local (@ARGV, $/) = ("$root/Makefile"); <> };
for my $b (grep { $_->[0] eq 'sh' && !$_->[3] } @blocks)
{
	my ($lang, $text, $line) = @$b;
	for my $l (split /\n/, $text)
	{
		$l =~ s/#.*//;
		while ($l =~ /\bmake\s+((?:[A-Z_]+=\S+\s+)*)([a-z][\w-]*)/g)
		{
			my $target = $2;
			# PGXS's own targets, or one of the Makefile
			ok(($target =~ /^(?:all|install|uninstall|clean|installcheck)$/ ||
				$makefile =~ /^\Q$target\E:/m),
				"$line: make $target is a target");
		}
		while ($l =~ m{\b((?:test|monitoring)/[\w./-]+\.(?:sh|pl))\b}g)
		{
			ok(-f "$root/$1", "$line: $1 exists");
		}
	}
}

$node->stop;
done_testing();
