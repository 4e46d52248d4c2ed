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
