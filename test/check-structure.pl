#!/usr/bin/perl
# test/check-structure.pl: the shape of src/ (issue 27).
#
# Prints the map of the sources (every file of src/ with its line count and
# the first line of its header comment), the largest source file and the
# largest header, and the strongly connected components of more than one
# file of two graphs:
#
#   - includes: a file -> each header of src/ it includes (#include "...");
#   - calls: a .c -> each .c that defines a symbol its object uses, read
#     with nm from src/*.o (skipped, and said so, when they are not built).
#
# Exits 1 if a header is longer than 350 lines, worker.c has 600 lines or
# more, or a component of either graph holds more than three files.
use strict;
use warnings;
use FindBin;

chdir "$FindBin::Bin/.." or die "chdir: $!";

my $MAX_HEADER = 350;
my $MAX_WORKER = 599;
my $MAX_SCC = 3;

my @files = sort glob("src/*.c src/*.h");
my (%lines, %job, %includes);
for my $f (@files)
{
	open my $fh, '<', $f or die "$f: $!";
	my @text = <$fh>;
	close $fh;
	$lines{$f} = scalar @text;
	# the header block: " * name.c" then " *\t\tjob"
	my $base = (split m{/}, $f)[-1];
	for my $i (0 .. $#text - 1)
	{
		if ($text[$i] =~ /^ \*\s+\Q$base\E\s*$/)
		{
			($job{$f} = $text[$i + 1]) =~ s/^ \*\s*//;
			chomp $job{$f};
			last;
		}
	}
	for (@text)
	{
		$includes{$f}{"src/$1"} = 1 if /^\s*#\s*include\s+"([^"]+)"/ && -e "src/$1";
	}
}

print "file map (lines, job):\n";
printf "  %-20s %5d  %s\n", $_ =~ s{^src/}{}r, $lines{$_}, $job{$_} // '?'
  for @files;

my @problems;
my ($big_c) = sort { $lines{$b} <=> $lines{$a} } grep { /\.c$/ } @files;
my ($big_h) = sort { $lines{$b} <=> $lines{$a} } grep { /\.h$/ } @files;
printf "largest source file: %s (%d lines)\n", $big_c, $lines{$big_c};
printf "largest header: %s (%d lines)\n", $big_h, $lines{$big_h};
for (grep { /\.h$/ && $lines{$_} > $MAX_HEADER } @files)
{
	push @problems, "$_ has $lines{$_} lines (at most $MAX_HEADER)";
}
push @problems, "src/worker.c has $lines{'src/worker.c'} lines (fewer than 600)"
  if exists $lines{'src/worker.c'} && $lines{'src/worker.c'} > $MAX_WORKER;

# Tarjan's strongly connected components of a graph { node => { node => 1 } }.
sub scc
{
	my ($graph) = @_;
	my ($index, @stack, %on, %idx, %low, @out) = (0);
	my $visit;
	$visit = sub {
		my ($v) = @_;
		$idx{$v} = $low{$v} = $index++;
		push @stack, $v;
		$on{$v} = 1;
		for my $w (sort keys %{ $graph->{$v} || {} })
		{
			if (!exists $idx{$w})
			{
				$visit->($w);
				$low{$v} = $low{$w} if $low{$w} < $low{$v};
			}
			elsif ($on{$w})
			{
				$low{$v} = $idx{$w} if $idx{$w} < $low{$v};
			}
		}
		if ($low{$v} == $idx{$v})
		{
			my @c;
			my $w;
			do { $w = pop @stack; delete $on{$w}; push @c, $w } while $w ne $v;
			push @out, [ sort @c ] if @c > 1;
		}
	};
	$visit->($_) for grep { !exists $idx{$_} } sort keys %$graph;
	return sort { @$b <=> @$a } @out;
}

sub report
{
	my ($name, $graph) = @_;
	my @comps = scc($graph);
	my $largest = @comps ? scalar @{ $comps[0] } : 1;
	print "$name: largest strongly connected component: $largest file(s)\n";
	for my $c (@comps)
	{
		my $list = join ' ', map { (split m{/})[-1] } @$c;

		print "  cycle of ", scalar(@$c), ": $list\n";
		push @problems, "$name: a cycle of " . scalar(@$c) . " files: $list"
		  if @$c > $MAX_SCC;
	}
}

report('includes', \%includes);

# The call graph from the objects' symbol tables.
my @objs = map { s/\.c$/.o/r } grep { /\.c$/ } @files;
if (grep { !-e $_ } @objs)
{
	print "calls: not checked (build the objects first: make)\n";
}
else
{
	my (%defines, %uses);
	for my $o (@objs)
	{
		my $c = $o =~ s/\.o$/.c/r;
		for (`nm $o`)
		{
			if (/^\s+U\s+(\S+)/) { $uses{$c}{$1} = 1 }
			elsif (/^[0-9a-f]+\s+[TDBRC]\s+(\S+)/) { $defines{$1} = $c }
		}
	}
	my %calls;
	for my $c (keys %uses)
	{
		for my $sym (keys %{ $uses{$c} })
		{
			my $d = $defines{$sym};
			$calls{$c}{$d} = 1 if defined $d && $d ne $c;
		}
	}
	report('calls', \%calls);
}

if (@problems)
{
	print STDERR "check-structure: $_\n" for @problems;
	exit 1;
}
print "check-structure: ok\n";
exit 0;
