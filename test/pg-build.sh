#!/usr/bin/env bash
# test/pg-build.sh MAJOR [--print-pg-config] [--refresh] [--rebuild]
#
# Builds PostgreSQL MAJOR (17 or 18) from the upstream source tarball that
# Debian's archive carries (the .orig.tar.bz2 of the source package
# postgresql-17 in trixie, postgresql-18 in sid, or forky when sid does not
# have it), for testing leakguard against it: "make test PG_CONFIG=...".
#
#   1. reads the Sources index of those suites through a private apt
#      configuration in the cache directory (never /etc/apt), from the
#      mirror the machine's own apt sources use, signed by the Debian
#      archive keyring;
#   2. downloads only the .dsc and the .orig tarball, newest version first
#      (falling back to an older one the archive has if that fails), and
#      checks the tarball's SHA-256 against both the signed Sources index and
#      the .dsc;
#   3. installs missing build dependencies (as root, through apt, saying so);
#   4. configures with --enable-tap-tests --enable-cassert --enable-debug,
#      builds with make -j$(nproc), and installs into
#      $LG_PG_CACHE/pg-MAJOR, with the TAP modules and pg_regress in its
#      pgxs directory as Debian's postgresql-server-dev-NN has them.
#
# The cache directory: $LG_PG_CACHE, or /var/cache/leakguard-pg as root,
# ~/.cache/leakguard-pg otherwise.  An installation there is reused when
# its stamp file (pg-MAJOR/.leakguard-pg-build) records the same configure
# options and the installation is complete; nothing is downloaded then.
#   --refresh   also ask the archive for its newest version; rebuild if newer
#   --rebuild   build even if the cache is complete
#   --print-pg-config   progress on stderr; only the pg_config path on stdout
# Prints the path of pg_config last, so that callers can do
#   PG_CONFIG=$(test/pg-build.sh 17 --print-pg-config) make test
#
# Environment: LG_PG_CACHE; LG_PG_SUITES (suites to search, first preferred);
# LG_DEBIAN_MIRROR (default: read from /etc/apt); LG_PG_JOBS (make -j).
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
umask 022

usage() { echo "usage: $0 MAJOR [--print-pg-config] [--refresh] [--rebuild]" >&2; exit 2; }

major=""
print_only=0 refresh=0 rebuild=0
for arg in "$@"; do
    case "$arg" in
        --print-pg-config) print_only=1 ;;
        --refresh) refresh=1 ;;
        --rebuild) rebuild=1 ;;
        [1-9][0-9]) [ -z "$major" ] || usage; major=$arg ;;
        *) usage ;;
    esac
done
[ -n "$major" ] || usage

# --print-pg-config: everything but the final path goes to stderr.
exec 3>&1
[ $print_only = 1 ] && exec 1>&2

case "$major" in
    17) default_suites="trixie" ;;
    18) default_suites="sid forky" ;;
    *) default_suites="" ;;
esac
suites=${LG_PG_SUITES:-$default_suites}
[ -n "$suites" ] || { echo "no Debian suite known for PostgreSQL $major; set LG_PG_SUITES" >&2; exit 2; }

if [ -n "${LG_PG_CACHE:-}" ]; then
    cache=$LG_PG_CACHE
elif [ "$(id -u)" = 0 ]; then
    cache=/var/cache/leakguard-pg
else
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/leakguard-pg
fi
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
prefix=$cache/pg-$major
stamp=$prefix/.leakguard-pg-build
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
jobs=${LG_PG_JOBS:-$(nproc)}
configure_opts="--prefix=$prefix --enable-tap-tests --enable-cassert --enable-debug --without-icu --without-readline --without-llvm CFLAGS=-O2"
build_packages="build-essential bison flex zlib1g-dev pkg-config perl bzip2 libipc-run-perl debian-archive-keyring"

# One build per major version at a time.
exec 9>"$cache/pg-$major.lock"
flock 9

# A complete installation: the stamp, a working pg_config reporting the
# stamped version, and the test infrastructure in its pgxs directory.
stamp_value() { sed -n "s/^$1=//p" "$stamp" 2>/dev/null; }
cache_complete() {
    local pgxs
    [ -f "$stamp" ] && [ -x "$prefix/bin/pg_config" ] || return 1
    [ "$(stamp_value configure)" = "$configure_opts" ] || return 1
    [ "$("$prefix/bin/pg_config" --version 2>/dev/null)" = "PostgreSQL $(stamp_value version)" ] || return 1
    pgxs=$(dirname "$("$prefix/bin/pg_config" --pgxs)")/../..
    [ -f "$pgxs/src/test/perl/PostgreSQL/Test/Cluster.pm" ] &&
        [ -x "$pgxs/src/test/regress/pg_regress" ] && [ -x "$prefix/bin/postgres" ]
}

finish() {
    echo "PostgreSQL $(stamp_value version) ($(stamp_value source), from $(stamp_value suite)) in $prefix; pg_config:"
    echo "$prefix/bin/pg_config" >&3
    exit 0
}

if [ $rebuild = 0 ] && [ $refresh = 0 ] && cache_complete; then
    lg_say "using the cached build of PostgreSQL $(stamp_value version) in $prefix"
    finish
fi

# The mirror of the machine's own apt sources (the main archive, not the
# security one): the first URI of an enabled deb or deb-src source whose
# suites are not *-security, from sources.list(.d).
debian_mirror() {
    perl -e '
        my @uris;
        for my $f (grep { -f } "/etc/apt/sources.list", glob("/etc/apt/sources.list.d/*.list"),
                   glob("/etc/apt/sources.list.d/*.sources")) {
            open my $fh, "<", $f or next;
            if ($f =~ /\.sources$/) {
                local $/ = "";
                while (my $p = <$fh>) {
                    $p =~ s/^\s*#.*\n?//mg;
                    my %h;
                    $h{lc $1} = $2 while $p =~ /^([\w-]+):[ \t]*(.*)$/mg;
                    next if lc($h{enabled} // "yes") eq "no";
                    next unless ($h{types} // "") =~ /\bdeb(-src)?\b/;
                    next if ($h{suites} // "") =~ /-security\b/;
                    push @uris, split " ", $h{uris} // "";
                }
            } else {
                while (<$fh>) {
                    next unless /^\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/;
                    push @uris, $1 unless $2 =~ /-security\b/;
                }
            }
        }
        my ($u) = (grep({ m{/debian/?$} } @uris), @uris);
        defined $u or exit 1;
        $u =~ s{/+$}{};
        print "$u\n";'
}
mirror=${LG_DEBIAN_MIRROR:-$(debian_mirror)} || {
    echo "no Debian mirror found in /etc/apt/sources.list(.d); set LG_DEBIAN_MIRROR" >&2
    exit 1
}

lg_install_packages $build_packages
[ -r "$keyring" ] || { echo "$keyring is missing (package debian-archive-keyring)" >&2; exit 1; }

# The private apt configuration: only deb-src entries of $suites, its own
# lists and cache; the machine's apt.conf.d (proxies and such) still applies.
aptdir=$cache/apt
mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
cat > "$aptdir/sources.list.d/postgresql.sources" <<EOF
Types: deb-src
URIs: $mirror
Suites: $suites
Components: main
Signed-By: $keyring
EOF
cat > "$aptdir/apt.conf" <<EOF
Dir::Etc::sourcelist "/dev/null";
Dir::Etc::sourceparts "$aptdir/sources.list.d";
Dir::State::lists "$aptdir/lists";
Dir::Cache "$aptdir/cache";
EOF
export APT_CONFIG=$aptdir/apt.conf

lg_say "reading the Sources index of $suites from $mirror (private apt configuration $APT_CONFIG, signatures checked with $keyring)"
rc=0
apt-get update -q >"$aptdir/update.log" 2>&1 || rc=$?
if grep -qE "GPG error|NO_PUBKEY|EXPKEYSIG|is not signed|signatures? (was|were) invalid|couldn't be verified" "$aptdir/update.log"; then
    cat "$aptdir/update.log"
    echo "SIGNATURE VERIFICATION FAILED: the Release file of a suite in '$suites' is not signed" \
         "by a key in $keyring (too old a debian-archive-keyring for that suite?); nothing was built" >&2
    exit 1
fi
if [ $rc != 0 ] || grep -q "^E:" "$aptdir/update.log"; then
    cat "$aptdir/update.log"
    echo "apt-get update with the private configuration failed" >&2
    exit 1
fi

# The source package's versions in those suites, one line each (sorted below):
# version suite directory dsc-name dsc-sha256 orig-name orig-sha256
candidates() {
    local pkg=postgresql-$major
    apt-cache showsrc --only-source "$pkg" 2>/dev/null | perl -e '
        local $/ = "";
        while (my $p = <STDIN>) {
            my ($v) = $p =~ /^Version: (\S+)/m or next;
            my ($d) = $p =~ /^Directory: (\S+)/m or next;
            my ($sums) = $p =~ /^Checksums-Sha256:\n((?: .*\n?)+)/m or next;
            my ($dsc, $orig);
            for (split /\n/, $sums) {
                my ($h, $s, $n) = split " ";
                $dsc = [$n, $h] if $n =~ /\.dsc$/;
                $orig = [$n, $h] if $n =~ /\.orig\.tar\.[a-z0-9]+$/;
            }
            print "$v $d $dsc->[0] $dsc->[1] $orig->[0] $orig->[1]\n" if $dsc && $orig;
        }' | sort -u | while read -r v rest; do
            # the first suite of $suites that has it, for the record
            local in_suites s found="?"
            in_suites=$(apt-cache madison "$pkg" | awk -v v="$v" '$3 == v && $NF == "Sources" { split($(NF-1), a, "/"); print a[1] }')
            for s in $suites; do
                if echo "$in_suites" | grep -qx "$s"; then found=$s; break; fi
            done
            echo "$v $found $rest"
        done
}
mapfile -t cands < <(candidates)
[ ${#cands[@]} -gt 0 ] || { echo "the archive ($suites) has no source package postgresql-$major" >&2; exit 1; }
# Debian version order, not sort -V's: a simple insertion sort with dpkg.
sorted=()
for c in "${cands[@]}"; do
    placed=0 new=()
    for s in "${sorted[@]}"; do
        if [ $placed = 0 ] && dpkg --compare-versions "${c%% *}" gt "${s%% *}"; then
            new+=("$c"); placed=1
        fi
        new+=("$s")
    done
    [ $placed = 1 ] || new+=("$c")
    sorted=("${new[@]}")
done
newest=${sorted[0]%% *}
echo "the archive has postgresql-$major: $(printf '%s ' "${sorted[@]%% *}")(newest $newest)"

if [ $refresh = 1 ] && [ $rebuild = 0 ] && cache_complete && [ "$(stamp_value source)" = "postgresql-$major $newest" ]; then
    lg_say "the cached build of PostgreSQL $(stamp_value version) in $prefix is the archive's newest"
    finish
fi

# Download the .dsc and the .orig tarball (apt checks both against the
# signed index as it downloads), then check the tarball again, against the
# index and the .dsc.
dl=$cache/downloads
mkdir -p "$dl"
# apt downloads as _apt when it can; give it the directory.
[ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1 && chown _apt "$dl"
fetch() {	# fetch URL FILE SHA256
    if [ -f "$dl/$2" ] && echo "$3  $dl/$2" | sha256sum -c --quiet >/dev/null 2>&1; then
        echo "already downloaded: $2"
        return 0
    fi
    rm -f "$dl/$2"
    /usr/lib/apt/apt-helper download-file "$1" "$dl/$2" "SHA256:$3"
}
chosen=""
for c in "${sorted[@]}"; do
    read -r version suite dir dsc dsc_sha orig orig_sha <<<"$c"
    lg_say "downloading $dsc and $orig ($suite)"
    if fetch "$mirror/$dir/$dsc" "$dsc" "$dsc_sha" && fetch "$mirror/$dir/$orig" "$orig" "$orig_sha"; then
        chosen=$c
        break
    fi
    echo "WARNING: could not download postgresql-$major $version from $mirror; trying an older version" >&2
done
[ -n "$chosen" ] || { echo "no version of postgresql-$major could be downloaded" >&2; exit 1; }
if [ "$version" != "$newest" ]; then
    echo "WARNING: the archive's newest postgresql-$major ($newest) could not be downloaded; using $version" >&2
fi

echo "checking SHA-256 of $orig: $orig_sha (Sources index)"
echo "$orig_sha  $dl/$orig" | sha256sum -c --quiet
dsc_orig_sha=$(awk -v f="$orig" '/^Checksums-Sha256:/ { in_sums = 1; next }
                                  /^[^ ]/ { in_sums = 0 }
                                  in_sums && $3 == f { print $1 }' "$dl/$dsc")
if [ "$dsc_orig_sha" != "$orig_sha" ]; then
    echo "$orig: SHA-256 in $dsc ($dsc_orig_sha) differs from the Sources index ($orig_sha)" >&2
    exit 1
fi
echo "$orig: SHA-256 matches the Sources index and $dsc"

# postgresql-17_17.6.orig.tar.bz2 -> 17.6
upstream=${orig#postgresql-"$major"_}
upstream=${upstream%.orig.tar.*}

build=$cache/build-$major
log=$cache/build-$major.log
rm -rf "$build" "$prefix"
mkdir -p "$build"
lg_say "building PostgreSQL $upstream in $build (configure $configure_opts; make -j$jobs; log in $log)"
start=$(date +%s)
step() {	# step WHAT COMMAND...: run, logging; on failure show the log's end
    local t0=$SECONDS
    printf '  %s' "$1"
    if ! "${@:2}" >>"$log" 2>&1; then
        echo
        tail -n 60 "$log"
        echo "PostgreSQL $upstream: $1 failed; the whole log is $log, the tree $build" >&2
        exit 1
    fi
    echo " ($((SECONDS - t0)) s)"
}
# Run from make (make test-all), this script inherits MAKELEVEL and
# MAKEFLAGS; PostgreSQL's makefiles build their generated headers only at
# make level 0, so a parallel build would then fail on a missing header.
unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES
: >"$log"
step "unpacking $orig" tar -xf "$dl/$orig" -C "$build" --strip-components=1
here=$PWD
cd "$build"
# shellcheck disable=SC2086 # configure_opts is a list of words
step "configure" ./configure $configure_opts
step "make -j$jobs" make -j"$jobs"
step "make install" make install
# Debian's postgresql-server-dev-NN ships these in the pgxs directory; the
# top-level install has them with --enable-tap-tests, but say so if not.
pgxs=$(dirname "$("$prefix/bin/pg_config" --pgxs)")/../..
if [ ! -f "$pgxs/src/test/perl/PostgreSQL/Test/Cluster.pm" ]; then
    step "make -C src/test/perl install (TAP modules)" make -C src/test/perl install
fi
if [ ! -x "$pgxs/src/test/regress/pg_regress" ]; then
    step "make -C src/test/regress install (pg_regress)" make -C src/test/regress install
fi
cd "$here"
cat > "$stamp" <<EOF
version=$upstream
source=postgresql-$major $version
suite=$suite
orig=$orig
orig_sha256=$orig_sha
configure=$configure_opts
built=$(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - start )) s
EOF
cache_complete || { echo "the installation in $prefix is incomplete" >&2; exit 1; }
rm -rf "$build"
lg_say "PostgreSQL $upstream built and installed in $(( $(date +%s) - start )) s"
finish
