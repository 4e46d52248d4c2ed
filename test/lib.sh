# test/lib.sh: shared by run-tests.sh, demo.sh, bench/run.sh and the
# scripts of make test-all, make deb and make test-deb.
#
# Installs what is missing (as root, through apt, saying so), finds the
# PostgreSQL installation (Debian's PostgreSQL 15 unless PG_CONFIG names
# another pg_config, e.g. one built by test/pg-build.sh), and runs commands
# as an unprivileged user: PostgreSQL refuses to run as root.

LG_PG_MAJOR=${LG_PG_MAJOR:-15}
LG_PACKAGES="libipc-run-perl build-essential clang libclang-rt-14-dev python3-psycopg2"
LG_SANITIZE_PACKAGES="valgrind"

lg_say() { printf '\n==> %s\n' "$*"; }

# The Debian packages of the PostgreSQL installation under test: the server
# and its headers for Debian's (the default, or a PG_CONFIG under
# /usr/lib/postgresql/N), none for an installation built from source.
# Debian's server is built with GSSAPI, so its libpq-be.h, which quota.c
# includes, needs the Kerberos headers.
lg_pg_packages() {
    local major=$LG_PG_MAJOR path
    if [ -n "${PG_CONFIG:-}" ]; then
        path=$(readlink -m "$(command -v "$PG_CONFIG" || echo "$PG_CONFIG")")
        case "$path" in
            /usr/lib/postgresql/*/bin/pg_config) major=$(echo "$path" | cut -d/ -f5) ;;
            /usr/bin/pg_config) ;;    # postgresql-common's wrapper
            *) return 0 ;;
        esac
    fi
    echo "postgresql-$major postgresql-server-dev-$major postgresql-contrib libkrb5-dev"
}

# Install the Debian packages this project needs, if any is missing.
lg_ensure_packages() {
    lg_install_packages $LG_PACKAGES $(lg_pg_packages) "$@"
}

# Install the given Debian packages, if any is missing.
lg_install_packages() {
    local missing="" p
    for p in "$@"; do
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

# PG_CONFIG (Debian's PostgreSQL $LG_PG_MAJOR unless set), its bin and pgxs
# directories, and LG_PG_MAJOR / LG_PG_VERSION from it.
lg_setup_paths() {
    if [ -n "${PG_CONFIG:-}" ]; then
        local given=$PG_CONFIG
        PG_CONFIG=$(command -v "$PG_CONFIG") || {
            echo "PG_CONFIG=$given: no such program" >&2
            return 1
        }
    else
        PG_CONFIG=/usr/lib/postgresql/$LG_PG_MAJOR/bin/pg_config
        [ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config)
    fi
    PG_BINDIR=$("$PG_CONFIG" --bindir)
    # .../lib/pgxs/src/makefiles/pgxs.mk -> .../lib/pgxs
    PGXS_DIR=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/../.." && pwd)
    # "PostgreSQL 17.6" -> 17.6 and 17; "PostgreSQL 18beta1" -> 18beta1, 18
    LG_PG_VERSION=$("$PG_CONFIG" --version | sed 's/^PostgreSQL //; s/ .*//')
    LG_PG_MAJOR=${LG_PG_VERSION%%[!0-9]*}
    export PG_CONFIG PG_BINDIR PGXS_DIR LG_PG_VERSION LG_PG_MAJOR
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
# From a working directory LG_USER cannot enter (a clone in root's home,
# mode 0700) it runs in / instead: nothing relative to that directory was
# readable to it anyway, and runuser would complain at every call.
lg_as_user() {
    if [ "$(id -u)" = 0 ]; then
        # self-contained: test/fleet exports it to subshells (export -f)
        if [ "${LG_CWD_CHECKED:-}" != "$PWD" ]; then
            LG_CWD_CHECKED=$PWD
            LG_CWD_OK=1
            runuser -u "$LG_USER" -- test -x "$PWD" 2>/dev/null || LG_CWD_OK=0
        fi
        (
            [ "$LG_CWD_OK" = 1 ] || cd /
            exec runuser -u "$LG_USER" -- env PATH="$PATH" \
                ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
                ${PG_TEST_TIMEOUT_DEFAULT:+PG_TEST_TIMEOUT_DEFAULT="$PG_TEST_TIMEOUT_DEFAULT"} \
                ${PGCTLTIMEOUT:+PGCTLTIMEOUT="$PGCTLTIMEOUT"} "$@"
        )
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
    cp test/valgrind.supp "$bin/valgrind.supp"
    cat > "$bin/postgres" <<WRAP
#!/bin/sh
case "\$1" in -V|--version|-C|--describe-config) exec "$PG_BINDIR/postgres" "\$@";; esac
exec valgrind --quiet --tool=memcheck --error-limit=no --num-callers=40 \\
    --suppressions="$bin/valgrind.supp" --read-var-info=no --trace-children=no --log-file="$work/sanitizer/vg.%p.log" \\
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
