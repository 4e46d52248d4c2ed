#!/usr/bin/perl
# test/check-meta.pl: the packaging metadata agrees with itself and with the
# PGXN Meta Spec v1.0.0 (https://pgxn.org/spec/1.0.0/).  Run by make test
# (the "meta" suite) and before make deb.
#
#   1. META.json is valid against the spec: the required keys (name,
#      abstract, version, maintainer, license, provides, meta-spec), and the
#      form of every key present (semantic versions, version ranges in
#      prereqs, known licenses, URLs, tags, custom keys only as x_*);
#   2. the versions follow leakguard.control's default_version D (e.g. 1.0),
#      the one source of truth:
#        - META.json "version" and provides/leakguard/version are D padded
#          to a semantic version (1.0 -> 1.0.0);
#        - provides/leakguard/file is leakguard--D.sql, and exists;
#        - debian/changelog's newest version is D, or D+something for a
#          packaging-only change (the source format is native: no revision);
#   3. the checker catches what it must: each of a list of broken copies of
#      META.json is refused (a self-test, run first).
#
# Exits non-zero, listing every problem, if anything is wrong.
use strict;
use warnings;
use JSON::PP;
use FindBin;

chdir "$FindBin::Bin/.." or die "chdir: $!";

my $SEMVER = qr/^(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[0-9A-Za-z-]+)?$/;
my %LICENSES = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2
  bsd freebsd gfdl_1_2 gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0
  mozilla_1_1 openssl perl_5 postgresql qpl_1_0 ssleay sun zlib open_source
  restricted unrestricted unknown);
my %PHASES = map { $_ => 1 } qw(configure build test runtime develop);
my %RELATIONS = map { $_ => 1 } qw(requires recommends suggests conflicts);

# --- the spec, as checks returning a list of problems ---------------------

sub is_string { my $v = shift; defined $v && !ref $v && length $v }
sub is_url { my $v = shift; is_string($v) && $v =~ m{^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+} }
sub is_term { my $v = shift; is_string($v) && length $v >= 2 && $v !~ m{[[:space:][:cntrl:]/\\]} }
sub is_custom { $_[0] =~ /^x_/i }

sub check_version_range {
    my ($where, $v) = @_;
    return "$where: no version range" unless is_string($v) || (defined $v && $v eq '0');
    my @p;
    for my $part (split /,\s*/, $v) {
        next if $part eq '0';
        my ($op, $ver) = $part =~ /^(<=|>=|==|!=|<|>)?\s*(.*)$/;
        push @p, "$where: \"$part\" is not a semantic version (range \"$v\")" unless $ver =~ $SEMVER;
    }
    return @p;
}

sub check_string_or_list {
    my ($where, $v, $ok) = @_;
    my @items = ref $v eq 'ARRAY' ? @$v : ($v);
    return "$where: an empty list" unless @items;
    return map { $ok->($_) ? () : "$where: \"" . ($_ // 'null') . "\" is not valid" } @items;
}

sub validate {
    my ($m) = @_;
    my @p;
    return ("not a JSON object") unless ref $m eq 'HASH';

    for my $k (qw(name abstract version maintainer license provides meta-spec)) {
        push @p, "required key \"$k\" is missing" unless defined $m->{$k};
    }
    my %known = map { $_ => 1 } qw(name abstract version maintainer license provides
      meta-spec description generated_by tags no_index prereqs resources release_status);
    for my $k (sort keys %$m) {
        push @p, "unknown key \"$k\" (custom keys begin with x_)" unless $known{$k} || is_custom($k);
    }

    push @p, "name: \"$m->{name}\" is not a valid term (2+ characters, no space, /, \\ or control character)"
      if defined $m->{name} && !is_term($m->{name});
    for my $k (qw(abstract description generated_by)) {
        push @p, "$k: not a non-empty string" if exists $m->{$k} && !is_string($m->{$k});
    }
    push @p, "version: \"$m->{version}\" is not a semantic version"
      if defined $m->{version} && !(is_string($m->{version}) && $m->{version} =~ $SEMVER);
    push @p, check_string_or_list('maintainer', $m->{maintainer}, \&is_string) if defined $m->{maintainer};

    if (defined(my $l = $m->{license})) {
        if (ref $l eq 'HASH') {
            push @p, "license: an empty map" unless %$l;
            push @p, map { "license/$_: not a URL" } grep { !is_url($l->{$_}) } sort keys %$l;
        } else {
            push @p, check_string_or_list('license', $l, sub { is_string($_[0]) && $LICENSES{$_[0]} });
        }
    }

    if (defined(my $s = $m->{'meta-spec'})) {
        if (ref $s ne 'HASH') {
            push @p, "meta-spec: not a map";
        } else {
            push @p, "meta-spec/version: must be \"1.0.0\"" unless ($s->{version} // '') eq '1.0.0';
            push @p, "meta-spec/url: not a URL" if exists $s->{url} && !is_url($s->{url});
            push @p, map { "meta-spec/$_: unknown key" } grep { !/^(version|url)$/ && !is_custom($_) } sort keys %$s;
        }
    }

    if (defined(my $pr = $m->{provides})) {
        if (ref $pr ne 'HASH' || !%$pr) {
            push @p, "provides: not a non-empty map";
        } else {
            for my $ext (sort keys %$pr) {
                my $e = $pr->{$ext};
                push @p, "provides/$ext: the name is not a valid term" unless is_term($ext);
                if (ref $e ne 'HASH') { push @p, "provides/$ext: not a map"; next }
                push @p, "provides/$ext/file: missing" unless is_string($e->{file});
                push @p, "provides/$ext/version: missing or not a semantic version"
                  unless is_string($e->{version}) && $e->{version} =~ $SEMVER;
                for my $f (qw(file docfile)) {
                    push @p, "provides/$ext/$f: \"$e->{$f}\" is not a file of the distribution"
                      if is_string($e->{$f}) && !-f $e->{$f};
                }
                push @p, "provides/$ext/abstract: not a non-empty string"
                  if exists $e->{abstract} && !is_string($e->{abstract});
                push @p, map { "provides/$ext/$_: unknown key" }
                  grep { !/^(file|version|abstract|docfile)$/ && !is_custom($_) } sort keys %$e;
            }
        }
    }

    if (exists $m->{release_status}) {
        push @p, "release_status: must be stable, testing or unstable"
          unless ($m->{release_status} // '') =~ /^(stable|testing|unstable)$/;
    }

    if (exists $m->{prereqs}) {
        my $pq = $m->{prereqs};
        if (ref $pq ne 'HASH') {
            push @p, "prereqs: not a map";
        } else {
            for my $phase (sort keys %$pq) {
                push @p, "prereqs/$phase: unknown phase" unless $PHASES{$phase} || is_custom($phase);
                if (ref $pq->{$phase} ne 'HASH') { push @p, "prereqs/$phase: not a map"; next }
                for my $rel (sort keys %{ $pq->{$phase} }) {
                    my $r = $pq->{$phase}{$rel};
                    push @p, "prereqs/$phase/$rel: unknown relation" unless $RELATIONS{$rel} || is_custom($rel);
                    if (ref $r ne 'HASH') { push @p, "prereqs/$phase/$rel: not a map"; next }
                    for my $what (sort keys %$r) {
                        push @p, "prereqs/$phase/$rel/$what: the name is not a valid term" unless is_term($what);
                        push @p, check_version_range("prereqs/$phase/$rel/$what", $r->{$what});
                    }
                }
            }
        }
    }

    if (exists $m->{tags}) {
        push @p, check_string_or_list('tags', $m->{tags},
            sub { is_string($_[0]) && length $_[0] <= 256 && $_[0] !~ m{[[:cntrl:]/\\]} });
    }

    if (exists $m->{no_index}) {
        my $n = $m->{no_index};
        if (ref $n ne 'HASH') {
            push @p, "no_index: not a map";
        } else {
            for my $k (sort keys %$n) {
                if ($k =~ /^(file|directory)$/) {
                    push @p, check_string_or_list("no_index/$k", $n->{$k}, \&is_string);
                } elsif (!is_custom($k)) {
                    push @p, "no_index/$k: unknown key";
                }
            }
        }
    }

    if (exists $m->{resources}) {
        my $r = $m->{resources};
        if (ref $r ne 'HASH') {
            push @p, "resources: not a map";
        } else {
            for my $k (sort keys %$r) {
                my $v = $r->{$k};
                if ($k eq 'license') {
                    push @p, check_string_or_list('resources/license', $v, \&is_url);
                } elsif ($k eq 'homepage') {
                    push @p, "resources/homepage: not a URL" unless is_url($v);
                } elsif ($k eq 'bugtracker' || $k eq 'repository') {
                    if (ref $v ne 'HASH') { push @p, "resources/$k: not a map"; next }
                    for my $kk (sort keys %$v) {
                        my $ok = $kk =~ /^(web|url)$/ ? is_url($v->{$kk})
                          : $kk eq 'mailto' && $k eq 'bugtracker' ? ($v->{$kk} // '') =~ /@/
                          : $kk eq 'type' && $k eq 'repository' ? is_string($v->{$kk}) && $v->{$kk} !~ /[A-Z]/
                          : is_custom($kk);
                        push @p, "resources/$k/$kk: not valid" unless $ok;
                    }
                } elsif (!is_custom($k)) {
                    push @p, "resources/$k: unknown key";
                }
            }
        }
    }
    return @p;
}

# --- leakguard's own versions ------------------------------------------------

sub slurp { my $f = shift; open my $fh, '<', $f or die "$f: $!\n"; local $/; <$fh> }

# 1.0 -> 1.0.0, 2 -> 2.0.0, 1.2.3 -> 1.2.3
sub semver_of {
    my $v = shift;
    my @c = split /\./, $v;
    push @c, 0 while @c < 3;
    return join '.', @c;
}

# The install script of the newest version that has one (leakguard--X.Y.sql).
sub newest_install_script {
    my @v = sort { my @a = split /\./, $a; my @b = split /\./, $b; $a[0] <=> $b[0] || $a[1] <=> $b[1] }
      map { /^leakguard--(\d+\.\d+)\.sql$/ ? $1 : () } glob 'leakguard--*.sql';
    return @v ? "leakguard--$v[-1].sql" : '';
}

sub check_versions {
    my ($m, $default) = @_;
    my @p;
    my $want = semver_of($default);
    my $e = ref $m->{provides} eq 'HASH' ? $m->{provides}{leakguard} : undef;
    if (ref $e ne 'HASH') {
        push @p, "META.json provides no extension \"leakguard\"";
    } else {
        push @p, "META.json provides/leakguard/version is \"" . ($e->{version} // '') .
          "\", default_version is $default: want \"$want\"" unless ($e->{version} // '') eq $want;
        # the install script of the default version, or the base script
        # that CREATE EXTENSION runs before the update scripts to it
        my $file = $e->{file} // '';
        push @p, "META.json provides/leakguard/file is \"$file\": want \"leakguard--$default.sql\", " .
          "or the newest install script there is when none is shipped for $default"
          unless $file eq "leakguard--$default.sql" ||
            (!-f "leakguard--$default.sql" && $file eq newest_install_script());
    }
    push @p, "META.json version is \"" . ($m->{version} // '') . "\", default_version is $default: want \"$want\""
      unless ($m->{version} // '') eq $want;

    my ($src, $deb) = slurp('debian/changelog') =~ /\A(\S+) \(([^)]+)\)/
      or return (@p, "debian/changelog: no version on its first line");
    push @p, "debian/changelog: source \"$src\", want \"leakguard\"" unless $src eq 'leakguard';
    push @p, "debian/changelog's newest version is $deb, default_version is $default: " .
      "want $default (or $default+something); add a changelog entry (dch -v $default)"
      unless $deb eq $default || index($deb, "$default+") == 0;
    return @p;
}

# debian/pgversions lists the majors META.json's PostgreSQL range allows,
# from its lower bound on.
sub check_pgversions {
    my ($m) = @_;
    my $range = eval { $m->{prereqs}{runtime}{requires}{PostgreSQL} } // '';
    my @majors = grep { /^\d+$/ } map { s/#.*//r =~ s/\s+//gr } split /\n/, slurp('debian/pgversions');
    return "debian/pgversions lists no major version" unless @majors;
    my @p;
    my $in_range = sub {
        my $v = shift;
        for my $part (split /,\s*/, $range) {
            my ($op, $ver) = $part =~ /^(<=|>=|==|!=|<|>)?\s*(\S+)$/ or return 0;
            my $c = cmp_semver("$v.0.0", $ver);
            $op //= '>=';
            return 0 unless $op eq '>=' ? $c >= 0 : $op eq '>' ? $c > 0 : $op eq '<=' ? $c <= 0
              : $op eq '<' ? $c < 0 : $op eq '==' ? $c == 0 : $c != 0;
        }
        return 1;
    };
    push @p, "debian/pgversions: $_ is outside META.json's PostgreSQL range \"$range\""
      for grep { !$in_range->($_) } @majors;
    my ($low) = sort { $a <=> $b } @majors;
    push @p, "debian/pgversions starts at $low, META.json's PostgreSQL range \"$range\" at " .
      "a lower major" if $low > 1 && $in_range->($low - 1);
    return @p;
}

sub cmp_semver {
    my @a = split /[.-]/, shift;
    my @b = split /[.-]/, shift;
    for my $i (0 .. 2) {
        my $c = ($a[$i] // 0) <=> ($b[$i] // 0);
        return $c if $c;
    }
    return 0;
}

# --- self-test: broken copies must be refused ------------------------------

sub self_test {
    my ($good, $default) = @_;
    my $copy = sub { JSON::PP->new->decode(JSON::PP->new->encode($good)) };
    my @broken = (
        [ 'no license'             => sub { delete $_[0]{license} } ],
        [ 'no maintainer'          => sub { delete $_[0]{maintainer} } ],
        [ 'no meta-spec'           => sub { delete $_[0]{'meta-spec'} } ],
        [ 'version 1.0'            => sub { $_[0]{version} = '1.0' } ],
        [ 'provides version 1.0'   => sub { $_[0]{provides}{leakguard}{version} = '1.0' } ],
        [ 'provides without file'  => sub { delete $_[0]{provides}{leakguard}{file} } ],
        [ 'a missing file'         => sub { $_[0]{provides}{leakguard}{file} = 'no-such.sql' } ],
        [ 'license GPL'            => sub { $_[0]{license} = 'GPL' } ],
        [ 'meta-spec 2.0.0'        => sub { $_[0]{'meta-spec'}{version} = '2.0.0' } ],
        [ 'a range "=> 15"'        => sub { $_[0]{prereqs}{runtime}{requires}{PostgreSQL} = '=> 15.0.0' } ],
        [ 'a range "15"'           => sub { $_[0]{prereqs}{runtime}{requires}{PostgreSQL} = '>= 15' } ],
        [ 'phase "run"'            => sub { $_[0]{prereqs}{run} = { requires => { PostgreSQL => '15.0.0' } } } ],
        [ 'release_status "beta"'  => sub { $_[0]{release_status} = 'beta' } ],
        [ 'key "homepage"'         => sub { $_[0]{homepage} = 'https://example.org/' } ],
        [ 'name "a b"'             => sub { $_[0]{name} = 'a b' } ],
        [ 'tag with /'             => sub { $_[0]{tags} = ['a/b'] } ],
        [ 'resources homepage "x"' => sub { $_[0]{resources}{homepage} = 'x' } ],
    );
    my @p;
    for my $b (@broken) {
        my $m = $copy->();
        $b->[1]->($m);
        push @p, "self-test: META.json with $b->[0] was not refused" unless validate($m);
    }
    # valid, but not the version of leakguard.control
    my ($maj, $min, $patch) = split /\./, semver_of($default);
    for my $v (join('.', $maj, $min, $patch + 1), join('.', $maj + 1, $min, $patch)) {
        my $m = $copy->();
        $m->{provides}{leakguard}{version} = $v;
        push @p, "self-test: provides version $v for default_version $default was not refused"
          unless check_versions($m, $default) && !validate($m);
    }
    return @p;
}

my $meta = eval { JSON::PP->new->relaxed(0)->decode(slurp('META.json')) };
if (!$meta) {
    print "META.json is not valid JSON: $@";
    exit 1;
}
my ($default) = slurp('leakguard.control') =~ /^\s*default_version\s*=\s*'([^']+)'/m
  or die "leakguard.control: no default_version\n";

my @problems = validate($meta);
@problems = self_test($meta, $default) unless @problems;    # on a valid META.json only
push @problems, check_versions($meta, $default), check_pgversions($meta);
if (@problems) {
    print "check-meta: $_\n" for @problems;
    exit 1;
}
my ($deb) = slurp('debian/changelog') =~ /\A\S+ \(([^)]+)\)/;
print "META.json is valid (PGXN Meta Spec 1.0.0); leakguard $meta->{provides}{leakguard}{version}" .
  " and debian/changelog $deb agree with default_version $default\n";
exit 0;
