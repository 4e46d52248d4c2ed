#!/usr/bin/env bash
# test/pg-build.sh MAJOR [--print-pg-config] [--refresh] [--rebuild] [--fetch-only]
#
# Builds PostgreSQL MAJOR (17 or 18) from the upstream source tarball that
# Debian's archive carries (the .orig.tar.bz2 of the source package
# postgresql-17 of trixie and trixie-security, postgresql-18 of sid,
# testing, forky and experimental), for testing leakguard against it:
# "make test PG_CONFIG=...".
#
# Debian's signed indexes and its pool drift apart at every point release
# (an index can name a version whose files are not served yet, or no longer
# name one whose files still are), so the tarball is looked for in three
# places, in this order, and never built unless its SHA-256 was checked
# against a signed source:
#
#   1. indexed: every version that a signed Sources index of those suites
#      lists, newest first.  The index is read through a private apt
#      configuration in the cache directory (never /etc/apt), from the
#      mirrors the machine's own apt sources use, its Release file checked
#      against the Debian archive keyring; the .dsc and the tarball are
#      checked against the index's SHA-256, the tarball against the .dsc's.
#   2. pool: earlier patch releases that no index names any more but whose
#      .dsc is still in the pool (a few minor versions below the newest
#      known one, with the Debian revisions the index uses).  The .dsc must
#      carry a good signature by a key in Debian's developer keyring
#      (package debian-keyring, checked with gpgv); the tarball's SHA-256 is
#      taken from the signed part of that .dsc only.
#   3. pinned: test/pg-known-good, tarballs whose SHA-256 was copied from a
#      signed source when the entry was added.
#
# Then it installs missing build dependencies (as root, through apt, saying
# so), configures with --enable-tap-tests --enable-cassert --enable-debug,
# builds with make -j$(nproc), and installs into $LG_PG_CACHE/pg-MAJOR, with
# the TAP modules and pg_regress in its pgxs directory as Debian's
# postgresql-server-dev-NN has them.  It says which version it built and
# why (newest indexed, older indexed, pool, pinned).
#
# The cache directory: $LG_PG_CACHE, or /var/cache/leakguard-pg as root,
# ~/.cache/leakguard-pg otherwise.  An installation there is reused when
# its stamp file (pg-MAJOR/.leakguard-pg-build) records the same configure
# options and the installation is complete; nothing is downloaded then.
#   --refresh   also ask the archive for its newest version; rebuild if newer
#   --rebuild   build even if the cache is complete
#   --fetch-only  select, download and verify the tarball, say which, stop
#                 (what test/pg-build-test.sh runs, against a local mirror)
#   --print-pg-config   progress on stderr; only the pg_config path on stdout
# Prints the path of pg_config last, so that callers can do
#   PG_CONFIG=$(test/pg-build.sh 17 --print-pg-config) make test
#
# Environment: LG_PG_CACHE; LG_PG_SUITES (suites to search, first
# preferred; a suite ending in -security is read from the security
# mirror); LG_DEBIAN_MIRROR and LG_DEBIAN_SECURITY_MIRROR (default: read
# from /etc/apt); LG_PG_JOBS (make -j); LG_PG_POOL_DEPTH (how many patch
# releases below the newest known one to look for in the pool, default 4);
# for tests only: LG_ARCHIVE_KEYRING, LG_UPLOADER_KEYRING (the keyrings
# that sign the indexes and the .dsc files) and LG_PG_KNOWN_GOOD (the
# pinned list).
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
umask 022

usage() { echo "usage: $0 MAJOR [--print-pg-config] [--refresh] [--rebuild] [--fetch-only]" >&2; exit 2; }

major=""
print_only=0 refresh=0 rebuild=0 fetch_only=0
for arg in "$@"; do
    case "$arg" in
        --print-pg-config) print_only=1 ;;
        --refresh) refresh=1 ;;
        --rebuild) rebuild=1 ;;
        --fetch-only) fetch_only=1 ;;
        [1-9][0-9]) [ -z "$major" ] || usage; major=$arg ;;
        *) usage ;;
    esac
done
[ -n "$major" ] || usage

# --print-pg-config: everything but the final path goes to stderr.
exec 3>&1
[ $print_only = 1 ] && exec 1>&2

case "$major" in
    17) default_suites="trixie trixie-security" ;;
    18) default_suites="sid testing forky experimental" ;;
    *) default_suites="" ;;
esac
suites=${LG_PG_SUITES:-$default_suites}
[ -n "$suites" ] || { echo "no Debian suite known for PostgreSQL $major; set LG_PG_SUITES" >&2; exit 2; }
main_suites="" security_suites=""
for s in $suites; do
    case "$s" in
        *-security) security_suites="$security_suites $s" ;;
        *) main_suites="$main_suites $s" ;;
    esac
done

if [ -n "${LG_PG_CACHE:-}" ]; then
    cache=$LG_PG_CACHE
elif [ "$(id -u)" = 0 ]; then
    cache=/var/cache/leakguard-pg
else
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/leakguard-pg
fi
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# The tests run the servers and pg_regress as an unprivileged user (as
# root: postgres), who must reach the build: a directory made private
# (mktemp -d) is opened for reading, and a parent that stays closed is an
# error now rather than a "Permission denied" from every test later.
chmod go+rx "$cache"
if [ "$(id -u)" = 0 ]; then
    d=$cache
    while [ "$d" != / ]; do
        if ! runuser -u postgres -- test -x "$d" 2>/dev/null && id postgres >/dev/null 2>&1; then
            echo "the cache directory $cache is not reachable by user postgres (at $d); choose another LG_PG_CACHE" >&2
            exit 1
        fi
        d=$(dirname "$d")
    done
fi
prefix=$cache/pg-$major
stamp=$prefix/.leakguard-pg-build
keyring=${LG_ARCHIVE_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
uploader_keyring=${LG_UPLOADER_KEYRING:-/usr/share/keyrings/debian-keyring.gpg}
known_good=${LG_PG_KNOWN_GOOD:-$PWD/test/pg-known-good}
pool_depth=${LG_PG_POOL_DEPTH:-4}
jobs=${LG_PG_JOBS:-$(nproc)}
configure_opts="--prefix=$prefix --enable-tap-tests --enable-cassert --enable-debug --without-icu --without-readline --without-llvm CFLAGS=-O2"
build_packages="build-essential bison flex zlib1g-dev pkg-config perl bzip2 libipc-run-perl"
fetch_packages="debian-archive-keyring gpgv xz-utils"

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
    echo "PostgreSQL $(stamp_value version) ($(stamp_value source); $(stamp_value reason)) in $prefix; pg_config:"
    echo "$prefix/bin/pg_config" >&3
    exit 0
}

if [ $fetch_only = 0 ] && [ $rebuild = 0 ] && [ $refresh = 0 ] && cache_complete; then
    lg_say "using the cached build of PostgreSQL $(stamp_value version) in $prefix ($(stamp_value reason))"
    finish
fi

# The mirrors of the machine's own apt sources: the first URI of an enabled
# deb or deb-src source whose suites are (or, with "security", are not)
# *-security, from sources.list(.d); one ending in /debian preferred.
debian_mirror() {	# debian_mirror main|security
    perl -e '
        my $want_security = $ARGV[0] eq "security";
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
                    next if (($h{suites} // "") =~ /-security\b/) != $want_security;
                    push @uris, split " ", $h{uris} // "";
                }
            } else {
                while (<$fh>) {
                    next unless /^\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/;
                    push @uris, $1 if (($2 =~ /-security\b/) == $want_security);
                }
            }
        }
        my $end = $want_security ? qr{/debian-security/?$} : qr{/debian/?$};
        my ($u) = (grep({ $_ =~ $end } @uris), @uris);
        defined $u or exit 1;
        $u =~ s{/+$}{};
        print "$u\n";' "$1"
}
mirror=${LG_DEBIAN_MIRROR:-$(debian_mirror main)} || {
    echo "no Debian mirror found in /etc/apt/sources.list(.d); set LG_DEBIAN_MIRROR" >&2
    exit 1
}
security_mirror=""
if [ -n "$security_suites" ]; then
    security_mirror=${LG_DEBIAN_SECURITY_MIRROR:-$(debian_mirror security || true)}
    if [ -z "$security_mirror" ]; then
        case "$mirror" in
            */debian) security_mirror=$mirror-security ;;
            *) echo "no Debian security mirror found for$security_suites; set LG_DEBIAN_SECURITY_MIRROR" >&2
               exit 1 ;;
        esac
    fi
fi

if [ $fetch_only = 1 ]; then
    lg_install_packages $fetch_packages
else
    lg_install_packages $build_packages $fetch_packages
fi
[ -r "$keyring" ] || { echo "$keyring is missing (package debian-archive-keyring)" >&2; exit 1; }

# The private apt configuration: only deb-src entries of $suites, its own
# lists and cache; the machine's apt.conf.d (proxies and such) still applies.
aptdir=$cache/apt
rm -rf "$aptdir/sources.list.d"
mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
{
    if [ -n "$main_suites" ]; then
        printf 'Types: deb-src\nURIs: %s\nSuites:%s\nComponents: main\nSigned-By: %s\n\n' \
            "$mirror" "$main_suites" "$keyring"
    fi
    if [ -n "$security_suites" ]; then
        printf 'Types: deb-src\nURIs: %s\nSuites:%s\nComponents: main\nSigned-By: %s\n' \
            "$security_mirror" "$security_suites" "$keyring"
    fi
} > "$aptdir/sources.list.d/postgresql.sources"
cat > "$aptdir/apt.conf" <<EOF
Dir::Etc::sourcelist "/dev/null";
Dir::Etc::sourceparts "$aptdir/sources.list.d";
Dir::State::lists "$aptdir/lists";
Dir::Cache "$aptdir/cache";
EOF
export APT_CONFIG=$aptdir/apt.conf

lg_say "reading the Sources index of$main_suites from $mirror${security_suites:+ and of$security_suites from $security_mirror} (private apt configuration $APT_CONFIG, signatures checked with $keyring)"
rc=0
apt-get update -q >"$aptdir/update.log" 2>&1 || rc=$?
if grep -qE "GPG error|NO_PUBKEY|EXPKEYSIG|is not signed|signatures? (was|were) invalid|couldn't be verified" "$aptdir/update.log"; then
    cat "$aptdir/update.log"
    echo "SIGNATURE VERIFICATION FAILED: the Release file of a suite in '$suites' is not signed" \
         "by a key in $keyring (too old a debian-archive-keyring for that suite?); nothing was built" >&2
    exit 1
fi
# A suite that does not exist (experimental may have no postgresql-18, a
# suite may be renamed) is no reason to stop while another was read.
if [ $rc != 0 ] || grep -q "^E:" "$aptdir/update.log"; then
    grep -E "^(E|W):" "$aptdir/update.log" | sed 's/^/  apt: /' || true
    echo "WARNING: apt-get update with the private configuration reported errors (above); using the indexes it could read"
fi

# The source package's versions in the indexes that could be read, one line
# each, newest first (Debian version order):
# version base-url directory dsc-name dsc-sha256 orig-name orig-sha256
# A Directory under pool/updates/ is the security archive's.
indexed_candidates() {
    apt-cache showsrc --only-source "postgresql-$major" 2>/dev/null | perl -e '
        my ($mirror, $security) = @ARGV;
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
            my $base = $d =~ m{^pool/updates/} && $security ne "" ? $security : $mirror;
            print "$v $base $d $dsc->[0] $dsc->[1] $orig->[0] $orig->[1]\n" if $dsc && $orig;
        }' "$mirror" "$security_mirror" | sort -u | sort_versions
}

# Sort lines whose first word is a Debian version, newest first.
sort_versions() {
    perl -e '
        my @l = <STDIN>;
        my %seen;
        @l = grep { !$seen{$_}++ } @l;
        sub cmpv { my ($a, $b) = @_;
            return 0 if $a eq $b;
            return system("dpkg", "--compare-versions", $a, "gt", $b) == 0 ? -1 : 1 }
        print sort { cmpv((split " ", $a)[0], (split " ", $b)[0]) } @l;'
}

mapfile -t indexed < <(indexed_candidates)
if [ ${#indexed[@]} -gt 0 ]; then
    newest=${indexed[0]%% *}
    echo "the indexes list postgresql-$major: $(printf '%s ' "${indexed[@]%% *}")(newest $newest)"
else
    newest=""
    echo "WARNING: no index of$suites lists postgresql-$major"
fi

if [ $fetch_only = 0 ] && [ $refresh = 1 ] && [ $rebuild = 0 ] && cache_complete &&
   [ "$(stamp_value source)" = "postgresql-$major $newest" ]; then
    lg_say "the cached build of PostgreSQL $(stamp_value version) in $prefix is the archive's newest"
    finish
fi

dl=$cache/downloads
mkdir -p "$dl"
# apt downloads as _apt when it can; give it the directory.
[ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1 && chown _apt "$dl"
fetch() {	# fetch URL FILE [SHA256]: download (with the checksum, if given)
    if [ -n "${3:-}" ] && [ -f "$dl/$2" ] && echo "$3  $dl/$2" | sha256sum -c --quiet >/dev/null 2>&1; then
        echo "already downloaded: $2"
        return 0
    fi
    rm -f "$dl/$2"
    /usr/lib/apt/apt-helper download-file "$1" "$dl/$2" ${3:+"SHA256:$3"} >>"$dl/fetch.log" 2>&1 || {
        echo "  not there: $1"
        return 1
    }
    echo "  downloaded: $1"
}
sha256_in_dsc() {	# sha256_in_dsc DSC-TEXT-FILE NAME
    awk -v f="$2" '/^Checksums-Sha256:/ { in_sums = 1; next }
                   /^[^ ]/ { in_sums = 0 }
                   in_sums && $3 == f { print $1 }' "$1"
}

# What was chosen: the tarball, its SHA-256, and why.
version="" orig="" orig_sha="" reason="" origin=""

# 1. indexed versions, newest first
for c in "${indexed[@]}"; do
    read -r v base dir dsc dsc_sha o o_sha <<<"$c"
    lg_say "indexed: postgresql-$major $v from $base/$dir"
    fetch "$base/$dir/$dsc" "$dsc" "$dsc_sha" && fetch "$base/$dir/$o" "$o" "$o_sha" || {
        echo "WARNING: postgresql-$major $v is indexed but could not be downloaded; trying the next candidate" >&2
        continue
    }
    if ! echo "$o_sha  $dl/$o" | sha256sum -c --quiet; then
        echo "REFUSED: $o does not have the SHA-256 of the signed index ($o_sha)" >&2
        continue
    fi
    if [ "$(sha256_in_dsc "$dl/$dsc" "$o")" != "$o_sha" ]; then
        echo "REFUSED: $o: its SHA-256 in $dsc differs from the signed index ($o_sha)" >&2
        continue
    fi
    version=$v orig=$o orig_sha=$o_sha origin="$base/$dir"
    if [ "$v" = "$newest" ]; then
        reason="newest indexed version, SHA-256 from the signed Sources index and the .dsc"
    else
        reason="older indexed version (the newest, $newest, could not be downloaded), SHA-256 from the signed Sources index and the .dsc"
    fi
    break
done

# The pinned list: major version file sha256 directory
pinned() {
    [ -r "$known_good" ] || return 0
    awk -v m="$major" '$1 == m { print $2, $3, $4, $5 }' "$known_good" | sort_versions
}

# 2. the pool: earlier patch releases whose signed .dsc is still there
if [ -z "$version" ]; then
    # the newest version known from the index or the pinned list, and the
    # Debian revisions to try: those the index uses, and their neighbours
    basis=$( { for c in "${indexed[@]}"; do echo "${c%% *}"; done; pinned | awk '{ print $1 "-1" }'; } | sort_versions | head -n 1)
    if [ -z "$basis" ]; then
        echo "WARNING: no version of postgresql-$major is known from an index or $known_good; the pool is not searched"
    else
        upstream_basis=${basis%-*}
        minor=${upstream_basis#*.}
        revisions=$( {
            for c in "${indexed[@]}" "$basis"; do
                r=${c%% *}; r=${r##*-}
                case "$r" in
                    *u[0-9]*) for n in 3 2 1; do echo "${r%u*}u$n"; done ;;
                    [0-9]) for n in 5 4 3 2 1; do echo "$n"; done ;;
                    *) echo "$r" ;;
                esac
            done; } | awk '!seen[$0]++')
        pool_dirs="$mirror/pool/main/p/postgresql-$major"
        [ -z "$security_mirror" ] || pool_dirs="$pool_dirs $security_mirror/pool/updates/main/p/postgresql-$major"
        # The machine's own apt, not the private configuration exported
        # above for reading the Sources indexes: that one knows no packages.
        [ -r "$uploader_keyring" ] || (unset APT_CONFIG; lg_install_packages debian-keyring)
        [ -r "$uploader_keyring" ] || { echo "$uploader_keyring is missing (package debian-keyring)" >&2; exit 1; }
        lg_say "pool: patch releases of postgresql-$major below $upstream_basis whose .dsc is signed by a key in $uploader_keyring"
        m=$((minor - 1))
        while [ -z "$version" ] && [ $m -ge 0 ] && [ $m -ge $((minor - pool_depth)) ]; do
            for r in $revisions; do
                v="$major.$m-$r" dsc="postgresql-${major}_$major.$m-$r.dsc"
                for pd in $pool_dirs; do
                    fetch "$pd/$dsc" "$dsc" || continue
                    if ! gpgv --keyring "$uploader_keyring" --output "$dl/$dsc.signed" "$dl/$dsc" \
                            >"$dl/$dsc.gpgv" 2>&1; then
                        sed 's/^/    /' "$dl/$dsc.gpgv"
                        echo "REFUSED: $pd/$dsc has no good signature by a key in $uploader_keyring" >&2
                        rm -f "$dl/$dsc" "$dl/$dsc.signed"
                        continue
                    fi
                    # only the signed part counts
                    if ! grep -qx "Source: postgresql-$major" "$dl/$dsc.signed" ||
                       ! grep -qx "Version: $v" "$dl/$dsc.signed"; then
                        echo "REFUSED: the signed part of $dsc is not postgresql-$major $v" >&2
                        continue
                    fi
                    o=$(awk '/^Checksums-Sha256:/ { s = 1; next } /^[^ ]/ { s = 0 }
                             s && $3 ~ /\.orig\.tar\.[a-z0-9]+$/ { print $3 }' "$dl/$dsc.signed")
                    o_sha=$(sha256_in_dsc "$dl/$dsc.signed" "$o")
                    signer=$(sed -n 's/.*Good signature from "\([^"]*\)".*/\1/p' "$dl/$dsc.gpgv" | head -n 1)
                    if [ -z "$o" ] || [ -z "$o_sha" ]; then
                        echo "REFUSED: the signed part of $dsc names no .orig tarball with a SHA-256" >&2
                        continue
                    fi
                    echo "  $dsc: good signature from $signer"
                    fetch "$pd/$o" "$o" "$o_sha" || continue
                    version=$v orig=$o orig_sha=$o_sha origin=$pd
                    reason="pool (no index names it; SHA-256 from its .dsc, signed by $signer)"
                    break 2
                done
            done
            m=$((m - 1))
        done
    fi
fi

# 3. the pinned list
if [ -z "$version" ]; then
    lg_say "pinned: $known_good"
    while read -r v o o_sha dir; do
        [ -n "$v" ] || continue
        for base in "$mirror" ${security_mirror:+"$security_mirror"}; do
            fetch "$base/$dir/$o" "$o" "$o_sha" || continue
            version=$v orig=$o orig_sha=$o_sha origin="$base/$dir"
            reason="pinned fallback ($(basename "$known_good"); SHA-256 recorded from a signed source)"
            break 2
        done
    done < <(pinned)
fi

if [ -z "$version" ]; then
    cat >&2 <<EOF
ERROR: no verified source of PostgreSQL $major could be had: no version that
the signed indexes of$suites list could be downloaded from $mirror${security_mirror:+ or $security_mirror},
no earlier patch release with a signed .dsc is left in the pool, and no
tarball of $known_good could be downloaded with its SHA-256.  Nothing was built.
What to do: point LG_DEBIAN_MIRROR (and LG_DEBIAN_SECURITY_MIRROR) at a mirror
or snapshot that still serves a release; or add a line to $known_good with a
tarball's SHA-256 copied from a signed .dsc or Sources index; or test against
an installed PostgreSQL $major with make test PG_CONFIG=/path/to/pg_config.
EOF
    exit 1
fi

# Whatever the stage, check the tarball once more before it is used.
echo "$orig_sha  $dl/$orig" | sha256sum -c --quiet || {
    echo "REFUSED: $orig does not have the SHA-256 $orig_sha; nothing was built" >&2
    exit 1
}
lg_say "selected postgresql-$major $version: $orig from $origin; $reason; SHA-256 $orig_sha verified"
if [ $fetch_only = 1 ]; then
    echo "selected $version $orig"
    exit 0
fi

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
reason=$reason
origin=$origin
orig=$orig
orig_sha256=$orig_sha
configure=$configure_opts
built=$(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - start )) s
EOF
cache_complete || { echo "the installation in $prefix is incomplete" >&2; exit 1; }
rm -rf "$build"
lg_say "PostgreSQL $upstream built and installed in $(( $(date +%s) - start )) s"
finish
