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

-- status() gains sources_evicted: the leak sources pushed out of a full
-- table.  Its result columns change, so it is made again; the privileges
-- a DBA set on it are kept and given to the new one, as
-- leakguard--1.1--1.2.sql does.  A view a DBA built that calls status()
-- makes the update fail.
SELECT pg_catalog.set_config('leakguard_update.status_acl',
           coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::pg_catalog.text, true),
       pg_catalog.set_config('leakguard_update.status_owner',
           p.proowner::pg_catalog.text, true)
  FROM pg_catalog.pg_proc p
 WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.status()'::pg_catalog.regprocedure;

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
                       OUT sources_evicted bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_status_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.status() IS
'the leakguard worker: pid, mode, scans, terminations, scan times in ms, rules, last configuration error; the prepared transactions: how many, and when the oldest was prepared; and how many leak sources a full table pushed out';

-- The kept privileges: what the old status() granted and the new one does
-- not is granted, what the new one grants and the old one did not is
-- revoked (each owner's own are left as they are).
DO $acl$
DECLARE
    fn pg_catalog.oid := '@extschema@.status()'::pg_catalog.regprocedure::pg_catalog.oid;
    target pg_catalog.text := pg_catalog.format('FUNCTION %s', '@extschema@.status()'::pg_catalog.regprocedure);
    old_acl pg_catalog.aclitem[] := pg_catalog.current_setting('leakguard_update.status_acl')::pg_catalog.aclitem[];
    old_owner pg_catalog.oid := pg_catalog.current_setting('leakguard_update.status_owner')::pg_catalog.oid;
    new_acl pg_catalog.aclitem[];
    new_owner pg_catalog.oid;
    g record;
BEGIN
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
END
$acl$;
