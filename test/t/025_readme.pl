# The README's examples run as written.
#
# Every ```sql block of README.md runs, in order, with ON_ERROR_STOP, in one
# database of a server with leakguard preloaded; every leakguard.* setting
# written in an untyped block (the postgresql.conf excerpts) is accepted by
# ALTER SYSTEM, as a reload would accept it; every "make TARGET" of a ```sh
# block is a target of the Makefile, and every script it names exists.  A
# block preceded by "<!-- doc-test: skip ... -->" is left out (the comment
# says why).
use strict;
use warnings;

use File::Basename;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;

my $root = $ENV{LG_SOURCE_DIR} // dirname(__FILE__) . '/../..';
my $readme = "$root/README.md";
die "no README.md at $readme (set LG_SOURCE_DIR to the source tree)" unless -f $readme;

# The fenced blocks: [ language, text, line, skipped ]
my @blocks;
{
	open my $fh, '<', $readme or die "$readme: $!";
	my ($lang, $text, $start, $skip, $last_comment) = (undef, '', 0, 0, '');
	my $n = 0;
	while (my $line = <$fh>)
	{
		$n++;
		if (!defined $lang)
		{
			if ($line =~ /^```(\w*)\s*$/)
			{
				($lang, $text, $start) = ($1, '', $n);
				$skip = $last_comment =~ /doc-test:\s*skip/ ? 1 : 0;
			}
			elsif ($line =~ /\S/)
			{
				$last_comment = $line =~ /^<!--/ ? $line : '';
			}
			next;
		}
		if ($line =~ /^```\s*$/)
		{
			push @blocks, [ $lang, $text, $start, $skip ];
			($lang, $last_comment) = (undef, '');
			next;
		}
		$text .= $line;
	}
	die "unterminated code block at line $start of README.md" if defined $lang;
}
ok(scalar(@blocks) > 10, 'README.md has code blocks (' . scalar(@blocks) . ')');

my $node = lg_node('readme', no_extension => 1);
$node->safe_psql('postgres', 'CREATE DATABASE readme');

# SQL blocks, in order, in one database
for my $b (grep { $_->[0] eq 'sql' } @blocks)
{
	my ($lang, $sql, $line, $skip) = @$b;
	if ($skip) { note("sql block at line $line skipped"); next; }
	my ($ret, $out, $err) = $node->psql('readme', $sql,
		extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
	is($ret, 0, "the sql block at line $line of README.md runs")
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
		is($ret, 0, "README.md line $line: $name = $value is accepted")
		  or diag($err);
		$settings++;
	}
}
ok($settings > 5, "the README's setting examples were checked ($settings)");

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
				"README.md line $line: make $target is a target");
		}
		while ($l =~ m{\b((?:test|monitoring)/[\w./-]+\.(?:sh|pl))\b}g)
		{
			ok(-f "$root/$1", "README.md line $line: $1 exists");
		}
	}
}

$node->stop;
done_testing();
