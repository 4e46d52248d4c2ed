/* leakguard--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION leakguard UPDATE TO '1.2'" to load this file. \quit

-- 1.2 changes views in place, never by dropping them: a view keeps its
-- columns (CREATE OR REPLACE VIEW may only append), so the privileges a DBA
-- granted or revoked on it, and the views a DBA built on it, survive the
-- update.  A function whose arguments change cannot be changed in place:
-- it is dropped and made again, and the privileges a DBA granted or revoked
-- on it are given to the new one (the end of this script).  Every
-- definition below is the one leakguard--1.2.sql makes, so an updated
-- installation and a fresh one are the same.
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

-- limit_for() takes the login role and the database a rule qualified by
-- them needs, both optional.  The privileges on the old function, as a DBA
-- may have changed them, are kept here and given to the new one below.  A
-- view a DBA built that calls limit_for() makes the update fail: drop it
-- before and make it again after (README, "Upgrading").
SELECT pg_catalog.set_config('leakguard_update.limit_for_acl',
           coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::pg_catalog.text, true),
       pg_catalog.set_config('leakguard_update.limit_for_owner', p.proowner::pg_catalog.text, true)
  FROM pg_catalog.pg_proc p
 WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.limit_for(pg_catalog.text)'::pg_catalog.regprocedure;

DROP FUNCTION @extschema@.limit_for(pg_catalog.text);

CREATE FUNCTION @extschema@.limit_for(application_name text,
                          usename name DEFAULT NULL,
                          datname name DEFAULT NULL,
                          OUT rule text, OUT timeout interval,
                          OUT idle_rule text, OUT idle_timeout interval,
                          OUT connection_rule text, OUT connection_limit integer)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_limit_for_sql'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.limit_for(text, name, name) IS
'the rules that match a session of an application_name (and, for rules qualified by them, of a login role and a database) and its limits: idle in transaction, idle, and connections (a rule NULL: none matches, the default applies; a limit 0: none)';

-- The kept privileges, given to the new limit_for(): what the old one
-- granted and the new one does not is granted, what the new one grants and
-- the old one did not is revoked (each owner's own are left as they are).
-- Made by this script, these grants become the function's initial
-- privileges (pg_init_privs), which pg_dump does not dump: after a restore
-- the function has the default privileges again (README, "Upgrading").
-- Every name limit_for() shows is also visible to all through SHOW.
DO $acl$
DECLARE
    fn pg_catalog.oid := '@extschema@.limit_for(pg_catalog.text, pg_catalog.name, pg_catalog.name)'::pg_catalog.regprocedure;
    target pg_catalog.text := pg_catalog.format('FUNCTION %s', fn::pg_catalog.regprocedure);
    old_acl pg_catalog.aclitem[] := pg_catalog.current_setting('leakguard_update.limit_for_acl')::pg_catalog.aclitem[];
    old_owner pg_catalog.oid := pg_catalog.current_setting('leakguard_update.limit_for_owner')::pg_catalog.oid;
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

-- What limit to set (1.2): new functions, nothing to keep from 1.1.
CREATE FUNCTION @extschema@.suggest_limits(percentile float8 DEFAULT 99.9,
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

COMMENT ON FUNCTION @extschema@.suggest_limits(float8, float8) IS
'per application (and, with application_name NULL, for the default) and kind of limit: what was observed, the limit in force, the suggested limit (the percentile times the headroom, rounded up; connections: the peak of the last 7 days times the headroom) and how many observed episodes it would have ended';

CREATE FUNCTION @extschema@.suggested_settings(percentile float8 DEFAULT 99.9,
                                   headroom float8 DEFAULT 2.0,
                                   OUT name text,
                                   OUT setting text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'lg_suggested_settings_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.suggested_settings(float8, float8) IS
'the rule settings with the suggested limits, ready for ALTER SYSTEM SET: exemptions and qualified rules kept first, then one rule per application, the default last';
