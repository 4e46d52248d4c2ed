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

-- Functions whose arguments or result columns change cannot be changed in
-- place: they are made again (limit_for(), status(), and sessions(),
-- stats() and terminations(), whose views gain columns).  The privileges on the old
-- ones, as a DBA may have changed them, are kept here and given to the new
-- ones at the end of this script.
SELECT pg_catalog.set_config('leakguard_update.' OPERATOR(pg_catalog.||) p.proname OPERATOR(pg_catalog.||) '_acl',
           coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))::pg_catalog.text, true),
       pg_catalog.set_config('leakguard_update.' OPERATOR(pg_catalog.||) p.proname OPERATOR(pg_catalog.||) '_owner',
           p.proowner::pg_catalog.text, true)
  FROM pg_catalog.pg_proc p
 WHERE p.oid OPERATOR(pg_catalog.=) ANY (ARRAY['@extschema@.limit_for(pg_catalog.text)'::pg_catalog.regprocedure,
                                               '@extschema@.sessions()'::pg_catalog.regprocedure,
                                               '@extschema@.stats()'::pg_catalog.regprocedure,
                                               '@extschema@.terminations()'::pg_catalog.regprocedure,
                                               '@extschema@.status()'::pg_catalog.regprocedure]::pg_catalog.oid[]);

-- A view keeps its privileges and dependents when its function is made
-- again under a new name, the view switched to it, the old function
-- dropped and the new one renamed: the view refers to the function, not
-- to its name.
CREATE FUNCTION @extschema@.sessions_1_2(OUT pid integer,
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

CREATE FUNCTION @extschema@.stats_1_2(OUT application_name text,
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

CREATE FUNCTION @extschema@.terminations_1_2(OUT terminated_at timestamptz,
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
           s.idle,
           s.xmin_age,
           s.blocking
      FROM @extschema@.sessions_1_2() s
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
           t.kind,
           t.blocked_pids,
           t.xmin_age
      FROM @extschema@.terminations_1_2() t
      LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) t.datid
      LEFT JOIN pg_catalog.pg_roles u ON u.oid OPERATOR(pg_catalog.=) t.usesysid;

CREATE OR REPLACE VIEW @extschema@.stats AS
    SELECT * FROM @extschema@.stats_1_2() s;

DROP FUNCTION @extschema@.sessions();
DROP FUNCTION @extschema@.stats();
DROP FUNCTION @extschema@.terminations();
ALTER FUNCTION @extschema@.sessions_1_2() RENAME TO sessions;
ALTER FUNCTION @extschema@.stats_1_2() RENAME TO stats;
ALTER FUNCTION @extschema@.terminations_1_2() RENAME TO terminations;

-- limit_for() takes the login role and the database a rule qualified by
-- them needs, both optional.  A view a DBA built that calls limit_for()
-- makes the update fail: drop it before and make it again after (README,
-- "Upgrading").

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

-- status() gains the count of prepared transactions and the oldest one's
-- time.  A view a DBA built that calls status() makes the update fail, as
-- for limit_for().

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
                       OUT oldest_prepared_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'lg_status_sql'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION @extschema@.status() IS
'the leakguard worker: pid, mode, scans, terminations, scan times in ms, rules, last configuration error; and the prepared transactions: how many, and when the oldest was prepared';

-- The kept privileges, given to each function made again: what the old one
-- granted and the new one does not is granted, what the new one grants and
-- the old one did not is revoked (each owner's own are left as they are).
-- Made by this script, these grants become the functions' initial
-- privileges (pg_init_privs), which pg_dump does not dump: after a restore
-- the functions have the default privileges again (README, "Upgrading").
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
             FROM (VALUES ('@extschema@.limit_for(pg_catalog.text, pg_catalog.name, pg_catalog.name)', 'leakguard_update.limit_for'),
                          ('@extschema@.sessions()', 'leakguard_update.sessions'),
                          ('@extschema@.stats()', 'leakguard_update.stats'),
                          ('@extschema@.terminations()', 'leakguard_update.terminations'),
                          ('@extschema@.status()', 'leakguard_update.status')) v(fn, setting)
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
