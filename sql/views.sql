-- The SQL surface: columns and types of every view and function result,
-- and what they show on a server with no leaks.
SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'leakguard' AND c.relkind = 'v' AND a.attnum > 0
 ORDER BY c.relname COLLATE "C", a.attnum;

SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS result
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'leakguard'
 ORDER BY p.proname COLLATE "C", pg_get_function_identity_arguments(p.oid) COLLATE "C";

-- the worker is up (wait for it: it starts with the server)
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN (SELECT pid IS NOT NULL FROM leakguard.status());
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT pid IS NOT NULL AS running, mode, started_at <= now() AS started,
       rules, config_error
  FROM leakguard.status();

-- the policy in force: every setting a reload can change, as published
SELECT policy FROM leakguard.status();

-- no prepared transaction (max_prepared_transactions is 0 here)
SELECT prepared_transactions, oldest_prepared_at FROM leakguard.status();

-- no statistics row made room for another (1.3)
SELECT stats_evicted FROM leakguard.status();

-- a scan on request: nobody leaks, nothing is terminated
SELECT leakguard.check();
SELECT scans > 0 AS scanned, terminated, last_scan_at IS NOT NULL AS ok,
       next_wakeup_at > last_scan_at AS ok2,
       mean_scan_time >= 0 AND max_scan_time >= mean_scan_time AS times_ok
  FROM leakguard.status();

-- this session: superuser, application pg_regress/views, default limit
SELECT usename = current_user AS me, datname = current_database() AS db,
       application_name, state, idle_in_transaction, rule, timeout,
       terminates_at, exempt
  FROM leakguard.sessions WHERE pid = pg_backend_pid();

-- idle in transaction is measured from state_change; this session is
-- active while it asks
BEGIN;
SELECT state, idle_in_transaction IS NULL AS not_idle
  FROM leakguard.sessions WHERE pid = pg_backend_pid();
COMMIT;

-- leakguard.connections counts client backends only, like the sessions view
SELECT (SELECT sum(count) FROM leakguard.connections) =
       (SELECT count(*) FROM leakguard.sessions) AS consistent,
       (SELECT count(*) FROM leakguard.connections WHERE percent_of_max <= 0) AS bad_percent;

-- the stats view has this application, counted now
SELECT connections >= 1 AS connected, peak_connections >= connections AS peak_ok,
       terminated, dry_run, stats_reset IS NOT NULL AS reset_known
  FROM leakguard.stats WHERE application_name = 'pg_regress/views';

-- no terminations yet, so no leak sources either
SELECT count(*) FROM leakguard.terminations;
SELECT count(*) FROM leakguard.leak_sources;
SELECT sources_evicted FROM leakguard.status();

-- reset() as superuser
SELECT leakguard.reset();
SELECT count(*) FROM leakguard.terminations;
SELECT stats_reset > now() - interval '1 minute' AS just_reset
  FROM leakguard.stats LIMIT 1;

-- every kind of limit, one row each, as the library's table has them
SELECT * FROM leakguard.kinds;

-- the limit of every kind for one application
SELECT * FROM leakguard.limits_for('pg_regress/views');
SELECT count(*) FROM leakguard.limits_for(NULL);
