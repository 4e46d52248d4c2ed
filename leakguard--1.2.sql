/* leakguard--1.2.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION leakguard" to load this file. \quit

-- The schema is fixed (leakguard.control), and CREATE EXTENSION reuses it
-- when it exists, whoever made it.  Objects in a schema another role
-- controls can capture the operators and functions this script names, and
-- would then run with the privileges of whoever reads the views.  So the
-- schema must be owned by a superuser, grant CREATE to no other role, and
-- hold nothing yet.  Every name below is qualified with pg_catalog or
-- cast so that it resolves there exactly, as PostgreSQL's "Security
-- Considerations for Extension Scripts" asks.
DO $guard$
DECLARE
    nsp pg_catalog.oid := pg_catalog.to_regnamespace('@extschema@');
    owner_name pg_catalog.name;
    owner_super pg_catalog.bool;
    creators pg_catalog.text;
    objects pg_catalog.int8;
BEGIN
    SELECT r.rolname, r.rolsuper INTO owner_name, owner_super
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.oid OPERATOR(pg_catalog.=) nsp;

    SELECT pg_catalog.string_agg(CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                      THEN 'PUBLIC'::pg_catalog.text
                                      ELSE pg_catalog.quote_ident(r.rolname) END,
                                 ', ')
      INTO creators
      FROM pg_catalog.pg_namespace n
     CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
      LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
     WHERE n.oid OPERATOR(pg_catalog.=) nsp
       AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND NOT coalesce(r.rolsuper, false);

    SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_parser WHERE prsnamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_ts_template WHERE tmplnamespace OPERATOR(pg_catalog.=) nsp)
         OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM pg_catalog.pg_statistic_ext WHERE stxnamespace OPERATOR(pg_catalog.=) nsp)
      INTO objects;

    IF NOT owner_super OR creators IS NOT NULL OR objects OPERATOR(pg_catalog.<>) 0 THEN
        RAISE EXCEPTION 'schema "leakguard" was not created for this extension'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.concat_ws(' ',
                      CASE WHEN NOT owner_super
                           THEN pg_catalog.format('It is owned by role %I, which is not a superuser.', owner_name) END,
                      CASE WHEN creators IS NOT NULL
                           THEN pg_catalog.format('Roles other than superusers may create objects in it: %s.', creators) END,
                      CASE WHEN objects OPERATOR(pg_catalog.<>) 0
                           THEN pg_catalog.format('It already holds %s objects.', objects) END),
                  HINT = 'Drop or rename that schema, then run CREATE EXTENSION leakguard again: it creates the schema itself.';
    END IF;
END
$guard$;

CREATE FUNCTION limit_for(application_name text,
                          usename name DEFAULT NULL,
                          datname name DEFAULT NULL,
                          OUT rule text, OUT timeout interval,
                          OUT idle_rule text, OUT idle_timeout interval,
                          OUT connection_rule text, OUT connection_limit integer,
                          OUT transaction_rule text, OUT transaction_timeout interval,
                          OUT xmin_rule text, OUT xmin_age_limit bigint,
                          OUT blocking_rule text, OUT blocking_timeout interval)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_limit_for_sql'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION limit_for(text, name, name) IS
'the rules that match a session of an application_name (and, for rules qualified by them, of a login role and a database) and its limits: idle in transaction, idle, connections, transaction age, xmin age in transactions, and blocking (a rule NULL: none matches, the default applies; a limit 0: none)';

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
                       OUT config_error text,
                       OUT prepared_transactions bigint,
                       OUT oldest_prepared_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_status_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION status() IS
'the leakguard worker: pid, mode, scans, terminations, scan times in ms, rules, last configuration error; and the prepared transactions: how many, and when the oldest was prepared';

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
                         OUT exempt text,
                         OUT idle interval,
                         OUT xmin_age bigint,
                         OUT blocking integer)
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
           s.idle,
           s.xmin_age,
           s.blocking
      FROM @extschema@.sessions() s
      LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.datid
      LEFT JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) s.usesysid;

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
                      OUT refused_dry_run bigint,
                      OUT transaction_terminated bigint,
                      OUT transaction_dry_run bigint,
                      OUT blocking_terminated bigint,
                      OUT blocking_dry_run bigint,
                      OUT xmin_terminated bigint,
                      OUT xmin_dry_run bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_stats_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW stats AS
    SELECT * FROM @extschema@.stats() s;

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
                             OUT kind text,
                             OUT blocked_pids integer[],
                             OUT xmin_age bigint)
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
           t.kind,
           t.blocked_pids,
           t.xmin_age
      FROM @extschema@.terminations() t
      LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) t.datid
      LEFT JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) t.usesysid;

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

CREATE FUNCTION suggest_limits(percentile float8 DEFAULT 99.9,
                               headroom float8 DEFAULT 2.0,
                               OUT application_name text,
                               OUT kind text,
                               OUT episodes bigint,
                               OUT p50 interval,
                               OUT p99 interval,
                               OUT at_percentile interval,
                               OUT max interval,
                               OUT peak_connections integer,
                               OUT rule text,
                               OUT current_limit text,
                               OUT suggested_limit text,
                               OUT would_terminate bigint,
                               OUT note text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_suggest_limits_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION suggest_limits(float8, float8) IS
'per application (and, with application_name NULL, for the default) and kind of limit: what was observed, the limit in force, the suggested limit (the percentile times the headroom, rounded up; connections: the peak of the last 7 days times the headroom) and how many observed episodes it would have ended';

CREATE FUNCTION suggested_settings(percentile float8 DEFAULT 99.9,
                                   headroom float8 DEFAULT 2.0,
                                   OUT name text,
                                   OUT setting text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_suggested_settings_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION suggested_settings(float8, float8) IS
'the rule settings with the suggested limits, ready for ALTER SYSTEM SET: exemptions and qualified rules kept first, then one rule per application, the default last';

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON sessions, stats, terminations, connections TO PUBLIC;
