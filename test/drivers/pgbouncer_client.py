# PgBouncer 1.18 (Debian's) in front of a leakguard server: what names its
# server connections carry (at login, while serving a client, after DISCARD
# ALL, in transaction pooling), what its clients see when leakguard ends a
# server connection or refuses one by a quota, and how its own logins are
# retried when a quota refuses them. Clients use psycopg 3, which shows the
# text PgBouncer forwards.
#
# Starts its own PgBouncer (LG_PGBOUNCER_DIR: a scratch directory) on a free
# port; LG_SERVER_LOG is the server's log (log_connections = on).
import os
import socket
import subprocess
import time

import psycopg
import psycopg2

from lgcheck import HOST, PORT, admin, check, wait_terminated, wait_until

WORK = os.environ["LG_PGBOUNCER_DIR"]
QUERY_WAIT_TIMEOUT = 5
LOGIN_RETRY = 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


with open(f"{WORK}/users.txt", "w") as f:
    f.write('"drv" ""\n"lg_bq" ""\n')
bouncers = []


def start_bouncer(name, extra=""):
    """Start a PgBouncer on a free port and return the port once it
    accepts connections (30 s deadline)."""
    port = free_port()
    with open(f"{WORK}/{name}.ini", "w") as f:
        f.write(f"""[databases]
sess = host={HOST} port={PORT} dbname=postgres pool_mode=session
txn = host={HOST} port={PORT} dbname=postgres pool_mode=transaction
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {WORK}/users.txt
logfile = {WORK}/{name}.log
pidfile = {WORK}/{name}.pid
server_login_retry = {LOGIN_RETRY}
query_wait_timeout = {QUERY_WAIT_TIMEOUT}
{extra}
""")
    proc = subprocess.Popen(["/usr/sbin/pgbouncer", f"{WORK}/{name}.ini"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bouncers.append(proc)
    end = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port
        except OSError:
            if time.monotonic() > end or proc.poll() is not None:
                raise
            time.sleep(0.1)


def via(db, app, user="drv", autocommit=True, port=None):
    return psycopg.connect(f"host=127.0.0.1 port={port or BPORT} dbname={db} user={user}"
                           f" application_name={app}", autocommit=autocommit)


def refusals(app, user):
    return admin("SELECT count(*) FROM leakguard.terminations"
                 " WHERE application_name = %s AND usename = %s AND kind = 'connections' AND action = 'refused'",
                 app, user)


try:
    BPORT = start_bouncer("pgbouncer")

    # Session pooling: the server connection logs in without a name, is
    # named by SET for its client, and DISCARD ALL names it "" again.
    c = via("sess", "bouncer-name")
    name, pid = c.execute("SELECT current_setting('application_name'), pg_backend_pid()").fetchone()
    check("PgBouncer: the client sees its own application_name", name == "bouncer-name", name)
    with open(os.environ["LG_SERVER_LOG"]) as log:
        login = [line for line in log if f"[{pid}]" in line and "connection authorized" in line]
    check("PgBouncer: its server login carries no application_name (log_connections)",
          len(login) == 1 and "application_name=" not in login[0], login)
    c.close()
    wait_until("SELECT application_name = '' AND query = 'DISCARD ALL' FROM pg_stat_activity WHERE pid = %s",
               pid, what="DISCARD ALL after the client left")
    check("PgBouncer session pooling: after the client leaves, DISCARD ALL names the server connection \"\"", True)

    # Transaction pooling: no reset; the idle server connection keeps the
    # last client's name, and idle rules judge it by that name.
    c = via("txn", "bouncer-txn")
    pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    c.close()
    wait_until("SELECT state = 'idle' FROM pg_stat_activity WHERE pid = %s", pid, what="idle server connection")
    got = admin("SELECT application_name FROM pg_stat_activity WHERE pid = %s", pid)
    check("PgBouncer transaction pooling: the idle server connection keeps the last client's name",
          got == "bouncer-txn", got)

    c = via("txn", "idle-bouncer-t")
    c.execute("SELECT 1")
    wait_terminated("idle-bouncer-t", "idle")
    try:
        got = c.execute("SELECT current_setting('application_name')").fetchone()[0]
        check("PgBouncer transaction pooling: a server connection ended by an idle rule is replaced"
              " without the client noticing", got == "idle-bouncer-t", got)
    except psycopg.Error as e:
        check("PgBouncer transaction pooling: a server connection ended by an idle rule is replaced"
              " without the client noticing", False, str(e))
    c.close()

    # Idle in transaction: PgBouncer forwards the server's FATAL (with the
    # leakguard detail, without a SQLSTATE the driver exposes), then its own
    # "server conn crashed?", and closes the client.
    c = via("sess", "iit-bouncer", autocommit=False)
    c.execute("SELECT 1")
    wait_terminated("iit-bouncer", "idle in transaction")
    try:
        c.execute("SELECT 1")
        check("PgBouncer 25P03: the client's next statement fails", False)
    except psycopg.Error as e:
        check("PgBouncer 25P03: the client gets the server's FATAL and leakguard detail, then"
              " 'server conn crashed?'",
              "terminating connection due to idle-in-transaction timeout" in str(e)
              and 'leakguard terminated this session of application "iit-bouncer"' in str(e)
              and "FATAL:  server conn crashed?" in str(e), str(e))
    check("PgBouncer 25P03: the client connection is closed", c.closed, c.closed)

    # Idle in session pooling: the client holds its server connection and
    # sees its end the same way.
    c = via("sess", "idle-bouncer")
    c.execute("SELECT 1")
    wait_terminated("idle-bouncer", "idle")
    try:
        c.execute("SELECT 1")
        check("PgBouncer session pooling 57P05: the client's next statement fails", False)
    except psycopg.Error as e:
        check("PgBouncer session pooling 57P05: the client gets the server's FATAL and leakguard detail,"
              " then 'server conn crashed?'",
              "terminating connection due to idle-session timeout" in str(e)
              and 'leakguard terminated this session of application "idle-bouncer"' in str(e)
              and "FATAL:  server conn crashed?" in str(e), str(e))

    # A quota behind PgBouncer (1.2 follows renames): the second client's
    # server connection is refused when PgBouncer names it; the client gets
    # PgBouncer's "invalid server parameter", not 53300.
    first = via("sess", "quota-bouncer")
    first.execute("SELECT 1")
    before = refusals("quota-bouncer", "drv")
    try:
        second = via("sess", "quota-bouncer")
        second.execute("SELECT 1")
        check("PgBouncer 53300 on rename: the second client is refused", False)
    except psycopg.Error as e:
        check("PgBouncer 53300 on rename: the client gets 'invalid server parameter', no leakguard text",
              "invalid server parameter" in str(e) and "leakguard" not in str(e), str(e))
    check("PgBouncer 53300 on rename: leakguard counted one refusal",
          refusals("quota-bouncer", "drv") == before + 1, refusals("quota-bouncer", "drv") - before)
    check("PgBouncer 53300 on rename: the first client keeps working", first.execute("SELECT 1").fetchone()[0] == 1)
    first.close()

    # PgBouncer's own login refused by a quota ('* user lg_bq = 1', its ""
    # place taken by a direct connection). A pool that never connected
    # forwards the refusal to the client at once.
    holder = psycopg2.connect(f"host={HOST} port={PORT} dbname=postgres user=lg_bq")
    before = refusals("", "lg_bq")
    try:
        via("sess", "bq-1", user="lg_bq")
        check("PgBouncer login refused, new pool: the client is refused", False)
    except psycopg.Error as e:
        check("PgBouncer login refused, new pool: the client gets the server's message at once (no detail)",
              'FATAL:  too many connections for application ""' in str(e) and "DETAIL" not in str(e), str(e))
    holder.close()

    # A pool that has connected before logs the client in from its cache;
    # its query waits while PgBouncer retries every server_login_retry, each
    # retry a refusal, until query_wait_timeout.
    warm = via("sess", "bq-1", user="lg_bq")
    warm.execute("SELECT 1")
    holder = psycopg2.connect(f"host={HOST} port={PORT} dbname=postgres user=lg_bq")
    before = refusals("", "lg_bq")
    start = time.monotonic()
    waiting = via("sess", "bq-2", user="lg_bq")
    login = time.monotonic() - start
    check("PgBouncer login refused, warm pool: the client's login does not wait for a server", login < 2.5, login)
    try:
        waiting.execute("SELECT 1")
        check("PgBouncer login refused, warm pool: the query fails", False)
    except psycopg.Error as e:
        waited = time.monotonic() - start
        count = refusals("", "lg_bq") - before
        print(f"# PgBouncer login refused: the client waited {waited:.1f} s"
              f" (query_wait_timeout = {QUERY_WAIT_TIMEOUT} s), {count} refusals counted"
              f" (server_login_retry = {LOGIN_RETRY} s)", flush=True)
        check("PgBouncer login refused, warm pool: the query fails with 'query_wait_timeout'",
              "query_wait_timeout" in str(e), str(e))
        check("PgBouncer login refused, warm pool: it waited query_wait_timeout",
              QUERY_WAIT_TIMEOUT - 0.5 <= waited <= QUERY_WAIT_TIMEOUT + 3, waited)
        check("PgBouncer login refused, warm pool: one counted refusal per server_login_retry",
              QUERY_WAIT_TIMEOUT / LOGIN_RETRY - 2 <= count <= QUERY_WAIT_TIMEOUT / LOGIN_RETRY + 1, count)
    holder.close()
    warm.close()

    # application_name_add_host = 1: the name PgBouncer sets carries the
    # client's address and port, so every client connection makes a name
    # of its own, and a glob quota gives each its own places.
    aport = start_bouncer("pgbouncer-add-host", "application_name_add_host = 1")
    first = via("sess", "quota-addhost", port=aport)
    name = first.execute("SELECT current_setting('application_name')").fetchone()[0]
    check("PgBouncer application_name_add_host: the name is 'NAME - ADDRESS:PORT'",
          name.startswith("quota-addhost - 127.0.0.1:"), name)
    second = via("sess", "quota-addhost", port=aport)
    try:
        second.execute("SELECT 1")
        check("PgBouncer application_name_add_host: 'quota-* = 1' does not limit the application"
              " (each client its own quota)", True)
    except psycopg.Error as e:
        check("PgBouncer application_name_add_host: 'quota-* = 1' does not limit the application"
              " (each client its own quota)", False, str(e))
    second.close()
    first.close()
finally:
    for proc in bouncers:
        proc.terminate()
        proc.wait(timeout=30)
