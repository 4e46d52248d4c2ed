-- Privileges: reading is for everybody, acting is not.
SELECT current_user AS admin \gset
CREATE ROLE regress_reader LOGIN;
CREATE ROLE regress_exempt LOGIN;

SELECT p.proname, has_function_privilege('regress_reader', p.oid, 'execute') AS public_may_run
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'leakguard'
 ORDER BY p.proname COLLATE "C";

\c - regress_reader

-- the views are readable (a permission error would replace each t)
SELECT count(*) >= 1 AS sees_sessions FROM leakguard.sessions;
SELECT count(*) >= 0 AS sees_stats FROM leakguard.stats;
SELECT count(*) >= 0 AS sees_terminations FROM leakguard.terminations;
SELECT count(*) >= 0 AS sees_leak_sources FROM leakguard.leak_sources;
SELECT count(*) >= 1 AS sees_connections FROM leakguard.connections;
SELECT mode FROM leakguard.status();
SELECT rule, timeout FROM leakguard.limit_for('web1');

-- other roles' sessions are listed too (the worker is not: not a client)
SELECT count(*) AS mine FROM leakguard.sessions WHERE usename = current_user;

-- acting is refused
SELECT leakguard.reset();
SELECT leakguard.check();
ALTER SYSTEM SET leakguard.mode = 'off';
SET leakguard.mode = 'off';

-- exempt_roles names a role: its sessions are never terminated
\c - regress_exempt
SELECT usename, rule, timeout, exempt, terminates_at
  FROM leakguard.sessions WHERE pid = pg_backend_pid();

-- a role may be allowed to run check()
\c - :admin
GRANT EXECUTE ON FUNCTION leakguard.check() TO regress_reader;
\c - regress_reader
SELECT leakguard.check() >= 0 AS ran;
\c - :admin
REVOKE EXECUTE ON FUNCTION leakguard.check() FROM regress_reader;

DROP ROLE regress_reader;
DROP ROLE regress_exempt;
