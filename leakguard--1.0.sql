/* leakguard--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION leakguard" to load this file. \quit

CREATE FUNCTION limit_for(application_name text,
                          OUT rule text, OUT timeout interval)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_limit_for_sql'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION limit_for(text) IS
'the rule that matches an application_name and its timeout (rule NULL: the default applies; timeout 0: no limit)';

CREATE FUNCTION status(OUT pid integer,
                       OUT started_at timestamptz,
                       OUT mode text,
                       OUT scans bigint,
                       OUT terminated bigint,
                       OUT last_scan_at timestamptz,
                       OUT next_wakeup_at timestamptz,
                       OUT mean_scan_time float8,
                       OUT max_scan_time float8,
                       OUT rules text,
                       OUT config_error text)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_status_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION status() IS
'the leakguard worker: pid, mode, scans, terminations, scan times in ms, rules, last configuration error';

CREATE FUNCTION "check"()
RETURNS bigint
AS 'MODULE_PATHNAME', 'lg_check_sql'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION "check"() IS
'asks the worker for a scan now, waits for it, and returns how many sessions it acted on';

REVOKE ALL ON FUNCTION "check"() FROM PUBLIC;

CREATE FUNCTION reset()
RETURNS void
AS 'MODULE_PATHNAME', 'lg_reset_sql'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION reset() IS
'zeroes leakguard statistics and history';

REVOKE ALL ON FUNCTION reset() FROM PUBLIC;

CREATE FUNCTION sessions(OUT pid integer,
                         OUT datid oid,
                         OUT usesysid oid,
                         OUT application_name text,
                         OUT client_addr inet,
                         OUT backend_start timestamptz,
                         OUT xact_start timestamptz,
                         OUT state text,
                         OUT state_change timestamptz,
                         OUT idle_in_transaction interval,
                         OUT rule text,
                         OUT timeout interval,
                         OUT terminates_at timestamptz,
                         OUT exempt text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_sessions_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW sessions AS
    SELECT s.pid,
           d.datname,
           u.rolname AS usename,
           s.application_name,
           s.client_addr,
           s.backend_start,
           s.xact_start,
           s.state,
           s.state_change,
           s.idle_in_transaction,
           s.rule,
           s.timeout,
           s.terminates_at,
           s.exempt
      FROM sessions() s
      LEFT JOIN pg_catalog.pg_database d ON d.oid = s.datid
      LEFT JOIN pg_catalog.pg_authid u ON u.oid = s.usesysid;

COMMENT ON VIEW sessions IS
'every client backend now, with the rule and timeout that apply to it, when it will be terminated, or why never';

CREATE FUNCTION stats(OUT application_name text,
                      OUT connections integer,
                      OUT idle_in_transaction integer,
                      OUT longest_idle interval,
                      OUT peak_connections bigint,
                      OUT episodes bigint,
                      OUT terminated bigint,
                      OUT dry_run bigint,
                      OUT total_idle interval,
                      OUT max_idle interval,
                      OUT idle_under_10s bigint,
                      OUT idle_10s_1min bigint,
                      OUT idle_1min_10min bigint,
                      OUT idle_10min_1h bigint,
                      OUT idle_over_1h bigint,
                      OUT last_terminated_at timestamptz,
                      OUT first_seen timestamptz,
                      OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_stats_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW stats AS
    SELECT * FROM stats();

COMMENT ON VIEW stats IS
'per application: connections now, and accumulated idle-in-transaction episodes, their durations, and terminations';

CREATE FUNCTION terminations(OUT terminated_at timestamptz,
                             OUT pid integer,
                             OUT datid oid,
                             OUT usesysid oid,
                             OUT application_name text,
                             OUT client_addr inet,
                             OUT backend_start timestamptz,
                             OUT xact_start timestamptz,
                             OUT state_change timestamptz,
                             OUT idle_time interval,
                             OUT timeout interval,
                             OUT rule text,
                             OUT action text,
                             OUT query text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_terminations_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW terminations AS
    SELECT t.terminated_at,
           t.pid,
           d.datname,
           u.rolname AS usename,
           t.application_name,
           t.client_addr,
           t.backend_start,
           t.xact_start,
           t.state_change,
           t.idle_time,
           t.timeout,
           t.rule,
           t.action,
           t.query
      FROM terminations() t
      LEFT JOIN pg_catalog.pg_database d ON d.oid = t.datid
      LEFT JOIN pg_catalog.pg_authid u ON u.oid = t.usesysid;

COMMENT ON VIEW terminations IS
'the newest leakguard.history_size sessions that reached their deadline, and what was done';

CREATE VIEW connections AS
    SELECT datname,
           application_name,
           state,
           count(*) AS count,
           round(100.0 * count(*) /
                 current_setting('max_connections')::integer, 1) AS percent_of_max
      FROM sessions
     GROUP BY datname, application_name, state;

COMMENT ON VIEW connections IS
'client connections now by database, application and state, with their share of max_connections';

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON sessions, stats, terminations, connections TO PUBLIC;
