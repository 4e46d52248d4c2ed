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
           coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::pg_catalog.text, true)
  FROM pg_catalog.pg_proc p
 WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.limit_for(pg_catalog.text)'::pg_catalog.regprocedure;

DROP FUNCTION @extschema@.limit_for(pg_catalog.text);

CREATE FUNCTION @extschema@.limit_for(application_name text,
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

COMMENT ON FUNCTION @extschema@.limit_for(text, name, name) IS
'the rules that match a session of an application_name (and, for rules qualified by them, of a login role and a database) and its limits: idle in transaction, idle, connections, transaction age, xmin age in transactions, and blocking (a rule NULL: none matches, the default applies; a limit 0: none)';

-- The kept privileges, given to the new limit_for(): what the old one
-- granted and the new one does not is granted, what the new one grants and
-- the old one did not is revoked (the owner's own are left as they are).
-- PostgreSQL records a change of privileges made by an extension script as
-- the object's initial privileges (pg_init_privs), which pg_dump leaves
-- out; the DBA's changes are not the extension's, so the initial privileges
-- are set back to what this script made, and pg_dump goes on dumping them.
DO $acl$
DECLARE
    fn pg_catalog.oid := '@extschema@.limit_for(pg_catalog.text, pg_catalog.name, pg_catalog.name)'::pg_catalog.regprocedure;
    target pg_catalog.text := pg_catalog.format('FUNCTION %s', fn::pg_catalog.regprocedure);
    old_acl pg_catalog.aclitem[] := pg_catalog.current_setting('leakguard_update.limit_for_acl')::pg_catalog.aclitem[];
    new_acl pg_catalog.aclitem[];
    fn_owner pg_catalog.oid;
    init pg_catalog.aclitem[];
    changed pg_catalog.bool := false;
    g record;
BEGIN
    SELECT p.proowner, coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))
      INTO fn_owner, new_acl
      FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) fn;
    SELECT i.initprivs INTO init
      FROM pg_catalog.pg_init_privs i
     WHERE i.objoid OPERATOR(pg_catalog.=) fn
       AND i.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND i.objsubid OPERATOR(pg_catalog.=) 0;

    FOR g IN SELECT a.grantee
               FROM pg_catalog.aclexplode(new_acl) a
              WHERE a.grantee OPERATOR(pg_catalog.<>) fn_owner
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(old_acl) b
                                 WHERE b.grantee OPERATOR(pg_catalog.=) a.grantee)
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON %s FROM %s', target,
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                       THEN 'PUBLIC'
                                       ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END);
        changed := true;
    END LOOP;

    FOR g IN SELECT b.grantee, b.is_grantable
               FROM pg_catalog.aclexplode(old_acl) b
              WHERE b.grantee OPERATOR(pg_catalog.<>) fn_owner
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(new_acl) a
                                 WHERE a.grantee OPERATOR(pg_catalog.=) b.grantee
                                   AND (a.is_grantable OR NOT b.is_grantable))
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON %s TO %s%s', target,
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                       THEN 'PUBLIC'
                                       ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        changed := true;
    END LOOP;

    IF changed AND init IS NULL THEN
        DELETE FROM pg_catalog.pg_init_privs i
         WHERE i.objoid OPERATOR(pg_catalog.=) fn
           AND i.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND i.objsubid OPERATOR(pg_catalog.=) 0;
    ELSIF changed THEN
        UPDATE pg_catalog.pg_init_privs i SET initprivs = init
         WHERE i.objoid OPERATOR(pg_catalog.=) fn
           AND i.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND i.objsubid OPERATOR(pg_catalog.=) 0;
    END IF;
END
$acl$;
