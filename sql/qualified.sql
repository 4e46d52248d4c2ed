-- 1.2: rules qualified by role ("user ROLE") and database ("database DB"),
-- as limit_for() reports them.  test/regress.conf ends
-- application_timeouts with
--   qapp user qrole database qdb = 5s, qapp user qrole = 3s,
--   qapp database qdb = 4s, * user qrole = 6s
-- and has, before *=50 in application_connection_limits,
--   billing user billing_rw = 20, billing database "bill db" = 5%

-- a qualified rule applies only when every part it names is given and
-- matches; first match still wins
SELECT v.usename, v.datname, l.rule, l.timeout
  FROM (VALUES (NULL, NULL), ('qrole', NULL), (NULL, 'qdb'), ('qrole', 'qdb'),
               ('other', 'qdb'), ('qrole', 'otherdb'), ('other', 'otherdb'))
         AS v(usename, datname),
       leakguard.limit_for('qapp', v.usename::name, v.datname::name) AS l
 ORDER BY v.usename COLLATE "C" NULLS FIRST, v.datname COLLATE "C" NULLS FIRST;

-- any application of role qrole, as long as no earlier rule matches it
SELECT rule, timeout FROM leakguard.limit_for('webshop', 'qrole');
SELECT rule, timeout FROM leakguard.limit_for('psql', 'qrole');

-- the arguments can be named, and left out
SELECT rule, timeout FROM leakguard.limit_for('qapp', datname => 'qdb');
SELECT rule, timeout FROM leakguard.limit_for(application_name => 'qapp', usename => 'qrole');

-- quotas: per role, per database (a percentage of max_connections), or
-- the default for everyone else
SELECT v.usename, v.datname, l.connection_rule, l.connection_limit
  FROM (VALUES ('billing_rw', NULL), ('intruder', NULL), (NULL, 'bill db'),
               ('intruder', 'bill db'), (NULL, NULL)) AS v(usename, datname),
       leakguard.limit_for('billing', v.usename::name, v.datname::name) AS l
 ORDER BY v.usename COLLATE "C" NULLS FIRST, v.datname COLLATE "C" NULLS FIRST;

-- 1.1 settings keep their meaning: for every name of the 1.1 tests, the
-- answer is the same whatever role and database are given (none of those
-- rules is qualified), and the same as without them
SELECT bool_and(a IS NOT DISTINCT FROM b AND a IS NOT DISTINCT FROM c) AS unchanged
  FROM (VALUES ('batch-import'), ('batch-nightly'), ('my app'), ('my app2'),
               ('a,b=c'), ('say "hi"'), (''), ('job42'), ('job4'), ('job423'),
               ('pg_dump'), ('nightly-cron-job'), ('webshop'), ('unknown'),
               ('route_builder'), ('test-suite-7'), ('pgbouncer-10.0.0.1'),
               ('tiny-1'), ('zero-1'), ('anything')) AS t(name),
       LATERAL (SELECT leakguard.limit_for(name) AS a,
                       leakguard.limit_for(name, 'someone', 'somedb') AS b,
                       leakguard.limit_for(name, NULL, NULL) AS c) x;

-- bad qualifiers are refused, naming the rule and the position
\set VERBOSITY default
ALTER SYSTEM SET leakguard.application_timeouts = 'a user = 5s';
ALTER SYSTEM SET leakguard.application_timeouts = 'a user u user v = 5s';
ALTER SYSTEM SET leakguard.application_idle_timeouts = 'a user u x = 5s';
ALTER SYSTEM SET leakguard.application_connection_limits = 'a databse d = 5';
ALTER SYSTEM SET leakguard.application_connection_limits = 'a database "d = 5';
SELECT pg_read_file('postgresql.auto.conf') LIKE '%leakguard%' AS written;
