#!/usr/bin/env bash
# make deb: builds the Debian package postgresql-NN-leakguard (NN: the
# PostgreSQL versions debian/pgversions lists and this distribution
# supports: 15 on Debian 12) with postgresql-common's pg_buildext, from a
# copy of the working tree (the files git tracks or would track, as they
# are now), with dpkg-buildpackage -us -uc -b.
#
#   1. installs missing build dependencies (as root, through apt, saying so):
#      build-essential, debhelper, postgresql-server-dev-all, dpkg-dev;
#   2. checks that leakguard.control, META.json and debian/changelog agree
#      on the version (test/check-meta.pl);
#   3. builds in a scratch directory, regenerating debian/control from
#      debian/control.in for this distribution's PostgreSQL versions;
#   4. puts the .deb files (and .buildinfo, .changes) in $LG_DEB_DIR,
#      default build/deb/ (ignored by git), and prints their paths:
#      postgresql-NN-leakguard and leakguard-monitoring (architecture all:
#      monitoring/ in /usr/share/leakguard/monitoring/).
#
# LG_DEB_INDEP=1 builds leakguard-monitoring alone (dpkg-buildpackage -A),
# as test/fleet/monitoring-test.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

out=${LG_DEB_DIR:-$PWD/build/deb}
lg_install_packages build-essential dpkg-dev debhelper postgresql-server-dev-all

lg_say "checking that leakguard.control, META.json and debian/changelog agree"
perl test/check-meta.pl
version=$(dpkg-parsechangelog -S Version)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/leakguard-deb.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
src=$scratch/leakguard-$version
mkdir -p "$src"
lg_say "copying the working tree to $src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # tracked files and new ones git does not ignore, as they are on disk
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude=.git --exclude=build -cf - . | tar -xf - -C "$src"
    make -s -C "$src" clean >/dev/null 2>&1 || true
fi

what=-b
[ -n "${LG_DEB_INDEP:-}" ] && what=-A
lg_say "dpkg-buildpackage -us -uc $what (PostgreSQL versions: $(cd "$src" && pg_buildext supported-versions | tr '\n' ' '))"
# PG_UPDATECONTROL: pg_buildext checkcontrol rewrites debian/control for the
# PostgreSQL versions of this machine instead of stopping the build.
(cd "$src" && PG_UPDATECONTROL=yes dpkg-buildpackage -us -uc "$what") >"$scratch/build.log" 2>&1 || {
    tail -n 80 "$scratch/build.log"
    cp "$scratch/build.log" "${TMPDIR:-/tmp}/leakguard-deb-build.log"
    echo "dpkg-buildpackage failed; the whole log is ${TMPDIR:-/tmp}/leakguard-deb-build.log" >&2
    exit 1
}
grep -E "^dpkg-deb: building package" "$scratch/build.log" || true

mkdir -p "$out"
rm -f "$out"/postgresql-*-leakguard*_"$version"_*.deb "$out"/leakguard-monitoring_"$version"_all.deb \
      "$out"/leakguard_"$version"_*.buildinfo \
      "$out"/leakguard_"$version"_*.changes
cp "$scratch"/*.deb "$scratch"/*.buildinfo "$scratch"/*.changes "$out"/
lg_say "built into $out:"
ls -1 "$out"/*_"$version"_*.deb
