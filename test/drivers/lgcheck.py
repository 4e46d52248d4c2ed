# Shared by the Python scripts of make test-drivers: the checks' bookkeeping
# and waits on the server with a deadline.
#
# Each check prints "ok - ..." or "not ok - ..."; test/drivers-test.sh counts
# them. The server is reached through LG_HOST / LG_PORT (TCP on 127.0.0.1);
# scenarios connect as role "drv" (not a superuser, so leakguard judges and
# counts them), the waits as "postgres" (a superuser: never counted).
import os
import time

import psycopg2

HOST = os.environ["LG_HOST"]
PORT = int(os.environ["LG_PORT"])
APP_DSN = f"host={HOST} port={PORT} dbname=postgres user=drv"
ADMIN_DSN = f"host={HOST} port={PORT} dbname=postgres user=postgres application_name=lg-admin"
DEADLINE = 30


def check(what, cond, got=None):
    if cond:
        print(f"ok - {what}", flush=True)
    else:
        print(f"not ok - {what}" + (f" (got {got!r})" if got is not None else ""), flush=True)
    return cond


def admin(sql, *args):
    with psycopg2.connect(ADMIN_DSN) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    conn.close()
    return row[0] if row else None


def wait_until(sql, *args, what="condition"):
    """Poll an admin query until it returns true, for at most DEADLINE s."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if admin(sql, *args):
            return True
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not true after {DEADLINE} s: {sql}")


def wait_terminated(app, kind):
    """Wait until leakguard has a history row of this kind for app and no
    backend of app is left: the FATAL is then in the client's socket, to be
    read at the client's next use."""
    wait_until("SELECT EXISTS (SELECT FROM leakguard.terminations"
               " WHERE application_name = %s AND kind = %s AND action = 'terminated')"
               " AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = %s)",
               app, kind, app, what=f"{kind} termination of {app}")

