# The generated reference tables of the documentation are what make docs
# writes.
#
# README.md and docs/*.md hold tables between <!-- generated: KEY --> and
# <!-- end generated --> (test/perl/LeakguardDocs.pm): the settings from
# pg_settings, the columns of every view and function of schema leakguard
# from the catalog, the kinds of limit.  This runs the generator of make
# docs against a server of its own and fails when a committed table differs
# from what it produces, or when a view or function has no table in any
# page.  It also shows that the check catches a hand edit: a copy of the
# pages with one generated cell changed fails it.
use strict;
use warnings;

use File::Basename;
use File::Copy;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use LeakguardTest;
use LeakguardDocs;

my $root = $ENV{LG_SOURCE_DIR} // dirname(__FILE__) . '/../..';
die "no docs/ at $root/docs (set LG_SOURCE_DIR to the source tree)"
  unless -d "$root/docs";

my $node = lg_node('docs');
my $query = sub { $node->safe_psql('postgres', $_[0]) };
my $sections = lg_docs_sections($query, $root);

# Every kind of table is produced, and every view and function has one.
ok(exists $sections->{settings}, 'the settings table is generated');
like($sections->{settings}, qr/\Q[`leakguard.mode`]\E.*\| sighup \|/,
	'the settings table has leakguard.mode and its context');
is(scalar(() = $sections->{settings} =~ /^\| \[`leakguard\./mg),
	$node->safe_psql('postgres', "SELECT count(*) FROM pg_settings WHERE name LIKE 'leakguard.%'"),
	'one row per leakguard setting');
for my $view (split /\n/, $node->safe_psql('postgres',
	"SELECT relname FROM pg_class WHERE relnamespace = 'leakguard'::regnamespace AND relkind = 'v' AND relname <> 'kinds'"))
{
	ok(exists $sections->{"view:$view"}, "the columns of view leakguard.$view are generated");
}
like($sections->{'view:terminations'}, qr/^\| `blocked_pids` \| integer\[\] \|/m,
	'a column of leakguard.terminations, with its type');
ok(exists $sections->{functions}, 'the functions table is generated');
like($sections->{kinds}, qr/^\| blocking \|/m, 'the kinds table lists the kind blocking');
like($sections->{metrics}, qr/^\| `leakguard_worker_up` \| gauge \|/m,
	'the metric table, from monitoring/queries.yaml, has leakguard_worker_up');

# The committed pages are what make docs writes.
my @problems = lg_docs_apply($root, $sections, 1);
is_deeply(\@problems, [], 'the generated tables of README.md and docs/ are up to date')
  or diag(join("\n", @problems, 'run make docs, and commit the pages it changes'));

# A hand edit of a generated table fails the check: a copy of the pages
# with the type of one column changed.
my $copy = PostgreSQL::Test::Utils::tempdir();
make_path("$copy/docs");
copy("$root/README.md", "$copy/README.md") or die $!;
copy($_, "$copy/docs/" . basename($_)) or die $! for glob("$root/docs/*.md");
my $page = "$copy/docs/sql.md";
my $text = slurp_file($page);
ok($text =~ s/^(\| `pid` \| )integer( \|)/${1}bigint$2/m, 'a generated cell is edited by hand');
open my $fh, '>', $page or die "$page: $!";
print $fh $text;
close $fh;
@problems = lg_docs_apply($copy, $sections, 1);
is_deeply(\@problems,
	[ 'docs/sql.md: the generated table "view:sessions" differs from what make docs writes' ],
	'the check names the page and the table edited by hand');

# What make docs does to such a page: the table is written again.
is_deeply([ lg_docs_apply($copy, $sections, 0) ], [], 'make docs writes the tables');
is(slurp_file($page), slurp_file("$root/docs/sql.md"), 'and the hand edit is gone');

$node->stop;
done_testing();
