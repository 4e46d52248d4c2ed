# SQLAlchemy 1.4 on psycopg2, with its QueuePool: without pool_pre_ping the
# connection leakguard ended in the pool is handed out and fails at first
# use (the pool then discards every connection it holds); with
# pool_pre_ping it is replaced before the application sees it.
import sqlalchemy
from sqlalchemy import text

from lgcheck import HOST, PORT, check, wait_terminated

URL = f"postgresql+psycopg2://drv@{HOST}:{PORT}/postgres"


def engine(app, **kw):
    return sqlalchemy.create_engine(URL, connect_args={"application_name": app},
                                    pool_size=1, max_overflow=0, **kw)


e = engine("idle-sqlalchemy")
with e.connect() as c:
    c.execute(text("SELECT 1"))
wait_terminated("idle-sqlalchemy", "idle")
try:
    with e.connect() as c:
        c.execute(text("SELECT 1"))
    check("SQLAlchemy without pool_pre_ping: the ended connection fails at first use", False)
except sqlalchemy.exc.OperationalError as err:
    check("SQLAlchemy without pool_pre_ping: OperationalError, connection_invalidated",
          err.connection_invalidated, err.connection_invalidated)
    check("SQLAlchemy without pool_pre_ping: .orig is psycopg2's, no pgcode",
          err.orig.pgcode is None and "server closed the connection unexpectedly" in str(err.orig),
          (err.orig.pgcode, str(err.orig)))
with e.connect() as c:
    check("SQLAlchemy without pool_pre_ping: the next connection works",
          c.execute(text("SELECT 1")).scalar() == 1)
e.dispose()

e = engine("idle-sqlalchemy-ping", pool_pre_ping=True)
with e.connect() as c:
    c.execute(text("SELECT 1"))
wait_terminated("idle-sqlalchemy-ping", "idle")
try:
    with e.connect() as c:
        check("SQLAlchemy with pool_pre_ping: the ended connection is replaced transparently",
              c.execute(text("SELECT 1")).scalar() == 1)
except sqlalchemy.exc.DBAPIError as err:
    check("SQLAlchemy with pool_pre_ping: the ended connection is replaced transparently", False, str(err))
e.dispose()

# Idle in transaction inside a Session-like transaction: the transaction
# is lost (pool_pre_ping cannot help: it pings only at checkout).
e = engine("iit-sqlalchemy", pool_pre_ping=True)
try:
    with e.begin() as c:
        c.execute(text("SELECT 1"))
        wait_terminated("iit-sqlalchemy", "idle in transaction")
        c.execute(text("SELECT 1"))
    check("SQLAlchemy 25P03: the open transaction fails", False)
except sqlalchemy.exc.OperationalError as err:
    check("SQLAlchemy 25P03: OperationalError, connection_invalidated, no pgcode",
          err.connection_invalidated and err.orig.pgcode is None, (err.connection_invalidated, err.orig.pgcode))
e.dispose()
