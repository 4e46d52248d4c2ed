#!/usr/bin/perl
# valgrind-report.pl DIR: print every valgrind error record and UBSan report
# in DIR whose stack passes through leakguard (a function lg_* or
# leakguard.so); exit 1 if there is any.  Records elsewhere in the server
# are counted but not judged: without PostgreSQL's suppression file (not
# shipped by Debian) the core has known benign reports, such as padding
# bytes written to files.
use strict;
use warnings;

my $dir = shift or die "usage: $0 DIR\n";
my ($ours, $theirs, $files) = (0, 0, 0);
for my $file (sort glob("$dir/*"))
{
	next unless -f $file && -s $file;
	$files++;
	open my $fh, '<', $file or die "$file: $!";
	my $text = do { local $/; <$fh> };
	close $fh;
	if ($file =~ m{/ubsan})
	{
		print "---- $file\n$text";
		$ours++;
		next;
	}
	# valgrind: records are separated by a line holding only "==PID== "
	for my $record (split /^==\d+== ?\n/m, $text)
	{
		next unless $record =~ /\S/;
		next if $record =~ /^==\d+== (HEAP|LEAK|ERROR) SUMMARY|^==\d+== For lists of detected/m
		  && $record !~ /^==\d+== +(at|by) /m;
		if ($record =~ /\blg_\w+ \(|leakguard\.so/)
		{
			print "---- $file\n$record\n";
			$ours++;
		}
		elsif ($record =~ /^==\d+== +at /m)
		{
			$theirs++;
		}
	}
}
print "$files log files; $ours reports in leakguard's code; $theirs elsewhere in the server (not judged)\n";
exit($ours ? 1 : 0);
