# asyncpg (its own protocol, no libpq): what the application sees when
# leakguard ends a session idle in transaction (25P03), an idle session
# (57P05), or refuses a connection beyond a quota (53300), and what its pool
# does with a connection leakguard ended while it sat in the pool.
import asyncio

import asyncpg

from lgcheck import HOST, PORT, check, wait_terminated


def connect(app):
    return asyncpg.connect(host=HOST, port=PORT, user="drv", database="postgres",
                           server_settings={"application_name": app})


async def ended_while_idle(app, kind, code, start):
    # The event loop blocked while the session is ended (a synchronous wait,
    # as a busy application would): asyncpg learns of it only at its next
    # statement, and reports the closed socket, not the server's FATAL.
    conn = await connect(app)
    await start(conn)
    wait_terminated(app, kind)
    try:
        await conn.fetchval("SELECT 1")
        check(f"asyncpg {code}, loop blocked: the next statement fails", False)
    except Exception as e:
        check(f"asyncpg {code}, loop blocked: ConnectionDoesNotExistError, its own sqlstate 08003, no detail",
              type(e) is asyncpg.exceptions.ConnectionDoesNotExistError and e.sqlstate == "08003"
              and "connection was closed in the middle of operation" in str(e) and e.detail is None,
              (type(e).__name__, getattr(e, "sqlstate", None), str(e)))
    check(f"asyncpg {code}, loop blocked: connection closed", conn.is_closed())

    # The event loop running: asyncpg reads the FATAL as it comes, closes
    # the connection and calls the termination listeners; the next
    # statement gets InterfaceError, without sqlstate.
    conn = await connect(app)
    ended = []
    conn.add_termination_listener(lambda c: ended.append(c))
    await start(conn)
    await asyncio.get_running_loop().run_in_executor(None, wait_terminated, app, kind)
    for _ in range(300):
        if conn.is_closed():
            break
        await asyncio.sleep(0.1)
    check(f"asyncpg {code}, loop running: connection closed, termination listener called",
          conn.is_closed() and len(ended) == 1, (conn.is_closed(), len(ended)))
    try:
        await conn.fetchval("SELECT 1")
        check(f"asyncpg {code}, loop running: the next statement fails", False)
    except Exception as e:
        check(f"asyncpg {code}, loop running: InterfaceError 'connection is closed', no sqlstate",
              type(e) is asyncpg.exceptions.InterfaceError and getattr(e, "sqlstate", None) is None
              and "connection is closed" in str(e), (type(e).__name__, str(e)))


async def begin(conn):
    await conn.execute("BEGIN")


async def select(conn):
    await conn.fetchval("SELECT 1")


async def main():
    await ended_while_idle("iit-asyncpg", "idle in transaction", "25P03", begin)
    await ended_while_idle("idle-asyncpg", "idle", "57P05", select)

    held = await connect("quota-asyncpg")
    try:
        await connect("quota-asyncpg")
        check("asyncpg 53300: the second connection is refused", False)
    except Exception as e:
        check("asyncpg 53300: TooManyConnectionsError, sqlstate 53300, detail",
              type(e) is asyncpg.exceptions.TooManyConnectionsError and e.sqlstate == "53300"
              and (e.detail or "").startswith('leakguard allows application "quota-asyncpg"'),
              (type(e).__name__, getattr(e, "sqlstate", None), getattr(e, "detail", None)))
    await held.close()

    # The pool: with the event loop running while the connection sits in
    # the pool, asyncpg sees the server close it and the pool reconnects:
    # the application never sees the error.
    pool = await asyncpg.create_pool(host=HOST, port=PORT, user="drv", database="postgres",
                                     server_settings={"application_name": "idle-asyncpg-pool"},
                                     min_size=1, max_size=1)
    await pool.fetchval("SELECT 1")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, wait_terminated, "idle-asyncpg-pool", "idle")
    try:
        check("asyncpg pool: replaces the ended connection transparently",
              await pool.fetchval("SELECT 1") == 1)
    except Exception as e:
        check("asyncpg pool: replaces the ended connection transparently", False, repr(e))
    await pool.close()


asyncio.run(main())
