# psycopg 3 and psycopg_pool (libpq): what the application sees when
# leakguard ends a session idle in transaction (25P03), an idle session
# (57P05), or refuses a connection beyond a quota (53300), and what the pool
# does with a connection leakguard ended while it sat in the pool.
import psycopg
import psycopg_pool

from lgcheck import APP_DSN, admin, check, wait_terminated, wait_until

# Idle in transaction: psycopg reads the server's FATAL before it sends the
# next statement; the text and detail are in the message, without sqlstate.
conn = psycopg.connect(APP_DSN, application_name="iit-psycopg3")
conn.execute("SELECT 1")
wait_terminated("iit-psycopg3", "idle in transaction")
try:
    conn.execute("SELECT 1")
    check("psycopg 25P03: the next statement fails", False)
except psycopg.Error as e:
    check("psycopg 25P03: OperationalError", type(e) is psycopg.OperationalError, type(e).__name__)
    check("psycopg 25P03: no sqlstate", e.sqlstate is None, e.sqlstate)
    check("psycopg 25P03: message and leakguard detail in the text",
          "terminating connection due to idle-in-transaction timeout" in str(e)
          and 'DETAIL:  leakguard terminated this session of application "iit-psycopg3"' in str(e), str(e))
check("psycopg 25P03: connection closed and broken", conn.closed and conn.broken, (conn.closed, conn.broken))

conn = psycopg.connect(APP_DSN, application_name="idle-psycopg3", autocommit=True)
conn.execute("SELECT 1")
wait_terminated("idle-psycopg3", "idle")
try:
    conn.execute("SELECT 1")
    check("psycopg 57P05: the next statement fails", False)
except psycopg.Error as e:
    check("psycopg 57P05: OperationalError without sqlstate, message and detail in the text",
          type(e) is psycopg.OperationalError and e.sqlstate is None
          and "terminating connection due to idle-session timeout" in str(e)
          and "leakguard terminated this session" in str(e), (type(e).__name__, e.sqlstate, str(e)))

held = psycopg.connect(APP_DSN, application_name="quota-psycopg3")
try:
    psycopg.connect(APP_DSN, application_name="quota-psycopg3")
    check("psycopg 53300: the second connection is refused", False)
except psycopg.Error as e:
    check("psycopg 53300: OperationalError without sqlstate, message and detail in the text",
          type(e) is psycopg.OperationalError and e.sqlstate is None
          and 'too many connections for application "quota-psycopg3"' in str(e)
          and "leakguard allows application" in str(e), (type(e).__name__, e.sqlstate, str(e)))
held.close()

# psycopg_pool 3.1: no check when a connection is handed out (check= came in
# 3.2): the connection ended in the pool is handed out broken, and fails at
# its first statement; given back, it is discarded and replaced.
pool = psycopg_pool.ConnectionPool(APP_DSN + " application_name=idle-psycopg-pool",
                                   min_size=1, max_size=1, kwargs={"autocommit": True})
pool.wait(timeout=30)
with pool.connection() as c:
    c.execute("SELECT 1")
wait_terminated("idle-psycopg-pool", "idle")
try:
    with pool.connection() as c:
        c.execute("SELECT 1")
    check("psycopg_pool: hands out the ended connection broken", False, "it worked")
except psycopg.OperationalError as e:
    check("psycopg_pool: hands out the ended connection broken (OperationalError at first use)",
          "idle-session timeout" in str(e), str(e))
with pool.connection(timeout=30) as c:
    check("psycopg_pool: the next connection works (the broken one was replaced)",
          c.execute("SELECT 1").fetchone()[0] == 1)
pool.close()
