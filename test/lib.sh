# test/lib.sh: shared by run-tests.sh, demo.sh and bench/run.sh.
#
# Installs what is missing (as root, through apt, saying so), finds the
# PostgreSQL 15 installation, and runs commands as an unprivileged user:
# PostgreSQL refuses to run as root.

LG_PG_MAJOR=${LG_PG_MAJOR:-15}
LG_PACKAGES="postgresql-$LG_PG_MAJOR postgresql-server-dev-$LG_PG_MAJOR libkrb5-dev postgresql-contrib libipc-run-perl build-essential clang libclang-rt-14-dev"
LG_SANITIZE_PACKAGES="valgrind"

lg_say() { printf '\n==> %s\n' "$*"; }

# Install the Debian packages this project needs, if any is missing.
lg_ensure_packages() {
    local missing="" p
    for p in $LG_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing packages:$missing; run as root, or install them with apt-get" >&2
        return 1
    fi
    lg_say "installing missing packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

lg_setup_paths() {
    PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$LG_PG_MAJOR/bin/pg_config}
    [ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config)
    PG_BINDIR=$("$PG_CONFIG" --bindir)
    # .../lib/pgxs/src/makefiles/pgxs.mk -> .../lib/pgxs
    PGXS_DIR=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/../.." && pwd)
    export PG_CONFIG PG_BINDIR PGXS_DIR
    export PATH="$PG_BINDIR:$PATH"
}

# The user servers run as: the caller, or "postgres" when called as root.
lg_setup_user() {
    if [ "$(id -u)" = 0 ]; then
        LG_USER=postgres
        id "$LG_USER" >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash "$LG_USER"
    else
        LG_USER=$(id -un)
    fi
    export LG_USER
}

# Run a command as LG_USER, keeping the environment this script set up.
lg_as_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$LG_USER" -- env PATH="$PATH" \
            ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
            ${PG_TEST_TIMEOUT_DEFAULT:+PG_TEST_TIMEOUT_DEFAULT="$PG_TEST_TIMEOUT_DEFAULT"} \
            ${PGCTLTIMEOUT:+PGCTLTIMEOUT="$PGCTLTIMEOUT"} "$@"
    else
        "$@"
    fi
}

# A bin directory whose "postgres" runs the real one under valgrind memcheck,
# logging to DIR/sanitizer/vg.PID.log.  pg_ctl is copied, not linked: it
# looks for postgres next to its own resolved path.  initdb stays a link, so
# bootstrapping runs at full speed.
lg_valgrind_bindir() {
    local work=$1 bin=$1/valgrind-bin f
    mkdir -p "$bin" "$work/sanitizer"
    for f in "$PG_BINDIR"/*; do
        ln -sf "$f" "$bin/$(basename "$f")"
    done
    rm -f "$bin/pg_ctl" "$bin/postgres"
    cp "$PG_BINDIR/pg_ctl" "$bin/pg_ctl"
    cat > "$bin/postgres" <<WRAP
#!/bin/sh
case "\$1" in -V|--version|-C|--describe-config) exec "$PG_BINDIR/postgres" "\$@";; esac
exec valgrind --quiet --tool=memcheck --error-limit=no --num-callers=40 \\
    --read-var-info=no --trace-children=no --log-file="$work/sanitizer/vg.%p.log" \\
    "$PG_BINDIR/postgres" "\$@"
WRAP
    chmod 755 "$bin/postgres"
    [ "$(id -u)" = 0 ] && chown -R "$LG_USER" "$work/sanitizer"
    echo "$bin"
}

# A scratch directory owned by LG_USER.
lg_workdir() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/leakguard-$1.XXXXXX")
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown "$LG_USER" "$dir"
    echo "$dir"
}

# What every entry point does first: packages, paths, user, build, install.
lg_prepare() {
    lg_ensure_packages
    lg_setup_paths
    lg_setup_user
    lg_build_install
}

# Build with warnings as errors and install.
lg_build_install() {
    lg_say "building leakguard with -Werror"
    make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
    make -s PG_CONFIG="$PG_CONFIG" COPT="-Werror ${LG_EXTRA_COPT:-}" with_llvm=no
    lg_say "installing leakguard into $("$PG_CONFIG" --pkglibdir)"
    make -s install PG_CONFIG="$PG_CONFIG" with_llvm=no >/dev/null
}
