/* leakguard--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION leakguard UPDATE TO '1.2'" to load this file. \quit

-- 1.2 changes objects in place, never by dropping them: a view keeps its
-- columns (CREATE OR REPLACE VIEW may only append), so the privileges a DBA
-- granted or revoked on it, and the views a DBA built on it, survive the
-- update.  Every definition below is the one leakguard--1.2.sql makes, so
-- an updated installation and a fresh one are the same.
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

-- Role names come from pg_roles, the view every role may read, rather than
-- from pg_authid, which holds password hashes.
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
           s.idle
      FROM @extschema@.sessions() s
      LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.datid
      LEFT JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) s.usesysid;

CREATE OR REPLACE VIEW @extschema@.terminations AS
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
      LEFT JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) t.usesysid;
