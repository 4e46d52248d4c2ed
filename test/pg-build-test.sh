#!/usr/bin/env bash
# test/pg-build-test.sh: how test/pg-build.sh chooses a PostgreSQL tarball,
# with no network.
#
# Builds a local Debian mirror (file://) whose Release files are signed by a
# throw-away "archive" key, whose .dsc files are signed by a throw-away
# "uploader" key (or by a rogue key nobody trusts), and whose pool lacks the
# newest indexed version, as the real archive does after a point release.
# Then runs test/pg-build.sh MAJOR --fetch-only against it with those keys
# (LG_ARCHIVE_KEYRING, LG_UPLOADER_KEYRING) and a pinned list
# (LG_PG_KNOWN_GOOD), and checks which candidate it selects, and that it
# never selects one whose SHA-256 was not checked against a signed source:
#
#   indexed   the newest indexed version is missing; an older indexed one
#             (in a -security suite, on the security mirror) is chosen
#   pool      no indexed version can be had; a .dsc signed by a rogue key
#             is refused, the next earlier one with a good signature is
#             chosen, with the tarball's SHA-256 from its signed part
#   tampered  a well-signed .dsc whose tarball was replaced: refused
#   pinned    nothing in the index or pool; the pinned list's entry with a
#             wrong SHA-256 is refused, the next one is chosen
#   nothing   no verified candidate: fails, saying what to do
#   badindex  an index signed by the rogue key: fails before anything
#
# Prints "N passed, M failed"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
lg_install_packages gnupg gpgv xz-utils

root=$(mktemp -d "${TMPDIR:-/tmp}/leakguard-pg-build-test.XXXXXX")
chmod 755 "$root"
trap 'gpgconf --homedir "$root/gnupg" --kill all >/dev/null 2>&1 || true; rm -rf "$root"' EXIT
export GNUPGHOME=$root/gnupg
mkdir -m 700 "$GNUPGHOME"

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }

# Keys: the archive's, the uploader's, and one nobody trusts.
for who in archive uploader rogue; do
    gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
        --quick-gen-key "Test $who <$who@leakguard.invalid>" ed25519 sign never
    gpg --batch --quiet --export "$who@leakguard.invalid" >"$root/$who.gpg"
done

major=17
# make_tarball VERSION: a stand-in upstream tarball
make_tarball() {
    local d=$root/src/postgresql-$1
    mkdir -p "$d"
    echo "PostgreSQL $1 stand-in" >"$d/README"
    tar -C "$root/src" -cjf "$root/src/postgresql-${major}_$1.orig.tar.bz2" "postgresql-$1"
}

# make_dsc MIRROR DIR VERSION-REVISION SIGNER: a .dsc in the pool for the
# tarball of that upstream version (copied into the pool), signed by SIGNER
# ("none" for unsigned); prints "dsc-name dsc-sha orig-name orig-sha"
make_dsc() {
    local mirror=$1 dir=$2 v=$3 signer=$4 up=${3%-*}
    local orig=postgresql-${major}_$up.orig.tar.bz2 dsc=postgresql-${major}_$v.dsc
    [ -f "$root/src/$orig" ] || make_tarball "$up"
    mkdir -p "$mirror/$dir"
    cp "$root/src/$orig" "$mirror/$dir/$orig"
    local sha size
    sha=$(sha256sum "$mirror/$dir/$orig" | cut -c1-64)
    size=$(stat -c %s "$mirror/$dir/$orig")
    cat >"$root/$dsc.txt" <<EOF
Format: 3.0 (quilt)
Source: postgresql-$major
Version: $v
Checksums-Sha256:
 $sha $size $orig
EOF
    if [ "$signer" = none ]; then
        cp "$root/$dsc.txt" "$mirror/$dir/$dsc"
    else
        gpg --batch --quiet --yes --local-user "$signer@leakguard.invalid" --clearsign \
            -o "$mirror/$dir/$dsc" "$root/$dsc.txt"
    fi
    echo "$dsc $(sha256sum "$mirror/$dir/$dsc" | cut -c1-64) $orig $sha"
}

# make_index MIRROR SUITE SIGNER ENTRY...: a signed Sources index; each
# ENTRY is "version directory dsc dsc-sha orig orig-sha" (files need not exist)
make_index() {
    local mirror=$1 suite=$2 signer=$3 e
    shift 3
    local d=$mirror/dists/$suite
    mkdir -p "$d/main/source"
    : >"$d/main/source/Sources"
    for e in "$@"; do
        read -r v dir dsc dsc_sha orig orig_sha <<<"$e"
        cat >>"$d/main/source/Sources" <<EOF
Package: postgresql-$major
Version: $v
Directory: $dir
Checksums-Sha256:
 $dsc_sha 100 $dsc
 $orig_sha 1000 $orig

EOF
    done
    xz -k "$d/main/source/Sources"
    {
        echo "Origin: leakguard test"
        echo "Suite: $suite"
        echo "Codename: $suite"
        echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
        echo "Components: main"
        echo "SHA256:"
        for f in main/source/Sources main/source/Sources.xz; do
            echo " $(sha256sum "$d/$f" | cut -c1-64) $(stat -c %s "$d/$f") $f"
        done
    } >"$d/Release"
    gpg --batch --quiet --yes --local-user "$signer@leakguard.invalid" --clearsign -o "$d/InRelease" "$d/Release"
}

missing="0000000000000000000000000000000000000000000000000000000000000000"

# run_build NAME SUITES [ENV...]: test/pg-build.sh --fetch-only against the
# mirrors of scenario NAME; output in $root/NAME.log, status in $rc
run_build() {
    local name=$1 suites=$2
    shift 2
    rc=0
    env LG_PG_CACHE="$root/cache-$name" LG_PG_SUITES="$suites" \
        LG_DEBIAN_MIRROR="file://$root/$name/debian" \
        LG_DEBIAN_SECURITY_MIRROR="file://$root/$name/debian-security" \
        LG_ARCHIVE_KEYRING="$root/archive.gpg" LG_UPLOADER_KEYRING="$root/uploader.gpg" \
        LG_PG_KNOWN_GOOD="$root/$name/known-good" "$@" \
        ./test/pg-build.sh $major --fetch-only >"$root/$name.log" 2>&1 || rc=$?
}
expect_selected() {	# expect_selected NAME VERSION WHY-PATTERN
    if [ "$rc" = 0 ] && grep -qx "selected $2 .*" "$root/$1.log" &&
       grep -qE "^==> selected postgresql-$major $2: .*$3" "$root/$1.log"; then
        ok "$1: selects $2 ($3)"
    else
        not_ok "$1: selects $2 ($3)"
        sed 's/^/    /' "$root/$1.log"
    fi
}
expect_in_log() {	# expect_in_log NAME PATTERN WHAT
    if grep -qE "$2" "$root/$1.log"; then ok "$1: $3"; else not_ok "$1: $3"; sed 's/^/    /' "$root/$1.log"; fi
}
pool=pool/main/p/postgresql-$major
secpool=pool/updates/main/p/postgresql-$major

# indexed: 17.99-1 is indexed (main) but not in the pool; 17.96-1 is indexed
# in the -security suite and is there.
m=$root/indexed
e96=$(make_dsc "$m/debian-security" "$secpool" 17.96-1 uploader)
make_index "$m/debian" t1 archive "17.99-1 $pool postgresql-17_17.99-1.dsc $missing postgresql-17_17.99.orig.tar.bz2 $missing"
read -r dsc dsc_sha orig orig_sha <<<"$e96"
make_index "$m/debian-security" t1-security archive "17.96-1 $secpool $dsc $dsc_sha $orig $orig_sha"
run_build indexed "t1 t1-security"
expect_selected indexed 17.96-1 "older indexed version \(the newest, 17.99-1, could not be downloaded\)"

# pool: nothing indexed can be had; 17.98-1's .dsc is signed by the rogue
# key, 17.97-1's by the uploader.
m=$root/pool
make_index "$m/debian" t1 archive "17.99-1 $pool postgresql-17_17.99-1.dsc $missing postgresql-17_17.99.orig.tar.bz2 $missing"
make_dsc "$m/debian" "$pool" 17.98-1 rogue >/dev/null
make_dsc "$m/debian" "$pool" 17.97-1 uploader >/dev/null
run_build pool t1
expect_selected pool 17.97-1 "pool \(no index names it; SHA-256 from its .dsc, signed by Test uploader"
expect_in_log pool "REFUSED: .*postgresql-17_17.98-1.dsc has no good signature" "refuses the .dsc signed by an unknown key"

# tampered: 17.98-1 is well signed but its tarball was replaced; nothing
# else is there, so nothing is selected.
m=$root/tampered
make_index "$m/debian" t1 archive "17.99-1 $pool postgresql-17_17.99-1.dsc $missing postgresql-17_17.99.orig.tar.bz2 $missing"
make_dsc "$m/debian" "$pool" 17.98-1 uploader >/dev/null
echo "not PostgreSQL" >"$m/debian/$pool/postgresql-17_17.98.orig.tar.bz2"
run_build tampered t1 LG_PG_POOL_DEPTH=1
if [ "$rc" != 0 ] && ! grep -q "^selected" "$root/tampered.log"; then
    ok "tampered: a tarball that does not match its signed .dsc is never selected"
else
    not_ok "tampered: a tarball that does not match its signed .dsc is never selected"
    sed 's/^/    /' "$root/tampered.log"
fi

# unsigned: an unsigned .dsc in the pool is refused too.
m=$root/unsigned
make_index "$m/debian" t1 archive "17.99-1 $pool postgresql-17_17.99-1.dsc $missing postgresql-17_17.99.orig.tar.bz2 $missing"
make_dsc "$m/debian" "$pool" 17.98-1 none >/dev/null
run_build unsigned t1 LG_PG_POOL_DEPTH=1
if [ "$rc" != 0 ] && grep -q "REFUSED: .*17.98-1.dsc has no good signature" "$root/unsigned.log"; then
    ok "unsigned: an unsigned .dsc is refused"
else
    not_ok "unsigned: an unsigned .dsc is refused"
    sed 's/^/    /' "$root/unsigned.log"
fi

# pinned: nothing indexed or in the pool; the pinned 17.95 has a wrong
# SHA-256, 17.94 the right one.
m=$root/pinned
make_index "$m/debian" t1 archive "17.99-1 $pool postgresql-17_17.99-1.dsc $missing postgresql-17_17.99.orig.tar.bz2 $missing"
make_tarball 17.95
make_tarball 17.94
mkdir -p "$m/debian/$pool"
cp "$root/src/postgresql-17_17.95.orig.tar.bz2" "$root/src/postgresql-17_17.94.orig.tar.bz2" "$m/debian/$pool/"
{
    echo "# test list"
    echo "17 17.95 postgresql-17_17.95.orig.tar.bz2 $(sha256sum "$root/src/postgresql-17_17.94.orig.tar.bz2" | cut -c1-64) $pool"
    echo "17 17.94 postgresql-17_17.94.orig.tar.bz2 $(sha256sum "$root/src/postgresql-17_17.94.orig.tar.bz2" | cut -c1-64) $pool"
    echo "18 18.94 postgresql-18_18.94.orig.tar.bz2 $missing pool/main/p/postgresql-18"
} >"$m/known-good"
run_build pinned t1 LG_PG_POOL_DEPTH=2
expect_selected pinned 17.94 "pinned fallback"
expect_in_log pinned "not there: .*postgresql-17_17.95.orig.tar.bz2" "the pinned entry whose SHA-256 does not match is not taken"

# nothing: no candidate at all
m=$root/nothing
make_index "$m/debian" t1 archive "17.99-1 $pool postgresql-17_17.99-1.dsc $missing postgresql-17_17.99.orig.tar.bz2 $missing"
run_build nothing t1 LG_PG_POOL_DEPTH=1
if [ "$rc" != 0 ] && grep -q "no verified source of PostgreSQL 17 could be had" "$root/nothing.log" &&
   grep -q "^What to do:" "$root/nothing.log"; then
    ok "nothing: fails and says what to do"
else
    not_ok "nothing: fails and says what to do"
    sed 's/^/    /' "$root/nothing.log"
fi

# badindex: the index is signed by the rogue key
m=$root/badindex
e=$(make_dsc "$m/debian" "$pool" 17.93-1 uploader)
read -r dsc dsc_sha orig orig_sha <<<"$e"
make_index "$m/debian" t1 rogue "17.93-1 $pool $dsc $dsc_sha $orig $orig_sha"
run_build badindex t1
if [ "$rc" != 0 ] && grep -q "SIGNATURE VERIFICATION FAILED" "$root/badindex.log" &&
   ! grep -q "^selected" "$root/badindex.log"; then
    ok "badindex: an index not signed by the archive key stops everything"
else
    not_ok "badindex: an index not signed by the archive key stops everything"
    sed 's/^/    /' "$root/badindex.log"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
