/* leakguard--1.2--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION leakguard UPDATE TO '1.3'" to load this file. \quit

-- A fresh CREATE EXTENSION of 1.3 runs leakguard--1.2.sql and then this
-- script; an update from 1.2 runs this script alone.  Like
-- leakguard--1.1--1.2.sql, it changes objects in place (CREATE OR REPLACE)
-- wherever it can, so that privileges a DBA set and views a DBA built on
-- leakguard's views survive the update; every name it uses is
-- schema-qualified and resolves to pg_catalog or to leakguard.

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

-- Descriptions of the views' columns (issue 30): what docs/sql.md shows in
-- its generated tables (make docs) and psql's \d+ shows.  Column comments
-- stay when a view is replaced in place.
COMMENT ON COLUMN @extschema@.sessions.pid IS 'backend pid';
COMMENT ON COLUMN @extschema@.sessions.datname IS 'database';
COMMENT ON COLUMN @extschema@.sessions.usename IS 'login role';
COMMENT ON COLUMN @extschema@.sessions.application_name IS 'as the server stores it (at most 63 bytes)';
COMMENT ON COLUMN @extschema@.sessions.client_addr IS 'client IP address; NULL for Unix sockets or when the reader may not see it';
COMMENT ON COLUMN @extschema@.sessions.backend_start IS 'as in pg_stat_activity';
COMMENT ON COLUMN @extschema@.sessions.xact_start IS 'as in pg_stat_activity';
COMMENT ON COLUMN @extschema@.sessions.state IS 'as in pg_stat_activity';
COMMENT ON COLUMN @extschema@.sessions.state_change IS 'as in pg_stat_activity';
COMMENT ON COLUMN @extschema@.sessions.idle_in_transaction IS 'how long it has been idle in transaction; NULL unless it is';
COMMENT ON COLUMN @extschema@.sessions.rule IS 'the rule for its current state: the idle rules when it is idle, the idle-in-transaction rules otherwise; NULL when the default applies';
COMMENT ON COLUMN @extschema@.sessions.timeout IS 'the limit of that rule or default; 0 when there is none';
COMMENT ON COLUMN @extschema@.sessions.terminates_at IS 'state_change + timeout for an idle session (in a transaction or not) that will be terminated (in dry_run: reported)';
COMMENT ON COLUMN @extschema@.sessions.exempt IS 'why it never will be: no limit (no rule, default 0), rule (its rule says 0), role (exempt_roles), superuser';
COMMENT ON COLUMN @extschema@.sessions.idle IS 'how long it has been idle outside a transaction; NULL unless it is';
COMMENT ON COLUMN @extschema@.sessions.xmin_age IS 'age in transactions of its backend_xmin or backend_xid, the older; hidden with the state';
COMMENT ON COLUMN @extschema@.sessions.blocking IS 'how many sessions wait for its locks now';

COMMENT ON COLUMN @extschema@.stats.application_name IS 'the application; (other applications) for those beyond max_applications';
COMMENT ON COLUMN @extschema@.stats.connections IS 'client connections now';
COMMENT ON COLUMN @extschema@.stats.idle_in_transaction IS 'of which idle in transaction now, among the sessions whose state the reader may see';
COMMENT ON COLUMN @extschema@.stats.longest_idle IS 'the longest current idle-in-transaction time among those';
COMMENT ON COLUMN @extschema@.stats.peak_connections IS 'the most connections seen at once';
COMMENT ON COLUMN @extschema@.stats.episodes IS 'idle-in-transaction episodes that ended, as the worker''s scans saw them';
COMMENT ON COLUMN @extschema@.stats.terminated IS 'sessions terminated for their idle-in-transaction limit';
COMMENT ON COLUMN @extschema@.stats.dry_run IS 'sessions that would have been terminated for it in dry_run';
COMMENT ON COLUMN @extschema@.stats.total_idle IS 'summed duration of the episodes';
COMMENT ON COLUMN @extschema@.stats.max_idle IS 'longest episode';
COMMENT ON COLUMN @extschema@.stats.idle_under_10s IS 'episodes shorter than 10 s';
COMMENT ON COLUMN @extschema@.stats.idle_10s_1min IS 'episodes of 10 s to 1 min';
COMMENT ON COLUMN @extschema@.stats.idle_1min_10min IS 'episodes of 1 min to 10 min';
COMMENT ON COLUMN @extschema@.stats.idle_10min_1h IS 'episodes of 10 min to 1 h';
COMMENT ON COLUMN @extschema@.stats.idle_over_1h IS 'episodes longer than 1 h';
COMMENT ON COLUMN @extschema@.stats.last_terminated_at IS 'the latest termination';
COMMENT ON COLUMN @extschema@.stats.first_seen IS 'when the worker first saw the application';
COMMENT ON COLUMN @extschema@.stats.stats_reset IS 'when statistics started: reset(), or a start without saved statistics';
COMMENT ON COLUMN @extschema@.stats.idle_terminated IS 'idle sessions terminated for their idle limit';
COMMENT ON COLUMN @extschema@.stats.idle_dry_run IS 'idle sessions that would have been, in dry_run';
COMMENT ON COLUMN @extschema@.stats.refused IS 'connections refused by the application''s quota';
COMMENT ON COLUMN @extschema@.stats.refused_dry_run IS 'connections that would have been, in dry_run';
COMMENT ON COLUMN @extschema@.stats.transaction_terminated IS 'sessions terminated for their transaction-age limit';
COMMENT ON COLUMN @extschema@.stats.transaction_dry_run IS 'sessions that would have been, in dry_run';
COMMENT ON COLUMN @extschema@.stats.blocking_terminated IS 'sessions terminated for keeping others waiting for their locks';
COMMENT ON COLUMN @extschema@.stats.blocking_dry_run IS 'sessions that would have been, in dry_run';
COMMENT ON COLUMN @extschema@.stats.xmin_terminated IS 'sessions terminated for the age of their snapshot or transaction ID';
COMMENT ON COLUMN @extschema@.stats.xmin_dry_run IS 'sessions that would have been, in dry_run';

COMMENT ON COLUMN @extschema@.terminations.terminated_at IS 'when leakguard acted (for a refused connection: when it was refused)';
COMMENT ON COLUMN @extschema@.terminations.pid IS 'the session''s pid, as it was';
COMMENT ON COLUMN @extschema@.terminations.datname IS 'database';
COMMENT ON COLUMN @extschema@.terminations.usename IS 'login role';
COMMENT ON COLUMN @extschema@.terminations.application_name IS 'application_name, as the server stored it';
COMMENT ON COLUMN @extschema@.terminations.client_addr IS 'client IP address; NULL for Unix sockets or when the reader may not see it';
COMMENT ON COLUMN @extschema@.terminations.backend_start IS 'as in pg_stat_activity';
COMMENT ON COLUMN @extschema@.terminations.xact_start IS 'as in pg_stat_activity; NULL for an idle session and a refused connection';
COMMENT ON COLUMN @extschema@.terminations.state_change IS 'as in pg_stat_activity; NULL for the kinds transaction and statement and a refused connection';
COMMENT ON COLUMN @extschema@.terminations.idle_time IS 'how long its period had lasted, on the monotonic clock: idle (in transaction or not), for kind transaction the transaction''s age, for kind statement how long the statement ran; NULL for a refused connection';
COMMENT ON COLUMN @extschema@.terminations.timeout IS 'the limit; NULL for the kinds not measured in time (xmin, connections)';
COMMENT ON COLUMN @extschema@.terminations.rule IS 'the rule, as it matched; NULL: the default setting';
COMMENT ON COLUMN @extschema@.terminations.action IS 'terminated, cancelled (its statement), dry_run, superuser (reported only), became active or gone (not signalled), refused';
COMMENT ON COLUMN @extschema@.terminations.query IS 'its last statement, at most 1023 bytes; <insufficient privilege> for readers not allowed to see it; NULL for a refused connection';
COMMENT ON COLUMN @extschema@.terminations.kind IS 'the kind of limit, a row of leakguard.kinds: idle in transaction, idle, connections (a refused connection; 1.2 said quota), transaction, xmin, blocking, statement';
COMMENT ON COLUMN @extschema@.terminations.blocked_pids IS 'kind blocking: the first 8 sessions it kept waiting';
COMMENT ON COLUMN @extschema@.terminations.xmin_age IS 'kind xmin: the age in transactions it was judged at';

COMMENT ON COLUMN @extschema@.connections.datname IS 'database';
COMMENT ON COLUMN @extschema@.connections.application_name IS 'application';
COMMENT ON COLUMN @extschema@.connections.state IS 'as in pg_stat_activity; NULL for sessions whose state the reader may not see';
COMMENT ON COLUMN @extschema@.connections.count IS 'client connections';
COMMENT ON COLUMN @extschema@.connections.percent_of_max IS 'their share of max_connections, in percent, one decimal';
-- Suggestions a DBA can apply without reading them twice (issue 28).
-- suggested_settings() keeps its columns; what it returns changed (only
-- settings that change a limit, each merged in place, the transaction
-- limits too), and suggested_changes() lists what applying them changes.
CREATE FUNCTION @extschema@.suggested_changes(percentile float8 DEFAULT 99.9,
                                  headroom float8 DEFAULT 2.0,
                                  OUT setting text,
                                  OUT application_name text,
                                  OUT usename text,
                                  OUT datname text,
                                  OUT kind text,
                                  OUT limit_now text,
                                  OUT limit_after text,
                                  OUT rule_now text,
                                  OUT rule_after text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_suggested_changes_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.suggested_changes(float8, float8) IS
'every limit that applying suggested_settings() with the same arguments would change: per rule setting, application (NULL: one no rule names), role and database a rule qualifier names (NULL: one no qualifier names) and kind, the limit and rule now and after';

COMMENT ON FUNCTION @extschema@.suggested_settings(float8, float8) IS
'the rule settings whose suggested limits change something, ready for ALTER SYSTEM SET: each suggested rule just before the rule that governs its application now, every other rule kept in its place; a setting that would change a limit no suggestion asks for is left out, with a NOTICE; suggested_changes() lists what they change';

COMMENT ON FUNCTION @extschema@.suggest_limits(float8, float8) IS
'per application (and, with application_name NULL, for the default: from the applications it governs) and kind of limit: what was observed, the limit in force, the suggested limit (the percentile, if at least 10 episodes lie beyond it, else the highest they support, times the headroom, rounded up, never below 1s, or 1min for idle; connections: the peak of the last 7 days times the headroom, when seen on at least 3 days) and how many observed episodes it would have ended';

-- Leak sources (1.3): the statements after which sessions leaked, per
-- application, role, database and kind, keyed by the server's query id
-- (or a fingerprint of the text), counted as the worker ends them.

CREATE FUNCTION @extschema@.leak_sources(OUT application_name text,
                             OUT usesysid oid,
                             OUT datid oid,
                             OUT kind text,
                             OUT queryid bigint,
                             OUT query text,
                             OUT client_addr inet,
                             OUT leaks bigint,
                             OUT dry_run bigint,
                             OUT total_held interval,
                             OUT max_held interval,
                             OUT first_seen timestamptz,
                             OUT last_seen timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_leak_sources_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.leak_sources AS
    SELECT s.application_name,
           u.rolname AS usename,
           d.datname,
           s.kind,
           s.queryid,
           s.query,
           s.client_addr,
           s.leaks,
           s.dry_run,
           s.total_held,
           s.max_held,
           s.first_seen,
           s.last_seen
      FROM @extschema@.leak_sources() s
      LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.datid
      LEFT JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) s.usesysid;

COMMENT ON VIEW @extschema@.leak_sources IS
'the statements after which sessions leaked: per application, role, database, kind and statement (the query id the server computes, or a fingerprint of the text without its constants), how many sessions leaked after it (terminated, or reported in dry_run), how long they held, and the last client address; at most leakguard.max_sources rows';

GRANT SELECT ON @extschema@.leak_sources TO PUBLIC;

COMMENT ON COLUMN @extschema@.leak_sources.application_name IS 'the application, as the server stored its name';
COMMENT ON COLUMN @extschema@.leak_sources.usename IS 'login role';
COMMENT ON COLUMN @extschema@.leak_sources.datname IS 'database';
COMMENT ON COLUMN @extschema@.leak_sources.kind IS 'the kind of limit the sessions passed (leakguard.kinds): idle in transaction, idle, transaction, xmin, blocking or statement (never connections)';
COMMENT ON COLUMN @extschema@.leak_sources.queryid IS 'the query id the server computed for the statement the sessions ran last (pg_stat_statements.queryid, pg_stat_activity.query_id); NULL when it computed none (the source is then keyed by a fingerprint of the text without its constants) or when the reader may not see it';
COMMENT ON COLUMN @extschema@.leak_sources.query IS 'the statement as the last such session ran it, at most 1023 bytes; <insufficient privilege> for readers not allowed to see it';
COMMENT ON COLUMN @extschema@.leak_sources.client_addr IS 'client IP address of the last such session; NULL for Unix sockets or when the reader may not see it';
COMMENT ON COLUMN @extschema@.leak_sources.leaks IS 'sessions that leaked after this statement: terminated, or reported in dry_run';
COMMENT ON COLUMN @extschema@.leak_sources.dry_run IS 'of those, the ones only reported, in dry_run';
COMMENT ON COLUMN @extschema@.leak_sources.total_held IS 'how long they had been idle (for kind transaction: the transaction''s age) when leakguard acted, added up';
COMMENT ON COLUMN @extschema@.leak_sources.max_held IS 'the longest of those';
COMMENT ON COLUMN @extschema@.leak_sources.first_seen IS 'the first leak after this statement';
COMMENT ON COLUMN @extschema@.leak_sources.last_seen IS 'the latest';

-- One model of limits (issue 27).  Every kind of limit is a row of one
-- table in the library; leakguard.kinds shows it, stats_by_kind counts per
-- application and kind, stats gains the totals over every kind, sessions
-- the earliest deadline of any kind.
CREATE FUNCTION @extschema@.kinds(OUT kind text,
                      OUT action text,
                      OUT measure text,
                      OUT since text,
                      OUT sqlstate text,
                      OUT default_setting text,
                      OUT rules_setting text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_kinds_sql'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE VIEW @extschema@.kinds AS
    SELECT k.kind, k.action, k.measure, k.since, k.sqlstate,
           k.default_setting, k.rules_setting
      FROM @extschema@.kinds() k;

COMMENT ON VIEW @extschema@.kinds IS
'every kind of limit leakguard knows, one row each: what it does (terminate, cancel, refuse, warn), what its limit measures (duration, transactions, connections), what it counts from, the SQLSTATE the client gets, and its settings';

GRANT SELECT ON @extschema@.kinds TO PUBLIC;

COMMENT ON COLUMN @extschema@.kinds.kind IS 'its name, as terminations.kind, stats_by_kind.kind, leak_sources.kind and suggest_limits().kind give it';
COMMENT ON COLUMN @extschema@.kinds.action IS 'terminate (the session), cancel (its statement), refuse (the connection) or warn (a WARNING in the log)';
COMMENT ON COLUMN @extschema@.kinds.measure IS 'duration, transactions (an age in transaction IDs) or connections';
COMMENT ON COLUMN @extschema@.kinds.since IS 'what the limit counts from: state_change, xact_start, query_start, waitstart (of the session it blocks), login or prepared';
COMMENT ON COLUMN @extschema@.kinds.sqlstate IS 'the SQLSTATE of the error the client gets; for warn, of the WARNING';
COMMENT ON COLUMN @extschema@.kinds.default_setting IS 'the setting of its limit for applications no rule names; NULL: none';
COMMENT ON COLUMN @extschema@.kinds.rules_setting IS 'the setting of its rules per application; NULL: none';

CREATE FUNCTION @extschema@.stats_by_kind(OUT application_name text,
                              OUT kind text,
                              OUT terminated bigint,
                              OUT dry_run bigint,
                              OUT episodes bigint,
                              OUT p50 interval,
                              OUT p99 interval,
                              OUT max interval,
                              OUT last_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_stats_by_kind_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.stats_by_kind AS
    SELECT s.application_name, s.kind, s.terminated, s.dry_run, s.episodes,
           s.p50, s.p99, s.max, s.last_at
      FROM @extschema@.stats_by_kind() s;

COMMENT ON VIEW @extschema@.stats_by_kind IS
'a row per application and kind of limit with any activity: sessions acted on (terminated; for a cancel kind, statements cancelled; for connections, refused), those only reported in dry_run, and for the kinds whose periods are measured (idle in transaction, idle, transaction, statement) how many ended and how long they lasted';

GRANT SELECT ON @extschema@.stats_by_kind TO PUBLIC;

COMMENT ON COLUMN @extschema@.stats_by_kind.application_name IS 'the application, as stats shows it';
COMMENT ON COLUMN @extschema@.stats_by_kind.kind IS 'a kind of leakguard.kinds';
COMMENT ON COLUMN @extschema@.stats_by_kind.terminated IS 'acted on in enforce mode: sessions terminated, statements cancelled, connections refused';
COMMENT ON COLUMN @extschema@.stats_by_kind.dry_run IS 'those only reported, in dry_run';
COMMENT ON COLUMN @extschema@.stats_by_kind.episodes IS 'periods of this kind that ended (the histogram suggest_limits() reads); NULL for a kind whose periods are not measured';
COMMENT ON COLUMN @extschema@.stats_by_kind.p50 IS 'their median duration, from the histogram (within 12.5 %)';
COMMENT ON COLUMN @extschema@.stats_by_kind.p99 IS 'their 99th percentile';
COMMENT ON COLUMN @extschema@.stats_by_kind.max IS 'the longest (the top of its histogram bucket)';
COMMENT ON COLUMN @extschema@.stats_by_kind.last_at IS 'the latest act or dry run of this kind; NULL: none since statistics began, or none recorded by 1.2, which kept no time per kind';

CREATE FUNCTION @extschema@.limits_for(application_name text,
                           usename name DEFAULT NULL,
                           datname name DEFAULT NULL,
                           OUT kind text,
                           OUT rule text,
                           OUT limit_text text,
                           OUT limit_value bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_limits_for_sql'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.limits_for(text, name, name) IS
'a row per kind of limit with a setting: the rule that matches a session of an application_name (and, for rules qualified by them, of a login role and a database; NULL: not given, and such a rule does not apply) and its limit, as a person writes it ("5s", "100000 transactions", "20 connections"; 0: none) and as a number (ms, transactions or connections); rule NULL: none matches, the default applies';

-- Functions whose result columns change are made again (status(),
-- sessions(), stats()); the privileges a DBA set on them are kept here and
-- given to the new ones below, as leakguard--1.1--1.2.sql does.  status():
-- a view a DBA built that calls it makes the update fail; the views
-- sessions and stats keep their privileges and dependents: they are
-- switched to the new functions, which then take the old names.
SELECT pg_catalog.set_config('leakguard_update.' OPERATOR(pg_catalog.||) p.proname OPERATOR(pg_catalog.||) '_acl',
           coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::pg_catalog.text, true),
       pg_catalog.set_config('leakguard_update.' OPERATOR(pg_catalog.||) p.proname OPERATOR(pg_catalog.||) '_owner',
           p.proowner::pg_catalog.text, true)
  FROM pg_catalog.pg_proc p
 WHERE p.oid OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@.sessions()'::pg_catalog.regprocedure,
                                               '@extschema@.stats()'::pg_catalog.regprocedure,
                                               '@extschema@.status()'::pg_catalog.regprocedure,
                                               '@extschema@.limit_for(pg_catalog.text, pg_catalog.name, pg_catalog.name)'::pg_catalog.regprocedure]::pg_catalog.oid[]);

-- limit_for() gains the statement limit's rule and limit, the columns of
-- the kind 1.3 adds (limits_for() has every kind, a row each).  A view a
-- DBA built that calls limit_for() makes the update fail.
DROP FUNCTION @extschema@.limit_for(pg_catalog.text, pg_catalog.name, pg_catalog.name);

CREATE FUNCTION @extschema@.limit_for(application_name text,
                          usename name DEFAULT NULL,
                          datname name DEFAULT NULL,
                          OUT rule text,
                          OUT timeout interval,
                          OUT idle_rule text,
                          OUT idle_timeout interval,
                          OUT connection_rule text,
                          OUT connection_limit integer,
                          OUT transaction_rule text,
                          OUT transaction_timeout interval,
                          OUT xmin_rule text,
                          OUT xmin_age_limit bigint,
                          OUT blocking_rule text,
                          OUT blocking_timeout interval,
                          OUT statement_rule text,
                          OUT statement_timeout interval)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_limit_for_sql'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.limit_for(text, name, name) IS
'the rules that match a session of an application_name (and, for rules qualified by them, of a login role and a database) and its limits: idle in transaction, idle, connections, transaction age, xmin age in transactions, blocking, and statement (a rule NULL: none matches, the default applies; a limit 0: none); limits_for() gives the same, a row per kind';

CREATE FUNCTION @extschema@.sessions_1_3(OUT pid integer,
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
                         OUT blocking integer,
                         OUT next_kind text,
                         OUT next_rule text,
                         OUT next_limit text,
                         OUT next_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_sessions_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.stats_1_3(OUT application_name text,
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
                      OUT xmin_dry_run bigint,
                      OUT terminated_all bigint,
                      OUT dry_run_all bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_stats_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE OR REPLACE VIEW @extschema@.sessions AS
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
           s.blocking,
           s.next_kind,
           s.next_rule,
           s.next_limit,
           s.next_at
      FROM @extschema@.sessions_1_3() s
      LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.datid
      LEFT JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) s.usesysid;

CREATE OR REPLACE VIEW @extschema@.stats AS
    SELECT * FROM @extschema@.stats_1_3() s;

DROP FUNCTION @extschema@.sessions();
DROP FUNCTION @extschema@.stats();
ALTER FUNCTION @extschema@.sessions_1_3() RENAME TO sessions;
ALTER FUNCTION @extschema@.stats_1_3() RENAME TO stats;

COMMENT ON VIEW @extschema@.sessions IS
'every client backend now, with the rule and timeout of its idle limit in its current state, when it will be terminated for it, or why never; and the earliest deadline of any kind of limit that applies to it now';

COMMENT ON COLUMN @extschema@.sessions.exempt IS 'why no limit will act on it: no limit (no kind applies to it now with a limit), rule (its idle rule says 0 and no other kind applies), role (exempt_roles), superuser';
COMMENT ON COLUMN @extschema@.sessions.next_kind IS 'the kind of limit whose deadline comes first among those that apply to it now (leakguard.kinds); NULL: none, or hidden with the state';
COMMENT ON COLUMN @extschema@.sessions.next_rule IS 'the rule of that limit; NULL: the default setting';
COMMENT ON COLUMN @extschema@.sessions.next_limit IS 'that limit, as leakguard writes it (5 s, 10 min, 100000 transactions)';
COMMENT ON COLUMN @extschema@.sessions.next_at IS 'when it passes that limit (for xmin: now, once its age is past the limit; for blocking: from when the session it blocks began to wait), if nothing changes; NULL for a session exempt or hidden';

COMMENT ON COLUMN @extschema@.stats.terminated_all IS 'acted on for every kind of limit: sessions terminated, statements cancelled, connections refused';
COMMENT ON COLUMN @extschema@.stats.dry_run_all IS 'those only reported in dry_run, every kind';

-- status() gains policy, the leakguard settings every process applies (as
-- the worker judged and published them); stats_evicted, the statistics
-- entries that made room for a new application since the server started
-- (their counts went to the row "(other applications)"); and
-- sources_evicted, the leak sources pushed out of a full table.  Its result
-- columns change, so it is made again, carrying the privileges a DBA set
-- on it, as leakguard--1.1--1.2.sql does.  A view a DBA built that calls
-- status() makes the update fail.
DROP FUNCTION @extschema@.status();

CREATE FUNCTION @extschema@.status(OUT pid integer,
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
                       OUT oldest_prepared_at timestamptz,
                       OUT policy text,
                       OUT stats_evicted bigint,
                       OUT sources_evicted bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_status_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.status() IS
'the leakguard worker: pid, mode, scans, terminations, scan times in ms, rules, last configuration error; the prepared transactions: how many, and when the oldest was prepared; the policy in force, one line per leakguard setting as every process applies it; how many statistics rows made room for new applications since the server started; and how many leak sources a full table pushed out';

-- The kept privileges, given to each function made again: what the old one
-- granted and the new one does not is granted, what the new one grants and
-- the old one did not is revoked (the owner's own are left as they are).
DO $acl$
DECLARE
    f record;
    fn pg_catalog.oid;
    target pg_catalog.text;
    old_acl pg_catalog.aclitem[];
    old_owner pg_catalog.oid;
    new_acl pg_catalog.aclitem[];
    new_owner pg_catalog.oid;
    g record;
BEGIN
  FOR f IN SELECT v.fn::pg_catalog.regprocedure::pg_catalog.oid AS fn, v.setting
             FROM (VALUES ('@extschema@.sessions()', 'leakguard_update.sessions'),
                          ('@extschema@.stats()', 'leakguard_update.stats'),
                          ('@extschema@.status()', 'leakguard_update.status'),
                          ('@extschema@.limit_for(pg_catalog.text, pg_catalog.name, pg_catalog.name)', 'leakguard_update.limit_for')) v(fn, setting)
  LOOP
    fn := f.fn;
    target := pg_catalog.format('FUNCTION %s', fn::pg_catalog.regprocedure);
    old_acl := pg_catalog.current_setting(f.setting OPERATOR(pg_catalog.||) '_acl')::pg_catalog.aclitem[];
    old_owner := pg_catalog.current_setting(f.setting OPERATOR(pg_catalog.||) '_owner')::pg_catalog.oid;
    SELECT p.proowner, coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))
      INTO new_owner, new_acl
      FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) fn;

    FOR g IN SELECT a.grantee
               FROM pg_catalog.aclexplode(new_acl) a
              WHERE a.grantee OPERATOR(pg_catalog.<>) new_owner
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(old_acl) b
                                 WHERE b.grantee OPERATOR(pg_catalog.=) a.grantee)
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON %s FROM %s', target,
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                       THEN 'PUBLIC'
                                       ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END);
    END LOOP;

    FOR g IN SELECT b.grantee, b.is_grantable
               FROM pg_catalog.aclexplode(old_acl) b
              WHERE b.grantee OPERATOR(pg_catalog.<>) old_owner
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(new_acl) a
                                 WHERE a.grantee OPERATOR(pg_catalog.=) b.grantee
                                   AND (a.is_grantable OR NOT b.is_grantable))
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON %s TO %s%s', target,
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                       THEN 'PUBLIC'
                                       ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
  END LOOP;
END
$acl$;
