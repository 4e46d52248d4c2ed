#!/usr/bin/perl
# test/docs-gen.pl: write the generated reference tables of README.md and
# docs/*.md (see test/perl/LeakguardDocs.pm) from a running server with
# leakguard preloaded and the extension created, reached through psql and
# the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE).
#
#   test/docs-gen.pl [--check] [SOURCE_DIR]
#
# --check writes nothing and exits 1 if a page differs.  make docs
# (test/docs.sh) starts the server and runs this.
use strict;
use warnings;

use File::Basename;
use FindBin;
use lib "$FindBin::Bin/perl";
use LeakguardDocs;

my $check = @ARGV && $ARGV[0] eq '--check' ? shift @ARGV : 0;
my $srcdir = shift @ARGV // "$FindBin::Bin/..";

my $query = sub {
	my ($sql) = @_;
	open my $fh, '-|', 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', $sql
	  or die "psql: $!";
	my $out = do { local $/; <$fh> };
	close $fh or die "psql failed on: $sql\n";
	chomp $out;
	return $out;
};

my @problems = lg_docs_apply($srcdir, lg_docs_sections($query, $srcdir), $check);
print STDERR "$_\n" for @problems;
exit(@problems ? 1 : 0);
