/* leakguard--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION leakguard UPDATE TO '1.1'" to load this file. \quit

-- 1.1: idle-session limits and connection quotas.  Functions whose result
-- gains columns are dropped and created again, and with them the views
-- over them; every definition below is the one leakguard--1.1.sql makes, so
-- an updated installation and a fresh one are the same.  The views are
-- made again in any case: a 1.0 installed before its install script was
-- hardened has a connections view bound to whatever operators its schema
-- held, and this replaces it with one bound to pg_catalog.
-- The schema must still be one only superusers control: objects another
-- role could have put in it would capture the names below.
DO $guard$
DECLARE
    nsp pg_catalog.oid := pg_catalog.to_regnamespace('@extschema@');
BEGIN
    IF NOT (SELECT r.rolsuper
              FROM pg_catalog.pg_namespace n
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.oid OPERATOR(pg_catalog.=) nsp)
       OR EXISTS (SELECT 1
                    FROM pg_catalog.pg_namespace n
                   CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
                    LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
                   WHERE n.oid OPERATOR(pg_catalog.=) nsp
                     AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                     AND NOT coalesce(r.rolsuper, false)) THEN
        RAISE EXCEPTION 'schema "leakguard" is not controlled by superusers only'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Make a superuser its owner and revoke CREATE on it from every other role, then update again.';
    END IF;
END
$guard$;

DROP VIEW @extschema@.connections;
DROP VIEW @extschema@.sessions;
DROP VIEW @extschema@.stats;
DROP VIEW @extschema@.terminations;
DROP FUNCTION @extschema@.sessions();
DROP FUNCTION @extschema@.stats();
DROP FUNCTION @extschema@.terminations();
DROP FUNCTION @extschema@.limit_for(text);

CREATE FUNCTION limit_for(application_name text,
                          OUT rule text, OUT timeout interval,
                          OUT idle_rule text, OUT idle_timeout interval,
                          OUT connection_rule text, OUT connection_limit integer)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_limit_for_sql'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION limit_for(text) IS
'the rules that match an application_name and its limits: idle in transaction, idle, and connections (a rule NULL: none matches, the default applies; a limit 0: none)';

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
                         OUT exempt text,
                         OUT idle interval)
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
           s.exempt,
           s.idle
      FROM @extschema@.sessions() s
      LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.datid
      LEFT JOIN pg_catalog.pg_authid u ON u.oid OPERATOR(pg_catalog.=) s.usesysid;

COMMENT ON VIEW sessions IS
'every client backend now, with the rule and timeout that apply to it in its current state, when it will be terminated, or why never';

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
                      OUT stats_reset timestamptz,
                      OUT idle_terminated bigint,
                      OUT idle_dry_run bigint,
                      OUT refused bigint,
                      OUT refused_dry_run bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_stats_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW stats AS
    SELECT * FROM @extschema@.stats();

COMMENT ON VIEW stats IS
'per application: connections now, and accumulated idle-in-transaction episodes, their durations, terminations, idle-session terminations and refused connections';

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
                             OUT query text,
                             OUT kind text)
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
           t.query,
           t.kind
      FROM @extschema@.terminations() t
      LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) t.datid
      LEFT JOIN pg_catalog.pg_authid u ON u.oid OPERATOR(pg_catalog.=) t.usesysid;

COMMENT ON VIEW terminations IS
'the newest leakguard.history_size sessions that reached their deadline or were refused a connection, and what was done';

CREATE VIEW connections AS
    SELECT datname,
           application_name,
           state,
           pg_catalog.count(*) AS count,
           pg_catalog.round(100::pg_catalog.numeric
                            OPERATOR(pg_catalog.*) pg_catalog.count(*)::pg_catalog.numeric
                            OPERATOR(pg_catalog./) pg_catalog.current_setting('max_connections')::pg_catalog.numeric,
                            1) AS percent_of_max
      FROM @extschema@.sessions
     GROUP BY datname, application_name, state;

COMMENT ON VIEW connections IS
'client connections now by database, application and state, with their share of max_connections';

GRANT SELECT ON sessions, stats, terminations, connections TO PUBLIC;
