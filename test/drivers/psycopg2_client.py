# psycopg2 (libpq): what the application sees when leakguard ends a session
# idle in transaction (25P03), an idle session (57P05), or refuses a
# connection beyond a quota (53300).
import psycopg2

from lgcheck import APP_DSN, check, wait_terminated

# Idle in transaction, then used again: the server's FATAL is lost. libpq
# reports only that the server closed the connection; no SQLSTATE, no
# detail, nothing in conn.notices.
conn = psycopg2.connect(APP_DSN, application_name="iit-psycopg2")
cur = conn.cursor()
cur.execute("SELECT 1")
wait_terminated("iit-psycopg2", "idle in transaction")
try:
    cur.execute("SELECT 1")
    check("psycopg2 25P03: the next statement fails", False)
except psycopg2.Error as e:
    check("psycopg2 25P03: OperationalError", type(e) is psycopg2.OperationalError, type(e).__name__)
    check("psycopg2 25P03: no pgcode", e.pgcode is None, e.pgcode)
    check("psycopg2 25P03: 'server closed the connection unexpectedly'",
          "server closed the connection unexpectedly" in str(e), str(e))
    check("psycopg2 25P03: the leakguard detail is not available",
          "leakguard" not in str(e) and not conn.notices, (str(e), conn.notices))
check("psycopg2 25P03: connection marked closed (closed == 2)", conn.closed == 2, conn.closed)

# Idle session: the same.
conn = psycopg2.connect(APP_DSN, application_name="idle-psycopg2")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT 1")
wait_terminated("idle-psycopg2", "idle")
try:
    cur.execute("SELECT 1")
    check("psycopg2 57P05: the next statement fails", False)
except psycopg2.Error as e:
    check("psycopg2 57P05: OperationalError, no pgcode, 'server closed the connection unexpectedly'",
          type(e) is psycopg2.OperationalError and e.pgcode is None
          and "server closed the connection unexpectedly" in str(e), (type(e).__name__, e.pgcode, str(e)))

# Quota: connect() fails; the message carries the server's text and detail,
# but no pgcode (libpq keeps no result for a failed login).
held = psycopg2.connect(APP_DSN, application_name="quota-psycopg2")
try:
    psycopg2.connect(APP_DSN, application_name="quota-psycopg2")
    check("psycopg2 53300: the second connection is refused", False)
except psycopg2.Error as e:
    check("psycopg2 53300: OperationalError without pgcode",
          type(e) is psycopg2.OperationalError and e.pgcode is None, (type(e).__name__, e.pgcode))
    check("psycopg2 53300: message and leakguard detail in the text",
          'too many connections for application "quota-psycopg2"' in str(e)
          and "DETAIL:  leakguard allows application" in str(e), str(e))
held.close()
