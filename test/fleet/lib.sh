# test/fleet/lib.sh: shared by the fleet tests (test/fleet/*-test.sh),
# sourced after test/lib.sh.
#
# Free loopback ports, waits on conditions with a deadline, and the checks'
# bookkeeping: each check prints "ok" or "not ok" and a failed one makes the
# test exit non-zero at its end (fleet_done).

fleet_failed=0

fleet_ok() { echo "ok - $*"; }
fleet_not_ok() { echo "not ok - $*"; fleet_failed=$((fleet_failed + 1)); }

# fleet_check DESCRIPTION COMMAND...: run the command, record the result.
fleet_check() {
    local what=$1
    shift
    if "$@"; then fleet_ok "$what"; else fleet_not_ok "$what"; fi
}

# fleet_wait SECONDS DESCRIPTION COMMAND...: run the command every 0.2 s
# until it succeeds; record a failure if it has not within SECONDS.
fleet_wait() {
    local timeout=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            fleet_not_ok "$what (not within $timeout s)"
            return 1
        fi
        sleep 0.2
    done
    fleet_ok "$what"
}

# A TCP port free on 127.0.0.1 now (the kernel's choice).
fleet_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Exit with the test's result.
fleet_done() {
    if [ "$fleet_failed" = 0 ]; then
        echo "$1: all checks passed"
        exit 0
    fi
    echo "$1: $fleet_failed checks failed"
    exit 1
}
