-- leakguard.limit_for(): which rule applies to an application_name.
-- The rules come from test/regress.conf:
--   batch-*=10min, "my app"=30s, "a,b=c"=5s, "say ""hi"""=7 s, ""=2h,
--   job??=1d, pg_dump=0, batch-nightly=1s, *cron*=250, web* = 1 min
-- and leakguard.idle_in_transaction_timeout = 60s.
CREATE EXTENSION leakguard;

SELECT name, l.rule, l.timeout
  FROM (VALUES ('batch-import'),      -- glob *
               ('batch-nightly'),     -- first match wins over a later exact rule
               ('my app'),            -- quoted name with a space
               ('my app2'),           -- no glob in that rule: no match
               ('a,b=c'),             -- quoted comma and equals sign
               ('say "hi"'),          -- doubled quote inside quotes
               (''),                  -- "" is the empty name
               ('job42'),             -- ? matches one character
               ('job4'),              -- ... exactly one
               ('job423'),
               ('pg_dump'),           -- 0 exempts
               ('nightly-cron-job'),  -- *x* and a bare number of ms
               ('webshop'),           -- spaces around = and a unit
               ('unknown')) AS t(name),
       leakguard.limit_for(name) AS l
 ORDER BY name COLLATE "C";

-- NULL in, NULL out
SELECT * FROM leakguard.limit_for(NULL);

-- names are matched as the server stores them: at most 63 bytes, so the
-- "cron" past byte 63 does not count
SELECT rule, timeout FROM leakguard.limit_for(repeat('a', 70) || 'cron');
SELECT rule, timeout FROM leakguard.limit_for(repeat('a', 59) || 'cron');

-- Citus is not loaded here: the names of its internal connections are
-- ordinary names, under the default and the '*' rules like any other
SELECT name, l.rule, l.timeout, l.idle_timeout, l.connection_rule, l.connection_limit
  FROM (VALUES ('citus_internal gpid=10000012345'),
               ('citus_rebalancer gpid=10000012345'),
               ('citus_run_command gpid=10000012345')) AS t(name),
       leakguard.limit_for(name) AS l
 ORDER BY name COLLATE "C";
