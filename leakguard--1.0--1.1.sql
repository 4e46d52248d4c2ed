/* leakguard--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION leakguard UPDATE TO '1.1'" to load this file. \quit

-- 1.1: idle-session limits and connection quotas.  Functions whose result
-- gains columns are dropped and created again, and with them the views
-- over them; every definition below is the one leakguard--1.1.sql makes, so
-- an updated installation and a fresh one are the same.  The views are
-- made again in any case: a 1.0 installed before its install script was
-- hardened has a connections view bound to whatever operators its schema
-- held, and this replaces it with one bound to pg_catalog.  Privileges a
-- DBA granted or revoked on what is dropped are carried over to what
-- replaces it (the end of this script); a view a DBA built on leakguard's
-- views makes the update fail, and must be dropped before it and made
-- again after it (README, "Upgrading").
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

-- The privileges on what is dropped below, as a DBA may have changed them
-- (a REVOKE from PUBLIC, a GRANT to a monitoring role), are kept for the
-- end of this script, which gives them to the objects that replace these.
SELECT pg_catalog.set_config('leakguard_update.acls', pg_catalog.jsonb_agg(o.acl)::pg_catalog.text, true)
  FROM (SELECT pg_catalog.jsonb_build_array('TABLE', c.relname, c.relowner,
                   coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))::pg_catalog.text) AS acl
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace OPERATOR(pg_catalog.=) pg_catalog.to_regnamespace('@extschema@')
           AND c.relname OPERATOR(pg_catalog.=) ANY ('{connections,sessions,stats,terminations}'::pg_catalog.name[])
        UNION ALL
        SELECT pg_catalog.jsonb_build_array('FUNCTION', p.proname, p.proowner,
                   coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::pg_catalog.text)
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace OPERATOR(pg_catalog.=) pg_catalog.to_regnamespace('@extschema@')
           AND p.proname OPERATOR(pg_catalog.=) ANY ('{sessions,stats,terminations,limit_for}'::pg_catalog.name[])) o;

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

-- The privileges kept at the start, given to the objects that replace
-- those dropped: what the old object granted and the new one does not is
-- granted, what the new one grants and the old one did not is revoked (the
-- owner's own privileges are left as they are).  PostgreSQL records every
-- change of privileges made by an extension script as the object's initial
-- privileges (pg_init_privs), which pg_dump leaves out; the DBA's changes
-- are not the extension's, so the initial privileges are set back to what
-- this script made, and pg_dump goes on dumping the DBA's changes.
DO $acl$
DECLARE
    nsp pg_catalog.oid := pg_catalog.to_regnamespace('@extschema@');
    o record;
    g record;
    obj pg_catalog.oid;
    cls pg_catalog.oid;
    obj_owner pg_catalog.oid;
    new_acl pg_catalog.aclitem[];
    old_acl pg_catalog.aclitem[];
    target pg_catalog.text;
    init pg_catalog.aclitem[];
    changed pg_catalog.bool;
BEGIN
    FOR o IN SELECT x OPERATOR(pg_catalog.->>) 0 AS kind,
                    x OPERATOR(pg_catalog.->>) 1 AS name,
                    (x OPERATOR(pg_catalog.->>) 2)::pg_catalog.oid AS old_owner,
                    (x OPERATOR(pg_catalog.->>) 3)::pg_catalog.aclitem[] AS old_acl
               FROM pg_catalog.jsonb_array_elements(
                        pg_catalog.current_setting('leakguard_update.acls')::pg_catalog.jsonb) x
    LOOP
        IF o.kind OPERATOR(pg_catalog.=) 'TABLE' THEN
            cls := 'pg_catalog.pg_class'::pg_catalog.regclass;
            SELECT c.oid, c.relowner, coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner)),
                   pg_catalog.format('TABLE %I.%I', n.nspname, c.relname)
              INTO obj, obj_owner, new_acl, target
              FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
             WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
               AND c.relname OPERATOR(pg_catalog.=) o.name;
        ELSE
            cls := 'pg_catalog.pg_proc'::pg_catalog.regclass;
            SELECT p.oid, p.proowner, coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)),
                   pg_catalog.format('FUNCTION %I.%I(%s)', n.nspname, p.proname,
                                     pg_catalog.pg_get_function_identity_arguments(p.oid))
              INTO obj, obj_owner, new_acl, target
              FROM pg_catalog.pg_proc p
              JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
             WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp
               AND p.proname OPERATOR(pg_catalog.=) o.name;
        END IF;
        old_acl := o.old_acl;
        SELECT i.initprivs INTO init
          FROM pg_catalog.pg_init_privs i
         WHERE i.objoid OPERATOR(pg_catalog.=) obj
           AND i.classoid OPERATOR(pg_catalog.=) cls
           AND i.objsubid OPERATOR(pg_catalog.=) 0;
        changed := false;

        FOR g IN SELECT a.grantee, a.privilege_type
                   FROM pg_catalog.aclexplode(new_acl) a
                  WHERE a.grantee OPERATOR(pg_catalog.<>) obj_owner
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(old_acl) b
                                     WHERE b.grantee OPERATOR(pg_catalog.=) a.grantee
                                       AND b.privilege_type OPERATOR(pg_catalog.=) a.privilege_type)
        LOOP
            EXECUTE pg_catalog.format('REVOKE %s ON %s FROM %s', g.privilege_type, target,
                                      CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                           THEN 'PUBLIC'
                                           ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END);
            changed := true;
        END LOOP;

        FOR g IN SELECT b.grantee, b.privilege_type, b.is_grantable
                   FROM pg_catalog.aclexplode(old_acl) b
                  WHERE b.grantee OPERATOR(pg_catalog.<>) o.old_owner
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(new_acl) a
                                     WHERE a.grantee OPERATOR(pg_catalog.=) b.grantee
                                       AND a.privilege_type OPERATOR(pg_catalog.=) b.privilege_type
                                       AND (a.is_grantable OR NOT b.is_grantable))
        LOOP
            EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', g.privilege_type, target,
                                      CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid
                                           THEN 'PUBLIC'
                                           ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
                                      CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
            changed := true;
        END LOOP;

        IF changed AND init IS NULL THEN
            DELETE FROM pg_catalog.pg_init_privs i
             WHERE i.objoid OPERATOR(pg_catalog.=) obj
               AND i.classoid OPERATOR(pg_catalog.=) cls
               AND i.objsubid OPERATOR(pg_catalog.=) 0;
        ELSIF changed THEN
            UPDATE pg_catalog.pg_init_privs i SET initprivs = init
             WHERE i.objoid OPERATOR(pg_catalog.=) obj
               AND i.classoid OPERATOR(pg_catalog.=) cls
               AND i.objsubid OPERATOR(pg_catalog.=) 0;
        END IF;
    END LOOP;
END
$acl$;
